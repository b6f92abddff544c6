// The process side of `kernel: exec`: start a worker, frame requests and replies over its pipes,
// forward its stderr, and report its end (exit status, signal, stderr tail) in words.
#include "exec_worker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>

#include "mpipe/error.hpp"

namespace mpipe {

namespace {

constexpr std::size_t length_bytes = 8;   // the little-endian length before each frame
constexpr std::size_t tail_lines = 20;    // stderr lines kept for errors ...
constexpr std::size_t tail_bytes = 4096;  // ... and at most this many bytes of them
constexpr std::size_t max_line = 4096;    // a longer stderr line is split
constexpr int pipe_bytes = 1 << 20;       // asked for (best effort) on stdin and stdout
constexpr int exit_wait_ms = 1000;        // after EOF: how long the worker may take to exit
constexpr int close_wait_ms = 2000;       // in the destructor, before SIGKILL
constexpr auto stderr_wait = std::chrono::milliseconds(500);  // for the last stderr lines

std::string errno_text(int e) { return std::system_category().message(e); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// fd unless it is 0, 1 or 2 (a rank started with those closed), then a copy at 3 or above, so
// that posix_spawn's dup2 onto 0, 1 and 2 cannot overwrite one pipe with another.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

// Both ends close-on-exec: the worker gets only what posix_spawn dup2s onto 0, 1 and 2.
struct pipe_fds {
  int read = -1, write = -1;
  explicit pipe_fds(const std::string& label) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw error("exec " + label + ": pipe: " + errno_text(errno));
    read = above_stdio(fds[0]);
    write = above_stdio(fds[1]);
    if (read < 0 || write < 0) {
      const int e = errno;
      close_fd(read);
      close_fd(write);
      throw error("exec " + label + ": pipe: " + errno_text(e));
    }
  }
  pipe_fds(const pipe_fds&) = delete;
  pipe_fds& operator=(const pipe_fds&) = delete;
  ~pipe_fds() {
    close_fd(read);
    close_fd(write);
  }
};

std::string shown_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"") == std::string::npos;
    out += plain ? arg : "\"" + arg + "\"";
  }
  return out;
}

// The inherited environment with the command's variables added (replacing same-named ones).
std::vector<std::string> environment(const std::vector<std::pair<std::string, std::string>>& add) {
  std::vector<std::string> out;
  for (char** entry = environ; *entry; ++entry) {
    const std::string_view name = std::string_view(*entry).substr(0, std::strcspn(*entry, "="));
    const bool replaced =
        std::any_of(add.begin(), add.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced) out.emplace_back(*entry);
  }
  for (const auto& [name, value] : add) out.push_back(name + "=" + value);
  return out;
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the terminal is gone: nothing better to do with a worker's stderr
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A write to a pipe whose reader is gone raises SIGPIPE, which would end the whole MPI rank.
// Rather than ignoring SIGPIPE process-wide (a user's code in the same process may rely on it),
// it is blocked in this thread while a call writes, and one it raised is taken back before the
// mask is restored: the writes then just fail with EPIPE.
class sigpipe_guard {
 public:
  sigpipe_guard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    was_pending_ = pending();
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;
  ~sigpipe_guard() {
    if (!was_pending_ && pending()) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  bool pending() const {
    sigset_t set;
    sigpending(&set);
    return sigismember(&set, SIGPIPE) == 1;
  }
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

std::string describe_end(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return "exit status " + std::to_string(info.si_status);
  const char* name = sigdescr_np(info.si_status);
  std::string text = "killed by signal " + std::to_string(info.si_status);
  if (name) text += std::string(" (") + name + ")";
  if (info.si_code == CLD_DUMPED) text += ", core dumped";
  return text;
}

}  // namespace

// ---- stderr: one thread per worker, each line to fd 2 with one write, the tail kept ----

struct exec_worker::stderr_pump {
  stderr_pump(int fd, const std::string& label)
      : fd_(fd), stop_(label), prefix_("[" + label + "] "), thread_([this] { run(); }) {}
  stderr_pump(const stderr_pump&) = delete;
  stderr_pump& operator=(const stderr_pump&) = delete;
  // Takes what is already in the pipe (the worker is gone by now) and ends the thread.
  ~stderr_pump() {
    write_all(stop_.write, "x");
    thread_.join();
    close_fd(fd_);
  }
  // Whether the pipe reached EOF (every writer gone) within the time.
  bool wait_eof(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return eof_cv_.wait_for(lock, limit, [this] { return eof_; });
  }
  std::string tail() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const std::string& line : lines_) out += line + '\n';
    return out;
  }

 private:
  void run();
  bool wait_readable();
  void take(const char* data, std::size_t n);
  void emit(std::string_view line);

  int fd_;
  pipe_fds stop_;  // the destructor writes a byte: drain and end
  std::string prefix_, partial_;
  bool stopping_ = false;
  mutable std::mutex mutex_;
  std::condition_variable eof_cv_;
  bool eof_ = false;
  std::deque<std::string> lines_;
  std::size_t bytes_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

void exec_worker::stderr_pump::run() {
  sigset_t all;
  sigfillset(&all);  // signals go to the rank's own threads; a gone terminal gives EPIPE here
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  char buffer[16384];
  // Once stopping, a bounded number of reads: a stray writer (a child that left the worker's
  // process group and kept its stderr) cannot hold the destructor.
  for (int reads = 0; !stopping_ || reads < 256;) {
    if (!wait_readable()) break;
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n > 0) {
      take(buffer, static_cast<std::size_t>(n));
      reads += stopping_ ? 1 : 0;
      continue;
    }
    if (n < 0 && (errno == EINTR || (errno == EAGAIN && !stopping_))) continue;
    break;  // EOF (every writer gone), an error, or nothing more to drain
  }
  if (!partial_.empty()) emit(partial_);
  std::lock_guard lock(mutex_);
  eof_ = true;
  eof_cv_.notify_all();
}

