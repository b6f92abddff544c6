// `mpipe run`: a pipeline on the ranks of this MPI job, appended to an HDF5 file. The spec and
// every option are checked on all ranks before work; past that, a failure aborts the job.
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "mpipe/error.hpp"
#include "mpipe/faults.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/version.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

namespace {

struct run_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  std::string out = "results/mpipe.h5";
  std::uint64_t items = 0;
  std::uint64_t inflight = 0;  // 0: the spec's
  std::string replicas;
  std::uint64_t detail_items = 10000;
  double time_scale = 1.0;
  std::string kernel;
  std::string wait = "auto";
  std::uint64_t payload_bytes = 0;
  bool payload_given = false;
  bool no_progress = false;
  bool dry_run = false;
  std::string serialization;
  bool verify = false;
  std::string emulate;
  std::string platform;         // predict the run on this platform file
  double timeout = 0.0;         // stall watchdog, s (0: off), when timeout_given
  bool timeout_given = false;   // else the default from the critical path
  std::string inject_fault;     // testing aid (faults.hpp); else MPIPE_FAULT
  std::string inputs, outputs;  // "": the spec's
};

// What became of a run's record: appended to --out, or kept in a rescue file (faults.hpp).
std::string describe_saved(const mpipe::saved_run& saved, const std::string& out,
                           const std::string& what) {
  if (saved.file.empty()) return what + " could not be saved anywhere: " + saved.problem;
  if (saved.problem.empty()) return what + " " + saved.id + " appended to " + out;
  return what + " " + saved.id + " kept in rescue file " + saved.file + " (appending to " + out +
         " failed: " + saved.problem + ")";
}

// The options as the runtime takes them; what is not given stays the spec's.
mpipe::run_options run_options_of(const run_args& a, int argc, char** argv) {
  mpipe::run_options opt;
  opt.placement = a.placement;
  if (a.items) opt.items = a.items;
  if (a.inflight) opt.inflight = a.inflight;
  opt.replicas = a.replicas;
  opt.detail_items = a.detail_items;
  opt.time_scale = a.time_scale;
  if (!a.kernel.empty()) opt.kernel = parse_kernel(a.kernel);
  opt.wait = parse_wait(a.wait);
  opt.progress = !a.no_progress;
  opt.command_line = joined(argc, argv);
  if (!a.serialization.empty()) {
    opt.serialization = a.serialization == "raw"        ? mpipe::serialization_kind::raw
                        : a.serialization == "datatype" ? mpipe::serialization_kind::datatype
                                                        : mpipe::serialization_kind::boost;
  }
  opt.verify = a.verify;
  if (a.payload_given) opt.payload_bytes = a.payload_bytes;
  if (!a.inputs.empty()) opt.inputs = a.inputs;
  if (!a.outputs.empty()) opt.outputs = a.outputs;
  return opt;
}

