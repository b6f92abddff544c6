// Guards around appending to a results file: the lock two writers take turns on, and the free
// space an append needs (hdf5_output.cpp uses both).
#pragma once

#include <cstdint>
#include <string>

namespace mpipe {

// Exclusive flock on `lock_path` (the results file + ".lock"), held while the object lives. A
// separate lock file (rather than the results file) because the results file is replaced by
// rename while the lock is held, and a lock on the old inode would not stop the next writer. Left
// in place afterwards: deleting it would race with a writer that has just opened it. The holder
// writes "pid N on host H" into it; a writer that finds the lock taken prints
// "mpipe: waiting for <results> (locked by pid N on host H)" once and retries every 100 ms for up
// to MPIPE_LOCK_WAIT_S seconds (default 300), then throws io_error saying who holds it.
class append_lock {
 public:
  append_lock(const std::string& lock_path, const std::string& results_path);
  ~append_lock();
  append_lock(const append_lock&) = delete;
  append_lock& operator=(const append_lock&) = delete;

 private:
  int fd_ = -1;
};

// How long a writer waits for the lock: MPIPE_LOCK_WAIT_S if set to a number >= 0, else 300 s.
double lock_wait_s();

// Throws io_error unless the directory of `path` has room for an append: a copy of the existing
// file plus `run_bytes` (an estimate of the run's rows) plus 1 MiB of slack.
void check_free_space(const std::string& path, std::uint64_t run_bytes);

}  // namespace mpipe