// Until stderr is readable (or, once stopping, without waiting); false on a poll error.
bool exec_worker::stderr_pump::wait_readable() {
  if (stopping_) return true;
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_.read, POLLIN, 0}};
  while (::poll(fds, 2, -1) < 0) {
    if (errno != EINTR) return false;
  }
  stopping_ = fds[1].revents != 0;
  return true;
}

void exec_worker::stderr_pump::take(const char* data, std::size_t n) {
  partial_.append(data, n);
  std::size_t start = 0;
  for (std::size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1) {
    emit(std::string_view(partial_).substr(start, end - start));
  }
  partial_.erase(0, start);
  while (partial_.size() >= max_line) {
    emit(std::string_view(partial_).substr(0, max_line));
    partial_.erase(0, max_line);
  }
}

void exec_worker::stderr_pump::emit(std::string_view line) {
  write_all(2, prefix_ + std::string(line) + '\n');  // one write: lines of workers never mix
  std::lock_guard lock(mutex_);
  lines_.emplace_back(line);
  bytes_ += line.size() + 1;
  while (lines_.size() > tail_lines || (bytes_ > tail_bytes && lines_.size() > 1)) {
    bytes_ -= lines_.front().size() + 1;
    lines_.pop_front();
  }
}

// ---- one call: the request as iovecs over length prefixes and frames, the reply as it comes ----

struct exec_worker::exchange {
  explicit exchange(const std::vector<const byte_buffer*>& frames) : prefixes(8 * frames.size()) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const std::uint64_t size = frames[i] ? frames[i]->size() : 0;  // null: an empty frame
      for (std::size_t b = 0; b < length_bytes; ++b) {
        prefixes[8 * i + b] = static_cast<unsigned char>(size >> (8 * b));
      }
      iov.push_back({&prefixes[8 * i], length_bytes});
      iov.push_back({size ? const_cast<unsigned char*>(frames[i]->data()) : nullptr, size});
      total += length_bytes + size;
    }
  }
  bool sending() const { return next < iov.size(); }
  bool replied() const { return got_length == length_bytes && got == length; }
  int write_some(int fd);  // 0, or the errno of a failed write
  void advance(std::size_t n);

  std::vector<unsigned char> prefixes;
  std::vector<iovec> iov;
  std::size_t next = 0;  // the first iovec not written completely
  std::uint64_t sent = 0, total = 0;
  unsigned char length_le[length_bytes] = {};
  std::size_t got_length = 0;
  std::uint64_t length = 0, got = 0;
  bool too_long = false;  // the worker announced more than max_reply_bytes: it is out of step
};

