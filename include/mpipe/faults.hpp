// What a run does when something goes wrong under it: a signal (Ctrl-C, mpirun's SIGTERM, a batch
// system's time limit), a stage that stops making progress, or a fault injected on purpose to test
// the first two. The runtime polls these from its communication thread; nothing here blocks.
//
//   install_interrupt_handlers();          // after MPI_Init: SIGINT, SIGTERM, SIGHUP set a flag
//   if (int sig = pending_signal()) ...    // the runtime stops, rank 0 saves what it has
//   MPIPE_FAULT=stall:C2:5                 // a stage that stops, for testing the watchdog
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

// The stall watchdog itself and the channel on which ranks tell rank 0 why a run ends are
// internals of the runtime: src/runtime/watchdog.hpp.

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
