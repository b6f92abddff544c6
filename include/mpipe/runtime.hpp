// Runs a pipeline on the ranks of a communicator. Every rank hosts the stages the placement
// gives it. The rank's main thread is its engine: it alone calls MPI (MPI_THREAD_FUNNELED), and
// between polls it runs the short stages and sleep timers itself; longer or blocking stages get
// threads of their own, so co-located stages overlap in time just as they would on separate
// ranks (docs/architecture.md, "The engine"). Stages on one rank hand items over in memory;
// across ranks messages go non-blocking, so two ranks sending to each other never deadlock.
//
//   const auto env = mpipe::start_funneled_mpi(argc, argv);  // null: rank 0 said why; exit 2
//   mpipe::run_options opt;  opt.placement = "spread";
//   mpipe::run_result r = mpipe::run_pipeline(world, mpipe::seed_spec(), opt);
//   if (world.rank() == 0) mpipe::print_summary(std::cout, r);
#pragma once

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/faults.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/records.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// How an idle rank waits for messages. spin never gives the core up: lowest latency, but on an
// oversubscribed host two spinning ranks trade messages only at the scheduler tick (~4 ms,
// measured here). block spins briefly, then yields, then sleeps in 100 us slices that a local
// send cuts short: it leaves cores to compute stages. yield never sleeps but gives the core away
// every idle turn. automatic picks spin where a host has two cores per rank (main thread + its
// stages' hand-over work) plus one per busy stage thread; else block where a stage there
// computes, and yield where none does (nobody needs the cores; waking a blocked rank costs more).
enum class wait_policy { automatic, block, yield, spin };
const char* to_string(wait_policy w);

// A what-if network (emulated_link, model.hpp: one struct for run and prediction): a link per
// directed rank pair that its messages share. Lets a laptop ask "what if this hop crossed a 5 ms
// LAN?" without tc netem (not available everywhere). Runs made this way are labelled in the
// terminal and HDF5.
// "latency=5ms[,bandwidth=1Gbit/s][,scope=cross-host|cross-rank]"; throws spec_error.
emulated_link parse_emulated_link(const std::string& text);

struct run_options {
  std::string placement;                  // "", "pack", "spread" or "A=0,B=1"
  std::optional<std::uint64_t> items;     // overrides the spec's items
  std::optional<std::uint64_t> inflight;  // overrides the spec's inflight
  std::string replicas;                   // "Render=4,B=2": overrides stages' replicas
  // Per-item rows (events, messages, items) for at most this many items, evenly spaced (every
  // k-th item), so memory stays flat on long streams; latency and throughput cover every item.
  std::uint64_t detail_items = 10000;
  double time_scale = 1.0;            // multiplies every stage's work_ms
  std::optional<kernel_kind> kernel;  // overrides every stage's kernel
  wait_policy wait = wait_policy::automatic;
  std::optional<std::uint64_t> payload_bytes;       // overrides every stage's
  std::optional<serialization_kind> serialization;  // overrides every edge's
  std::optional<int> threads;                       // overrides every stage's OpenMP threads
  // Each rank runs one stage's kernel at a time (the others queue): a rank is then a
  // single-threaded service process, one worker per machine, whatever the kernel (mpipe sweep).
  bool serial_stages = false;
  bool verify = false;                   // receivers check a payload checksum
  std::optional<emulated_link> emulate;  // what-if link delays
  std::optional<platform> predict_with;  // predict the item latency on it, stored beside the run
  bool progress = true;                  // a progress line on runs longer than a few s
  std::string command_line;              // stored with the run
  // Stall watchdog (faults.hpp): a stage holding one item this long, or no item completing for
  // 1.25 x this + 2 s, ends the run naming stage, rank and item. nullopt: default_timeout_s of
  // the critical path; 0: off.
  std::optional<double> timeout_s;
  std::vector<fault> faults;  // injected faults, a testing aid (MPIPE_FAULT)
  // The user's code and data (stages.hpp): plugins loaded besides the spec's `plugins:`
  // (--plugin, relative to the working directory), and overrides of `inputs:` / `outputs:`.
  std::vector<std::string> plugins;
  std::optional<std::string> inputs, outputs;
  // Rank 0, when the run is cut short (signal, stall, another rank's alarm): stores the partial
  // record (complete = false) and says where, e.g. "appended as run X to F". Empty: not saved.
  std::function<std::string(run_record)> save_partial;
  // Rank 0, before the run starts: each warning about how the run is set up, one line without
  // a prefix (a rank whose CPU-bound stage threads exceed its usable cores). Empty: not told.
  std::function<void(const std::string&)> warn;
};

struct run_result {
  pipeline_spec spec;  // as run: overrides and time scale applied
  placement where;
  run_record record;                    // complete on rank 0 only; other ranks get an empty record
  double throughput_items_per_s = 0.0;  // steady state (rank 0), NaN if the window was empty
  double bound_items_per_s = 0.0;       // what the stages, cores and window allow (model)
  std::string bound_text;               // which of them limits, in words; empty: no bound
  double predicted_ms = std::nan("");   // predicted item latency (with a platform), rank 0
  double predicted_items_per_s = std::nan("");  // and throughput (the simulator's)
  std::string efficiency;  // POP-style block for the summary (efficiency.hpp), rank 0
};

// MPI for a process that runs pipelines: MPI_THREAD_FUNNELED (stage threads never call MPI),
// errors returned rather than fatal. Null, after rank 0 has said why, where the library cannot
// give that level. Under Open MPI it then turns off the library's own thread locks: Open MPI
// takes them at every level above SINGLE, FUNNELED too, where no two threads are ever in MPI at
// once, and they cost ~0.1-0.15 us per message (a fifth of a 64 B hop; docs/performance.md).
// MPIPE_MPI_THREAD_LOCKS=1 keeps them.
std::unique_ptr<boost::mpi::environment> start_funneled_mpi(int argc, char** argv);

// Collective over comm. Throws spec_error (same on every rank) for a placement that does not
// fit the job, before any work starts.
run_result run_pipeline(const boost::mpi::communicator& comm, const pipeline_spec& spec,
                        const run_options& options);

// Collective: what a run would do, without running it (`mpipe run --dry-run`): stages ->
// ranks -> hosts with cores and threads, the tier of every edge, and the wait policy `auto`
// would pick. Valid on rank 0; empty elsewhere.
std::string describe_layout(const boost::mpi::communicator& comm, const pipeline_spec& spec,
                            const run_options& options);

// The user's code checked without running it (`mpipe validate`, one process): loads the spec's
// plugins, resolves every `kernel: NAME` stage to its function, checks the types on every edge
// (setting typed edges' serialization) and lists `inputs:` (setting items). One line per user
// stage, e.g. "Blur: blur (Image -> Image) from libimage.so"; throws spec_error.
std::vector<std::string> check_user_stages(pipeline_spec& spec);

// Applies items / time_scale / kernel overrides to a spec (validation of the result included).
pipeline_spec apply_overrides(pipeline_spec spec, const run_options& options);

// The terminal summary: per stage, per edge, item latency against the critical-path bound.
void print_summary(std::ostream& out, const run_result& result);

// Mean item latency in ms of a finished run (rank 0), and its critical-path bound.
double mean_latency_ms(const run_record& record);

}  // namespace mpipe
