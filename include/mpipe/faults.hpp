// What a run does when something goes wrong under it: a signal (Ctrl-C, mpirun's SIGTERM, a batch
// system's time limit), a stage that stops making progress, or a fault injected on purpose to test
// the first two. The runtime polls these from its communication thread; nothing here blocks.
//
//   install_interrupt_handlers();          // after MPI_Init: SIGINT, SIGTERM, SIGHUP set a flag
//   if (int sig = pending_signal()) ...    // the runtime stops, rank 0 saves what it has
//   watchdog wd(30.0, {"B#0", "C2#0"});    // one slot per stage instance on this rank
//   wd.busy(1, item, now_ns()); ...; wd.idle(1);
//   if (auto why = wd.stuck_stage(now_ns())) ...  // "stage C2 on rank 2 has held item 5 for 30.1
//   s"
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/records.hpp"

namespace mpipe {

// ---- Signals --------------------------------------------------------------------------------

// SIGINT, SIGTERM and SIGHUP only record which signal came (async-signal-safe: one atomic store).
// A second SIGINT while the first is being handled exits at once (status 130): a human pressing
// Ctrl-C twice means it. Repeated SIGTERMs are absorbed: mpirun may send more than one, and it
// follows them with SIGKILL after odls_base_sigkill_timeout (1 s by default) anyway.
void install_interrupt_handlers();
// The first signal received, 0 if none.
int pending_signal();
// "SIGINT", "SIGTERM", ... or "signal N".
std::string signal_name(int sig);

// ---- Fault injection (a testing aid) --------------------------------------------------------

// MPIPE_FAULT (or the hidden `mpipe run --inject-fault`): comma-separated KIND:STAGE:ITEM with
// KIND stall (the stage sleeps forever when it takes that item), crash (the process raises
// SIGKILL on itself), fail (the stage throws, as a bug would) or corrupt (with --verify, the
// stage's message for that item carries a wrong checksum, as a corrupted transfer would: the
// receiving rank's communication thread fails). STAGE names a stage (every replica) or one
// replica as STAGE#R. Only stage instances, not the source, take faults.
struct fault {
  enum class kind { stall, crash, fail, corrupt } what = kind::stall;
  std::string stage;
  int replica = -1;  // -1: every replica
  std::uint64_t item = 0;
};
// Throws spec_error naming the field ("MPIPE_FAULT" or "--inject-fault") on a malformed entry.
std::vector<fault> parse_faults(const std::string& text, const std::string& field);
// Called by a stage instance before it works on `item`: stalls, crashes or throws when a fault
// says so; returns at once otherwise. A stall returns only when `give_up` becomes true.
void inject_fault(const std::vector<fault>& faults, const std::string& stage, int replica,
                  std::uint64_t item, const std::atomic<bool>& give_up);
// True when a corrupt fault names this stage instance and item (its messages get a bad checksum).
bool corrupts(const std::vector<fault>& faults, const std::string& stage, int replica,
              std::uint64_t item);

// ---- Stall watchdog -------------------------------------------------------------------------

// --timeout's default: 10 x the critical path (as run, after --time-scale) + 60 s. It bounds the
// time without progress, not the run, so long streams need no bigger value.
double default_timeout_s(double critical_path_ms);

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

// ---- A run cut short ------------------------------------------------------------------------

// Appends the run to `path`; when that fails (a disk that filled during the run, a lock not
// released in time, ...) writes it, alone, to a rescue file -- `path`'s directory, else $TMPDIR,
// else /tmp -- named <name>.rescued-<pid>-<n>.h5, so the measurement is not lost. Rank 0 of a
// live alarm_channel says "saving" before and "saved"/"failed" after (see alarm_channel).
struct saved_run {
  std::string id;       // the run's id in `file`
  std::string file;     // where it is: `path`, or the rescue file; empty if nowhere
  std::string problem;  // why it is not in `path` (empty when it is)
};
saved_run append_or_rescue(const std::string& path, const run_record& run);

// Attributes every incomplete run carries (docs/results-schema.md): complete = false,
// incomplete_reason (why, in words), items_completed, rows_from_ranks (whose rows the record
// holds: rank 0's alone when the other ranks could not be asked).
void mark_incomplete(run_record& rec, const std::string& reason, std::uint64_t items_completed,
                     const std::string& rows_from_ranks);

}  // namespace mpipe
