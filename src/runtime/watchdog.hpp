// Internals of the runtime's fault handling (not installed): the stall watchdog that stage
// threads report to and the communication thread checks, and the channel on which any rank tells
// rank 0 why the run must end (faults.hpp has what a user sees: signals, injected faults, the
// timeout's default, partial runs).
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/faults.hpp"
#include "mpipe/records.hpp"

namespace mpipe {

//   watchdog wd(30.0, {"B#0", "C2#0"}, rank);  // one slot per stage instance on this rank
//   wd.busy(1, item, now_ns()); ...; wd.idle(1);
//   if (auto why = wd.stuck_stage(now_ns())) ...  // "stage C2 on rank 2 has held item 5 ..."

// Which item each stage instance of this rank holds and since when, and (on the source's rank)
// when an item last completed. Thread-safe: stage threads report, the communication thread checks.
class watchdog {
 public:
  // timeout_s <= 0: never reports. names: one per slot (stage instance), e.g. "C2" or "C3#1".
  watchdog(double timeout_s, std::vector<std::string> names, int rank);
  void busy(std::size_t slot, std::uint64_t item, std::int64_t now_ns);
  void idle(std::size_t slot);
  // The source's rank: the source started, or an item completed.
  void progress(std::int64_t now_ns);
  // A message naming stage, rank and item once a stage instance has held one item longer than
  // the timeout; nothing otherwise.
  std::optional<std::string> stuck_stage(std::int64_t now_ns) const;
  // Seconds without a completed item on the source's rank once that exceeds 1.25 x the timeout
  // + 2 s (later than stuck_stage, so that the rank of a stuck stage, which can name it, speaks
  // first); nothing otherwise or on other ranks.
  std::optional<double> source_stalled(std::int64_t now_ns) const;
  double timeout_s() const { return timeout_s_; }

 private:
  struct slot {
    std::atomic<std::uint64_t> item{0};
    std::atomic<std::int64_t> since{0};  // 0: idle
  };
  double timeout_s_;
  std::vector<std::string> names_;
  std::unique_ptr<slot[]> slots_;
  int rank_;
  std::atomic<std::int64_t> last_progress_{0};  // 0: not the source's rank, or not started
};

// ---- Telling rank 0, ending the job ---------------------------------------------------------

// A channel of its own (a duplicate communicator, so no pipeline message can ever match it) on
// which any rank tells rank 0 why the run must end: rank 0 then saves what it has, saying why.
// Rank 0 answers on the same channel, so that the raising rank does not end the job (MPI_Abort)
// while rank 0 is still writing the partial run: "heard" when poll() receives an alarm, "saving
// S" before the append (S: how long it may take, from the size of the results file), "saved" or
// "failed" after it. append_or_rescue sends the last two itself while a channel lives in this
// process (only a partial save happens then: a complete run is saved after the run's channel is
// gone). They go to every other rank, except when rank 0 ends because of a signal: mpirun's
// SIGTERM reaches all ranks and kills them 1 s later anyway, and a rank may be dead, so then only
// to the ranks whose alarm rank 0 received.
class alarm_channel {
 public:
  explicit alarm_channel(MPI_Comm comm);  // collective over comm
  ~alarm_channel();
  alarm_channel(const alarm_channel&) = delete;
  alarm_channel& operator=(const alarm_channel&) = delete;
  // Rank != 0: sends `why` to rank 0 and keeps MPI progressing while rank 0 saves and ends the
  // job: up to wait_s seconds for rank 0's first answer; after "heard", 30 s more for rank 0 to
  // start saving; after "saving S", S seconds; after "saved" / "failed", wait_s seconds for rank
  // 0's MPI_Abort. Returns when a deadline passes without it (the caller then ends the job).
  void raise(const std::string& why, double wait_s);
  // Rank 0: what a rank raised, if anything arrived (non-blocking); answers "heard".
  std::optional<std::string> poll();
  // Rank 0, around saving the partial run to `path` (append_or_rescue calls them).
  void saving(const std::string& path, const run_record& run);
  void saved(bool ok);
  MPI_Comm comm() const { return comm_; }

 private:
  void tell(const std::string& word);
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::vector<int> raisers_;  // rank 0: ranks whose alarm arrived
  std::vector<MPI_Request> sends_;
  std::vector<std::unique_ptr<std::string>> words_;  // alive until their sends complete
};

// How long rank 0 may take to append a partial run to a results file of `file_bytes` (a copy of
// the file, the run's rows, an fsync): 10 s + (2 x file_bytes + run_bytes) at 20 MiB/s. Rank 0
// says this plus the time the append may wait for the lock (lock_wait_s, hdf5_output.hpp).
double save_allowance_s(std::uint64_t file_bytes, std::uint64_t run_bytes);

// MPI_Abort(comm, code) after flushing stdout/stderr: every rank of the job leaves.
[[noreturn]] void abort_job(MPI_Comm comm, int code);

}  // namespace mpipe