int exec_worker::exchange::write_some(int fd) {
  while (sending()) {
    const int count = static_cast<int>(std::min<std::size_t>(iov.size() - next, 512));
    const ssize_t n = ::writev(fd, &iov[next], count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN ? 0 : errno;
    advance(static_cast<std::size_t>(n));
  }
  return 0;
}

void exec_worker::exchange::advance(std::size_t n) {
  sent += n;
  while (next < iov.size() && n >= iov[next].iov_len) n -= iov[next++].iov_len;
  if (n > 0) {
    iov[next].iov_base = static_cast<unsigned char*>(iov[next].iov_base) + n;
    iov[next].iov_len -= n;
  }
}

// ---- the worker ----

exec_worker::exec_worker(exec_command command)
    : command_(std::move(command)), shown_(shown_command(command_.argv)) {
  if (command_.label.empty()) command_.label = "worker";
  if (command_.argv.empty()) throw error("exec " + command_.label + ": no command to run");
  pipe_fds in(command_.label), out(command_.label), err(command_.label), wake(command_.label);
  fcntl(in.write, F_SETPIPE_SZ, pipe_bytes);  // fewer wake-ups per MiB; refused is fine
  fcntl(out.write, F_SETPIPE_SZ, pipe_bytes);
  spawn(in.read, out.write, err.write);
  for (int fd : {in.write, out.read, err.read, wake.read, wake.write}) set_nonblocking(fd);
  to_worker_ = std::exchange(in.write, -1);
  from_worker_ = std::exchange(out.read, -1);
  wake_read_ = std::exchange(wake.read, -1);
  wake_write_ = std::exchange(wake.write, -1);
  try {
    pump_ = std::make_unique<stderr_pump>(err.read, command_.label);
    err.read = -1;  // the pump's now
  } catch (...) {
    kill();
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    for (int* fd : {&to_worker_, &from_worker_, &wake_read_, &wake_write_}) close_fd(*fd);
    throw;
  }
}

void exec_worker::spawn(int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // fds MPI opened without CLOEXEC too
  if (!command_.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, command_.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: kill() reaches a wrapper's children
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);  // nothing ignored because mpipe ignores it

  std::vector<char*> argv;
  for (std::string& arg : command_.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text = environment(command_.env);
  std::vector<char*> envp;
  for (std::string& entry : env_text) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const int rc = posix_spawnp(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    const std::string where = command_.cwd.empty() ? "" : " in '" + command_.cwd + "'";
    throw error("exec " + command_.label + ": cannot start '" + shown_ + "'" + where + ": " +
                errno_text(rc));
  }
}

exec_worker::~exec_worker() {
  close_fd(to_worker_);  // EOF: the worker's cue to exit
  close_fd(from_worker_);
  if (!killed_) exit_status(close_wait_ms);
  ::kill(-pid_, SIGKILL);  // a late worker, and whatever else is left in its group
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pump_.reset();
  close_fd(wake_read_);
  close_fd(wake_write_);
}

void exec_worker::call(const std::vector<const byte_buffer*>& frames, byte_buffer& reply) {
  if (!broken_.empty()) throw error(broken_);
  reply.clear();
  exchange x(frames);
  std::string what;
  {
    sigpipe_guard guard;
    what = exchange_all(x, reply);
  }
  if (what.empty()) return;
  broken_ = fail_message(what, x.too_long);
  throw error(broken_);
}

// Writes the request and reads the reply at once until both are done; "" or what went wrong.
std::string exec_worker::exchange_all(exchange& x, byte_buffer& reply) {
  const auto request_state = [&x] {
    return x.sending() ? " after " + std::to_string(x.sent) + " of " + std::to_string(x.total) +
                             " request bytes"
                       : std::string();
  };
  while (x.sending() || !x.replied()) {
    pollfd fds[3] = {{x.sending() ? to_worker_ : -1, POLLOUT, 0},
                     {x.replied() ? -1 : from_worker_, POLLIN, 0},
                     {wake_read_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return "could not be waited for (poll: " + errno_text(errno) + ")";
    }
    if (killed_) return "was killed by mpipe (watchdog or abort)";
    if (fds[0].revents) {
      if (const int e = x.write_some(to_worker_)) {
        return "stopped reading its input" + request_state() + " (write: " + errno_text(e) + ")";
      }
    }
    if (fds[1].revents) {
      std::string what = read_reply(x, reply);
      if (!what.empty()) return what + request_state();
    }
  }
  return {};
}

// Reads what stdout holds now into the length, then the reply; "" or what went wrong.
std::string exec_worker::read_reply(exchange& x, byte_buffer& reply) {
  while (!x.replied()) {
    const bool in_length = x.got_length < length_bytes;
    unsigned char* into = in_length ? x.length_le + x.got_length : reply.data() + x.got;
    const std::uint64_t want = in_length ? length_bytes - x.got_length : x.length - x.got;
    const ssize_t n = ::read(from_worker_, into, std::min<std::uint64_t>(want, 1u << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return {};
    if (n < 0) return "could not be read from (read: " + errno_text(errno) + ")";
    if (n == 0 && x.got_length == 0) return "ended before replying";
    if (n == 0 && in_length) {
      return "sent " + std::to_string(x.got_length) +
             " of the 8 bytes of a reply length, then "
             "ended";
    }
    if (n == 0) {
      return "sent " + std::to_string(x.got) + " of " + std::to_string(x.length) +
             " reply bytes, then ended";
    }
    if (!in_length) {
      x.got += static_cast<std::uint64_t>(n);
      continue;
    }
    if ((x.got_length += static_cast<std::size_t>(n)) < length_bytes) continue;
    for (std::size_t b = 0; b < length_bytes; ++b)
      x.length |= std::uint64_t{x.length_le[b]} << (8 * b);
    if (x.length > command_.max_reply_bytes) {
      x.too_long = true;
      return "sent a reply length of " + std::to_string(x.length) + " bytes, over the limit of " +
             std::to_string(command_.max_reply_bytes) + " bytes (max_reply_bytes)";
    }
    reply.resize(x.length);
  }
  return {};
}

// The error for a failed call, with how the worker ended and its last stderr lines. The worker
// is stopped either way: it is out of step with mpipe (or already gone).
std::string exec_worker::fail_message(const std::string& what, bool still_running) {
  if (still_running) ::kill(-pid_, SIGKILL);
  std::string status = exit_status(exit_wait_ms);
  std::string said = what;
  if (killed_) {
    said = "was killed by mpipe (watchdog or abort)";
    status.clear();
  } else if (still_running) {
    status = "mpipe stopped it";
  } else if (status.empty()) {
    status = "still running; mpipe stopped it";
  }
  ::kill(-pid_, SIGKILL);
  pump_->wait_eof(stderr_wait);
  const std::string tail = pump_->tail();
  std::string text = "exec " + command_.label + ": '" + shown_ + "' " + said;
  if (!status.empty()) text += " (" + status + ")";
  if (tail.empty()) return text + "; it wrote nothing to stderr";
  text += "; its last stderr lines:";
  for (std::size_t at = 0, end; (end = tail.find('\n', at)) != std::string::npos; at = end + 1) {
    text += "\n    " + tail.substr(at, end - at);
  }
  return text;
}

// How the worker ended ("exit status 3", "killed by signal 11 (Segmentation fault)"), waiting up
// to wait_ms for it; "" while it runs. Leaves it unreaped (WNOWAIT), so its pid, and with it the
// process group kill() signals, cannot be reused before the destructor reaps it.
std::string exec_worker::exit_status(int wait_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (int nap = 1;; nap = std::min(nap * 2, 50)) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      if (info.si_pid == pid_) return describe_end(info);
    } else if (errno != EINTR) {
      return "exit status unknown: waitid: " + errno_text(errno);
    }
    if (std::chrono::steady_clock::now() >= deadline) return {};
    sleep_ms(nap);
  }
}

void exec_worker::kill() noexcept {
  killed_.store(true);
  ::kill(-pid_, SIGKILL);
  const char byte = 1;
  if (::write(wake_write_, &byte, 1) < 0) {
    // full (an earlier kill() woke it already) or closed: either way nothing is left to wake
  }
}

std::string exec_worker::stderr_tail() const { return pump_ ? pump_->tail() : std::string(); }

namespace {

// Whether /proc/PID/syscall shows a process waiting for input: read(0, ...) or one of the poll
// family (poll, select, pselect6, ppoll, epoll_wait, epoll_pwait, epoll_pwait2).
bool waiting_for_input(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  std::string fd;
  if (!(in >> nr >> fd)) return false;  // "running", or gone
  if (nr == 0) return fd == "0x0";
  for (long poll_like : {7L, 23L, 232L, 270L, 271L, 281L, 441L})
    if (nr == poll_like) return true;
  return false;
}

}  // namespace

bool exec_worker::wait_ready(double timeout_s) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (killed_.load() || ::kill(pid_, 0) != 0) return false;
    if (waiting_for_input(pid_)) return true;
    sleep_ms(2);
  }
  return false;
}

}  // namespace mpipe
