// A stage that runs a process in any language (`kernel: exec`): one long-lived worker per stage
// instance, fed over pipes with a framing anyone can write in a few lines (docs/stages.md):
//   request: for each input edge, in the spec's order, an 8-byte little-endian length L, then L
//            bytes;  reply: one 8-byte little-endian length, then that many bytes.
// One reply per request, in order; at EOF on stdin the worker exits. Its stderr goes to the
// terminal (fd 2), each line prefixed with "[label] ", and the last lines are kept for errors.
// (analysis/mpipe_analysis/worker.py is a stdlib-only Python side: serve(fn).)
//
//   exec_worker w({.argv = {"python3", "a.py"}, .env = {{"MPIPE_INPUTS", "2"}},
//                  .label = "stage A#0 on rank 1"});
//   w.call({&x, &y}, reply);  // throws mpipe::error: "exec stage A#0 on rank 1: 'python3 a.py'
//                             // ended before replying (exit status 3); its last stderr lines: ..."
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "transport.hpp"  // byte_buffer

namespace mpipe {

struct exec_command {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH
  std::string cwd;                // the worker's working directory; "" = inherit
  std::vector<std::pair<std::string, std::string>> env;  // added to the inherited environment
  std::string label;  // "stage A#0 on rank 1": names the worker in every error
  std::uint64_t max_reply_bytes = std::uint64_t{1} << 30;  // a longer reply is an error
};

// One thread calls call(); kill() may come from any other thread while the object lives.
class exec_worker {
 public:
  // Starts the process (posix_spawnp: its own process group, default signal dispositions and
  // mask, no fds but the three pipes, cwd and env applied). Throws mpipe::error naming the label
  // and command when it cannot be started (not found, not executable, no such cwd): the exec
  // failure comes back from posix_spawnp itself, so it is known here, before any item is sent.
  explicit exec_worker(exec_command command);
  exec_worker(const exec_worker&) = delete;
  exec_worker& operator=(const exec_worker&) = delete;
  // Closes the pipes, waits up to 2 s for the exit, then kills the process group and reaps;
  // never leaves a process (nor one of the group's) behind.
  ~exec_worker();

  // One request and its reply; writes and reads at once (poll), so a worker that replies while
  // it still reads never deadlocks. Throws mpipe::error naming the label, command, exit status
  // and the tail of stderr when the worker has exited, crashed, was killed, stopped reading,
  // sent a reply longer than max_reply_bytes or closed stdout mid-reply. After such an error the
  // worker is stopped and every later call throws the same error.
  void call(const std::vector<const byte_buffer*>& frames, byte_buffer& reply);

  // From any thread (the watchdog, an abort): kills the worker's process group so that a call
  // blocked on it returns with an error. Safe to call more than once.
  void kill() noexcept;

  pid_t pid() const { return pid_; }
  const exec_command& command() const { return command_; }
  // The last lines the worker wrote to stderr (at most 20 lines, 4 KiB).
  std::string stderr_tail() const;

  // Waits until the worker waits for its first request (blocked reading stdin, or in a poll or
  // select), so an interpreter's start-up is not charged to item 0; gives up after timeout_s
  // (a worker behind a shell wrapper waits in the shell). Linux's /proc/PID/syscall. True: ready.
  bool wait_ready(double timeout_s) const;

 private:
  struct stderr_pump;  // the thread that forwards stderr with a prefix and keeps its tail
  struct exchange;     // one call's request being written and reply being read
  void spawn(int in_fd, int out_fd, int err_fd);
  std::string exchange_all(exchange& x, byte_buffer& reply);  // "" or what went wrong
  std::string read_reply(exchange& x, byte_buffer& reply);
  std::string fail_message(const std::string& what, bool still_running);
  std::string exit_status(int wait_ms) const;
  exec_command command_;
  std::string shown_;  // the command as errors quote it: "python3 a.py"
  pid_t pid_ = -1;
  int to_worker_ = -1, from_worker_ = -1;
  int wake_read_ = -1, wake_write_ = -1;  // kill() wakes a call blocked in poll
  std::unique_ptr<stderr_pump> pump_;
  std::atomic<bool> killed_{false};
  std::string broken_;  // the error of a failed call: later calls throw it again
};

}  // namespace mpipe
