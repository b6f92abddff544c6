// The append lock and the free-space check (lock.hpp).
#include "lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "mpipe/error.hpp"

namespace mpipe {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

// "pid N on host H" as the holder wrote it, or a fallback when the file says nothing usable.
std::string holder_of(int fd) {
  char text[200] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string s = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : std::string();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s.rfind("pid ", 0) == 0 ? s : "another process, which did not say who it is";
}

std::string kib(std::uint64_t bytes) { return std::to_string((bytes + 1023) / 1024) + " KiB"; }

}  // namespace

double lock_wait_s() {
  if (const char* v = std::getenv("MPIPE_LOCK_WAIT_S")) {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end != v && *end == '\0' && std::isfinite(s) && s >= 0.0) return s;
  }
  return 300.0;
}

namespace {

// fd_ of `lock_path` opened (created if need be) for the lock; `can_write`: the holder may say
// who it is. Read-only when the directory lets us open but not create it.
int open_lock_file(const std::string& lock_path, bool& can_write) {
  // 0666 before the umask so that colleagues sharing a group-writable directory can lock too.
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  can_write = fd >= 0;
  if (fd < 0 && errno == EACCES) fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error("cannot open lock file '" + lock_path + "': " + errno_text());
  return fd;
}

// Whether `lock_path` still names the file `fd` has open: the holder before us unlinks it when
// it is done, and a lock on an unlinked file excludes nobody.
bool still_named(int fd, const std::string& lock_path) {
  struct stat held = {};
  struct stat named = {};
  if (::fstat(fd, &held) != 0) return false;
  if (::stat(lock_path.c_str(), &named) != 0) return false;
  return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

}  // namespace

// Takes flock on `fd`, waiting as the header says; throws (closing fd) when it cannot.
void append_lock::wait_for(int fd, wait_state& w) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      const std::string reason = errno_text();
      ::close(fd);
      throw io_error("cannot lock '" + lock_path_ + "': " + reason +
                     " (the file system must support flock; mpipe does not append unlocked)");
    }
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w.start).count();
    if (!w.told) {
      std::fprintf(stderr,
                   "mpipe: waiting for %s (locked by %s; at most %.0f s, MPIPE_LOCK_WAIT_S)\n",
                   results_path_.c_str(), holder_of(fd).c_str(), w.limit_s);
      w.told = true;
    }
    if (waited >= w.limit_s) {
      const std::string who = holder_of(fd);
      ::close(fd);
      throw io_error("gave up after " + std::to_string(static_cast<long>(waited)) +
                     " s waiting for the lock on '" + results_path_ + "' (held by " + who +
                     "; its lock file is '" + lock_path_ + "')");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

append_lock::append_lock(const std::string& lock_path, const std::string& results_path)
    : lock_path_(lock_path), results_path_(results_path) {
  wait_state w{std::chrono::steady_clock::now(), lock_wait_s(), false};
  bool can_write = false;
  while (true) {
    const int fd = open_lock_file(lock_path_, can_write);
    wait_for(fd, w);
    if (still_named(fd, lock_path_)) {
      fd_ = fd;
      break;
    }
    ::close(fd);  // the holder before us removed it: lock the file that has the name now
  }
  if (can_write) {
    const std::string me = "pid " + std::to_string(::getpid()) + " on host " + this_host() + "\n";
    if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
      // Only a courtesy for those who wait: the lock itself is what matters.
    }
  }
}

// Unlinking while the lock is held is what makes removal safe: a writer that opened the file
// before the unlink finds, once it has the lock, that the name is gone and starts over.
append_lock::~append_lock() {
  if (still_named(fd_, lock_path_)) ::unlink(lock_path_.c_str());
  ::close(fd_);  // closing releases the lock
}

void check_free_space(const std::string& path, std::uint64_t run_bytes) {
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return;  // cannot tell: the append will say
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  std::error_code ec;
  const std::uint64_t existing = fs::exists(p, ec) ? fs::file_size(p, ec) : 0;
  const std::uint64_t need = (ec ? 0 : existing) + run_bytes + (1u << 20);
  if (free_bytes < need) {
    throw io_error("not enough free space for results file '" + path + "': " + kib(free_bytes) +
                   " free in '" + dir.string() + "', an append needs about " + kib(need) +
                   " (a copy of the file, " + kib(existing) + ", plus the run and 1 MiB)");
  }
}

}  // namespace mpipe