int do_run(const run_args& a, int argc, char** argv) {
  const auto env = start_funneled_mpi(argc, argv);
  if (!env) return 2;
  boost::mpi::communicator world;
  const int rank = world.rank();

  mpipe::run_options opt = run_options_of(a, argc, argv);
  // Faults (docs/faults.md): Ctrl-C / SIGTERM end the run with rank 0 saving
  // what it has, marked incomplete, into --out or a rescue file.
  mpipe::install_interrupt_handlers();
  opt.save_partial = [out = a.out](mpipe::run_record rec) {
    return describe_saved(mpipe::append_or_rescue(out, rec), out, "partial run (complete = false)");
  };
  // Before the run starts, e.g. a rank whose compute stages share one core (docs/running.md).
  opt.warn = [](const std::string& w) { std::cerr << "mpipe: warning: " << w << std::endl; };

  mpipe::pipeline_spec spec;
  try {
    // Everything that can be wrong with the input is found here, on every rank, before work.
    if (a.timeout_given && !(a.timeout >= 0.0 && a.timeout <= 1e7))
      throw mpipe::spec_error("<command line>", 0, "--timeout",
                              "must be 0 (off) or a number of seconds up to 1e7");
    if (a.timeout_given) opt.timeout_s = a.timeout;
    const char* fault_env = std::getenv("MPIPE_FAULT");
    if (!a.inject_fault.empty())
      opt.faults = mpipe::parse_faults(a.inject_fault, "--inject-fault");
    else if (fault_env != nullptr && *fault_env != '\0')
      opt.faults = mpipe::parse_faults(fault_env, "MPIPE_FAULT");
    if (!a.emulate.empty()) opt.emulate = mpipe::parse_emulated_link(a.emulate);
    if (!a.platform.empty()) opt.predict_with = mpipe::load_platform(a.platform);
    // Without --platform, the run predicts itself from the newest calibration run in its own
    // results file, if there is one (calibrate, then run: issue 6). Only rank 0 predicts.
    if (a.platform.empty() && rank == 0 && !a.dry_run) opt.predict_with = newest_calibration(a.out);
    spec = load_on_all(world, a.spec_file, a.scenario);
    const auto effective = mpipe::apply_overrides(spec, opt);
    const auto where = mpipe::resolve_placement(effective, opt.placement, world.size());
    if (!a.dry_run) check_writable_on_all(world, a.out);  // it may create the directory
    if (rank == 0) {
      const mpipe::graph g(effective);
      std::cout << "mpipe " << mpipe::version << ": pipeline '" << effective.name << "' ("
                << effective.stages.size() << " stages, "
                << (effective.inputs.empty() ? std::to_string(effective.items) + " items"
                                             : "an item per file of " + effective.inputs)
                << (effective.inflight != 1
                        ? ", " + std::to_string(effective.inflight) + " in flight"
                        : std::string())
                << (a.time_scale != 1.0 ? ", time scale " + std::to_string(a.time_scale) : "")
                << ") on " << world.size() << " rank(s), placement " << where.mode << ": "
                << where.to_string(effective) << "\n"
                << "critical-path bound " << g.critical_path_ms() << " ms; results -> " << a.out
                << "; stall timeout "
                << (opt.timeout_s ? *opt.timeout_s : mpipe::default_timeout_s(g.critical_path_ms()))
                << " s" << std::endl;
      if (opt.emulate)
        std::cout << "EMULATED LINK (what-if, not a measured network): " << opt.emulate->text
                  << std::endl;
    }
  } catch (const mpipe::error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }

  if (a.dry_run) {
    const std::string layout = mpipe::describe_layout(world, spec, opt);
    if (rank == 0) std::cout << layout << std::flush;
    return 0;
  }
  try {
    auto result = mpipe::run_pipeline(world, spec, opt);
    if (rank == 0) {
      mpipe::print_summary(std::cout, result);
      if (opt.predict_with) {
        // The ranks' real hosts, as the run found them: the prediction used the same.
        std::vector<std::string> hosts(static_cast<std::size_t>(world.size()));
        for (const auto& r : result.record.ranks)
          if (r.rank >= 0 && r.rank < world.size())
            hosts[static_cast<std::size_t>(r.rank)] = r.host;
        if (const auto w = stand_in_warning(*opt.predict_with, result.spec, result.where, hosts);
            !w.empty())
          std::cout << w << std::endl;
      }
      const auto saved = mpipe::append_or_rescue(a.out, result.record);
      if (!saved.problem.empty()) {
        // The run itself is over on every rank: only rank 0 reports and exits non-zero.
        std::cerr << "mpipe: error: " << describe_saved(saved, a.out, "run") << std::endl;
        return 3;
      }
      std::cout << "\nAppended run " << saved.id << " to " << a.out << std::endl;
    }
  } catch (const mpipe::spec_error& e) {
    // The user's code and data are checked inside run_pipeline, on every rank together (a
    // plugin, a function, an edge's types, inputs:, outputs:, an exec command): the same error
    // on every rank, before any work, so all leave as after any other bad input.
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    // Past validation, a failure may be on this rank alone: others could wait for it forever.
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return 0;
}

}  // namespace

