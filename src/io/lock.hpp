// Guards around appending to a results file: the lock two writers take turns on, and the free
// space an append needs (hdf5_output.cpp uses both).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mpipe {

// Exclusive flock on `lock_path` (the results file + ".lock"), held while the object lives. A
// separate lock file (rather than the results file) because the results file is replaced by
// rename while the lock is held, and a lock on the old inode would not stop the next writer. The
// holder writes "pid N on host H" into it and unlinks it when done, while still holding the lock;
// so a writer that has just got the lock checks that `lock_path` still names the file it locked,
// and opens and locks it afresh otherwise (the file was removed, perhaps made again by a third
// writer, whose lock is the one that counts). No lock file is left behind, and no two writers
// ever hold the lock of one name at once. A writer that finds the lock taken prints
// "mpipe: waiting for <results> (locked by pid N on host H)" once and retries every 100 ms for up
// to MPIPE_LOCK_WAIT_S seconds (default 300) in all, then throws io_error saying who holds it.
class append_lock {
 public:
  append_lock(const std::string& lock_path, const std::string& results_path);
  ~append_lock();
  append_lock(const append_lock&) = delete;
  append_lock& operator=(const append_lock&) = delete;

 private:
  struct wait_state {
    std::chrono::steady_clock::time_point start;
    double limit_s;
    bool told;  // the waiting message is printed once
  };
  void wait_for(int fd, wait_state& w);
  int fd_ = -1;
  std::string lock_path_;
  std::string results_path_;
};

// How long a writer waits for the lock: MPIPE_LOCK_WAIT_S if set to a number >= 0, else 300 s.
double lock_wait_s();

// Throws io_error unless the directory of `path` has room for an append: a copy of the existing
// file plus `run_bytes` (an estimate of the run's rows) plus 1 MiB of slack.
void check_free_space(const std::string& path, std::uint64_t run_bytes);

}  // namespace mpipe