CLI::App* add_run_command(CLI::App& app, command_action& action) {
  auto args = std::make_shared<run_args>();
  auto& ra = *args;
  auto* run = app.add_subcommand(
      "run", "Run a pipeline on the ranks of this MPI job and append the run to an HDF5 file");
  add_spec_options(*run, ra.spec_file, ra.scenario);
  run->add_option("--placement", ra.placement,
                  "pack | spread (instance i on rank i mod N) | map like 'A=0,B=1,C3#1=2' (C3: "
                  "every replica, C3#k: replica k; unnamed ones on rank 0); default: the spec's "
                  "map, else spread");
  run->add_option("--out", ra.out, "HDF5 results file; runs are appended, never overwritten")
      ->capture_default_str();
  run->add_option("--items", ra.items, "Number of items (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  run->add_option("--inflight", ra.inflight,
                  "Items the source keeps in the pipeline at once (overrides the spec's "
                  "inflight; 1 = one request at a time)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  run->add_option("--detail-items", ra.detail_items,
                  "Keep per-item rows (events, messages, items) for at most N items, evenly "
                  "spaced, so memory stays flat on long streams; latency and throughput still "
                  "cover every item")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
      ->capture_default_str();
  run->add_option("--replicas", ra.replicas,
                  "Replicate stages: 'Render=4,B=2' (overrides the spec's replicas, 1..256; a "
                  "stage with several inputs needs dispatch: round-robin in the spec)");
  run->add_option("--time-scale", ra.time_scale,
                  "Multiply every stage's work (e.g. 0.1 for a 10x faster run)")
      ->capture_default_str();
  run->add_option("--kernel", ra.kernel,
                  "Override every synthetic stage's kernel (user functions and exec workers stay)")
      ->check(CLI::IsMember({"sleep", "spin", "compute"}));
  run->add_option("--wait", ra.wait,
                  "How idle ranks wait for messages: spin (lowest latency, burns a core), yield, "
                  "block (spin briefly, then sleep: leaves cores to compute), auto (spin when each "
                  "host has 2 cores per rank + 1 per busy stage thread, else block where a "
                  "stage computes and yield where none does)")
      ->check(CLI::IsMember({"auto", "block", "yield", "spin"}))
      ->capture_default_str();
  run->add_flag("--no-progress", ra.no_progress, "No progress lines on long runs");
  run->add_flag("--dry-run", ra.dry_run,
                "Print stages -> ranks -> hosts (cores, threads) and every edge's tier, then stop");
  run->add_option("--serialization", ra.serialization,
                  "Override every edge's serialization: boost (Boost.Serialization), datatype (MPI "
                  "derived datatype header + bytes), raw (bytes in place)")
      ->check(CLI::IsMember({"boost", "datatype", "raw"}));
  run->add_option("--payload-bytes", ra.payload_bytes,
                  "Override every stage's payload size in bytes (e.g. 1048576 for 1 MiB per edge)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30));
  run->add_flag("--verify", ra.verify,
                "Receivers check a checksum of every payload (a mismatch aborts the run)");
  run->add_option("--emulate-link", ra.emulate,
                  "What-if link: 'latency=5ms[,bandwidth=1Gbit/s][,scope=cross-rank|cross-host]'; "
                  "each affected message is held until send time + latency + bytes/bandwidth; the "
                  "run is labelled emulated");
  run->add_option("--platform", ra.platform,
                  "Predict the item latency with this platform file (jobs/platforms/, or one "
                  "written by mpipe calibrate) and print and store it beside the measurement; "
                  "default: the newest mpipe calibrate run in --out, if any");
  run->add_option("--timeout", ra.timeout,
                  "Stall watchdog: a stage holding one item this many seconds (or no item "
                  "completing for 1.25x this + 2 s) ends the run naming stage, rank and item; "
                  "0: off; default 10 x the critical path + 60 s");
  run->add_option("--inputs", ra.inputs,
                  "The source's items from files: a directory or a glob ('data/*.pgm'), one item "
                  "per file in sorted order (overrides the spec's inputs:)");
  run->add_option("--outputs", ra.outputs,
                  "Write what reaches the source to this directory, one file per item; files "
                  "already there are never overwritten (overrides the spec's outputs:)");
  run->add_option(
         "--inject-fault", ra.inject_fault,
         "Testing aid: KIND:STAGE:ITEM[,...], KIND stall|crash|fail|corrupt (also MPIPE_FAULT)")
      ->group("");  // hidden: for tests, see docs/faults.md
  action = [args, run](int argc, char** argv) {
    args->payload_given = run->count("--payload-bytes") > 0;
    args->timeout_given = run->count("--timeout") > 0;
    return do_run(*args, argc, argv);
  };
  return run;
}
