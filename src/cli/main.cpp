// mpipe's command line: parse, set up MPI, call the library, report. No logic of its own.
#include <malloc.h>
#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "mpipe/advise.hpp"
#include "mpipe/bench.hpp"
#include "mpipe/calibrate.hpp"
#include "mpipe/error.hpp"
#include "mpipe/faults.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/version.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

// Subcommands that live in their own file (src/cli/<command>.cpp).
CLI::App* add_sweep_command(CLI::App& app, mpipe::cli::command_action& action);
CLI::App* add_report_command(CLI::App& app, mpipe::cli::command_action& action);
CLI::App* add_export_command(CLI::App& app, mpipe::cli::command_action& action);

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
  std::string platform;        // predict the run on this platform file
  double timeout = 0.0;        // stall watchdog, s (0: off), when timeout_given
  bool timeout_given = false;  // else the default from the critical path
  std::string inject_fault;    // testing aid (faults.hpp); else MPIPE_FAULT
};

// What became of a run's record: appended to --out, or kept in a rescue file (faults.hpp).
std::string describe_saved(const mpipe::saved_run& saved, const std::string& out,
                           const std::string& what) {
  if (saved.file.empty()) return what + " could not be saved anywhere: " + saved.problem;
  if (saved.problem.empty()) return what + " " + saved.id + " appended to " + out;
  return what + " " + saved.id + " kept in rescue file " + saved.file + " (appending to " + out +
         " failed: " + saved.problem + ")";
}

int do_run(const run_args& a, int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rank = world.rank();
  if (env.thread_level() < boost::mpi::threading::funneled) {
    if (rank == 0)
      std::cerr << "mpipe: error: the MPI library does not provide MPI_THREAD_FUNNELED\n";
    return 2;
  }

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
  // Faults (docs/faults.md): Ctrl-C / SIGTERM end the run with rank 0 saving
  // what it has, marked incomplete, into --out or a rescue file.
  mpipe::install_interrupt_handlers();
  opt.save_partial = [out = a.out](mpipe::run_record rec) {
    return describe_saved(mpipe::append_or_rescue(out, rec), out, "partial run (complete = false)");
  };

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
                << effective.stages.size() << " stages, " << effective.items << " items"
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
  } catch (const std::exception& e) {
    // Past validation, a failure may be on this rank alone: others could wait for it forever.
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return 0;
}

struct validate_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  int ranks = 1;
  std::uint64_t inflight = 0;  // 0: the spec's
  std::string replicas;
  int cores = 0;  // 0: this machine's
};

// No MPI: every rank is taken to be on this host, with this machine's cores unless --cores says
// otherwise, so the core bound is the one a single-machine job would meet.
int do_validate(const validate_args& a) {
  auto spec = model_spec(a.spec_file, a.scenario, a.inflight, a.replicas);
  const mpipe::graph g(spec);
  const auto where = mpipe::resolve_placement(spec, a.placement, a.ranks);
  std::cout << spec.file << ": pipeline '" << spec.name << "' is valid: " << spec.stages.size()
            << " stages, " << spec.edges.size() << " edges, " << spec.items << " items, "
            << spec.inflight << " in flight\n";
  std::cout << "critical-path bound " << g.critical_path_ms() << " ms:";
  for (int s : g.critical_path()) std::cout << ' ' << spec.stages[static_cast<std::size_t>(s)].name;
  std::cout << "\nplacement on " << a.ranks << " rank(s) (" << where.mode
            << "): " << where.to_string(spec) << "\n";
  const int cores =
      a.cores > 0 ? a.cores : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const auto b = mpipe::compute_throughput_bound(
      spec, where, std::vector<std::string>(static_cast<std::size_t>(a.ranks), "this host"),
      std::vector<int>(static_cast<std::size_t>(a.ranks), cores));
  std::cout << "throughput " << b.explain << "; all ranks on one host of " << cores << " cores\n";
  return 0;
}

struct predict_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  std::string platform_file;
  int ranks = 0;  // 0: enough for the placement
  int hosts = 1;
  std::uint64_t inflight = 0;
  std::string replicas;
  int cores = 0;
  std::string emulate;
};

// No MPI: the model's arithmetic on the spec, the placement and a platform file.
int do_predict(const predict_args& a) {
  auto spec = model_spec(a.spec_file, a.scenario, a.inflight, a.replicas);
  const auto plat = mpipe::load_platform(a.platform_file);
  const mpipe::link_emulation emu =
      a.emulate.empty() ? mpipe::link_emulation{} : mpipe::parse_emulated_link(a.emulate);
  // Without --ranks: one per stage instance for spread (each gets its own rank), else as many
  // as the placement's highest rank needs.
  int ranks = a.ranks;
  if (ranks == 0) {
    int instances = 0;
    for (const auto& st : spec.stages) instances += std::max(1, st.replicas);
    const auto probe = mpipe::resolve_placement(spec, a.placement, 1'000'000);
    int top = 0;
    for (const auto& rs : probe.replica_ranks)
      for (int r : rs) top = std::max(top, r);
    ranks = probe.mode == "spread" ? instances : top + 1;
  }
  if (a.hosts > ranks)
    throw mpipe::spec_error("<command line>", 0, "--hosts",
                            std::to_string(a.hosts) + " hosts for " + std::to_string(ranks) +
                                " rank(s): give at most one host per rank");
  const auto where = mpipe::resolve_placement(spec, a.placement, ranks);
  const auto hosts = mpipe::block_hosts(ranks, a.hosts);
  const auto pred = mpipe::predict_latency(spec, where, plat, hosts, emu);

  std::cout << "Prediction for pipeline '" << spec.name << "' (" << spec.file << ") on " << ranks
            << " rank(s) over " << a.hosts << " host(s), placement " << where.mode << ": "
            << where.to_string(spec) << "\nplatform '" << plat.name << "' (" << plat.file << ")";
  if (!a.emulate.empty()) std::cout << "; EMULATED LINK (what-if): " << a.emulate;
  if (const auto w = stand_in_warning(plat, spec, where, hosts); !w.empty()) std::cout << "\n" << w;
  std::cout << "\n\nItem latency: predicted " << fixed(pred.item_ms, 3)
            << " ms; free-communication critical path " << fixed(pred.free_ms, 3)
            << " ms; communication adds " << fixed(pred.item_ms - pred.free_ms, 3) << " ms ("
            << fixed(pred.free_ms > 0 ? 100.0 * (pred.item_ms / pred.free_ms - 1.0) : 0.0, 2)
            << " %)\nPredicted critical path:";
  for (int s : pred.path) std::cout << ' ' << spec.stages[static_cast<std::size_t>(s)].name;
  std::cout << " -> " << spec.source << "\n\n";

  std::cout << "Edges (cost = alpha + bytes/bandwidth + serialize + deserialize on the tier; "
               "ratio = work the hop serves / cost; * = on the critical path)\n";
  text_table edges(
      {"edge", "tier", "ranks", "bytes", "serial.", "cost ms", "work ms", "ratio", "verdict"},
      {true, true, false, false, false, false, false, false, true});
  for (const auto& e : pred.edges) {
    const bool in_memory = e.where == mpipe::tier::same_rank && !e.mixed;
    edges.add({e.from + "->" + e.to + (e.on_critical_path ? "*" : ""),
               std::string(mpipe::to_string(e.where)) + (e.mixed ? "+" : ""),
               std::to_string(e.from_rank) + "->" + std::to_string(e.to_rank),
               std::to_string(e.bytes), in_memory ? "-" : mpipe::to_string(e.serialization),
               fixed(e.cost_ms, 4), fixed(e.work_ms, 1),
               std::isinf(e.ratio) ? std::string("-") : fixed(e.ratio, 1), e.verdict});
  }
  edges.print(std::cout);
  bool any_mixed = false;
  for (const auto& e : pred.edges) any_mixed |= e.mixed;
  if (any_mixed)
    std::cout << "  (+: replicas of this edge sit in different tiers; the costliest pair is "
                 "shown and used)\n";

  const int cores =
      a.cores > 0 ? a.cores : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const auto b = mpipe::compute_throughput_bound(
      spec, where, hosts, std::vector<int>(static_cast<std::size_t>(ranks), cores), emu);
  std::cout << "\nThroughput " << b.explain << "; " << cores << " cores per host, communication "
            << (b.limiting_link.empty() ? "free" : "free but for the emulated link's bandwidth")
            << "\n";

  const auto am = mpipe::pipeline_amdahl(spec, plat, emu);
  std::cout << "\nAmdahl with communication (the article): speedup(N) = 1 / ((1-P) + P/N + C*N)\n"
            << "  T1 = " << fixed(am.t1_ms, 1)
            << " ms (all stages' work, one after another); P = 1 - critical path / T1 = 1 - "
            << fixed(am.critical_ms, 1) << " / " << fixed(am.t1_ms, 1) << " = " << fixed(am.p, 4)
            << "\n  C = one cross-host message (" << am.bytes
            << " B) / T1 = " << fixed(am.message_ms, 4) << " / " << fixed(am.t1_ms, 1) << " = "
            << fixed(am.c, 6) << "\n  per message: T1 / (T1 (1-P) + T1 P/N + (N-1) x "
            << fixed(am.message_ms, 4) << " ms)\n";
  std::cout << "  " << std::setw(4) << "N" << std::setw(12) << "Amdahl" << std::setw(12)
            << "with C*N" << std::setw(14) << "per message\n";
  for (const auto& r : mpipe::amdahl_table(am, {1, 2, 4, 8, 16, 32}))
    std::cout << "  " << std::setw(4) << r.n << std::setw(11) << fixed(r.plain, 3) << "x"
              << std::setw(11) << fixed(r.with_c, 3) << "x" << std::setw(12)
              << fixed(r.per_message, 3) << "x\n";
  std::cout << "  (P/N assumes the off-path work divides evenly over N processors; the item "
               "latency above is this placement's own number)\n";
  return 0;
}

struct advise_args {
  std::string spec_file;
  std::string scenario;
  std::string platform_file;
  int ranks = 0;
  int hosts = 1;
  std::string objective = "latency";
  int top = 5;
  std::uint64_t inflight = 0;
  std::string replicas;
  int max_replicas = 0;  // 0: the number of ranks for throughput, 1 (no search) for latency
  int cores = 0;
  std::string emulate;
  bool verify = false;  // run the top 3 in this MPI job
  std::uint64_t items = 3;
  double time_scale = 1.0;
  std::string out = "results/mpipe.h5";
};

int verify_advice(const advise_args& a, const mpipe::pipeline_spec& spec,
                  const std::vector<mpipe::placement_advice>& best, const mpipe::platform& plat,
                  boost::mpi::communicator& world, int argc, char** argv);

// An advice as the user replays it: the placement map, and --replicas when the search chose them.
std::string advice_text(const mpipe::pipeline_spec& spec, const mpipe::placement_advice& b) {
  if (b.replicas.empty()) return b.where.to_string(spec);
  auto grown = spec;
  mpipe::apply_replicas(grown, b.replicas);
  return b.where.to_string(grown) + " --replicas " + b.replicas;
}

// The model over the placements of the spec on --ranks ranks, the best --top printed. No MPI,
// unless --verify: then it runs under mpirun and measures the first three.
int do_advise(const advise_args& a, int argc, char** argv) {
  std::optional<boost::mpi::environment> env;
  std::optional<boost::mpi::communicator> world;
  if (a.verify) {
    env.emplace(argc, argv, boost::mpi::threading::funneled, false);
    world.emplace();
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (world->size() != a.ranks) {
      if (world->rank() == 0)
        std::cerr << "mpipe: error: <command line>: field '--verify': runs the placements on "
                     "this job's ranks, so start it with mpirun -np "
                  << a.ranks << " (this job has " << world->size() << ")" << std::endl;
      return 2;
    }
    if (world->rank() != 0) std::cout.setstate(std::ios::failbit);  // one report, from rank 0
  }
  auto spec = model_spec(a.spec_file, a.scenario, a.inflight, a.replicas);
  if (a.verify) {
    // Advise on what will run: the scaled work, so predicted and measured compare directly.
    mpipe::run_options scale;
    scale.time_scale = a.time_scale;
    scale.items = a.items;
    spec = mpipe::apply_overrides(spec, scale);
  }
  const auto plat = mpipe::load_platform(a.platform_file);
  const auto goal = mpipe::parse_objective(a.objective);
  const mpipe::link_emulation emu =
      a.emulate.empty() ? mpipe::link_emulation{} : mpipe::parse_emulated_link(a.emulate);
  if (a.hosts > a.ranks)
    throw mpipe::spec_error("<command line>", 0, "--hosts",
                            std::to_string(a.hosts) + " hosts for " + std::to_string(a.ranks) +
                                " rank(s): give at most one host per rank");
  const auto hosts = mpipe::block_hosts(a.ranks, a.hosts);
  const int cores =
      a.cores > 0 ? a.cores : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const std::vector<int> cores_per_rank(static_cast<std::size_t>(a.ranks), cores);
  mpipe::advise_stats st;
  auto best = mpipe::advise_placements(spec, plat, hosts, cores_per_rank, goal, emu,
                                       std::max(a.top, 10), mpipe::search_mode::automatic, &st);
  // Replicas pay for throughput; for latency they only break ties, so they are searched there
  // only when asked (--max-replicas).
  const int max_replicas =
      a.max_replicas > 0 ? a.max_replicas : (goal == mpipe::objective::throughput ? a.ranks : 1);
  const std::uint64_t placements_evaluated = st.evaluated;
  if (max_replicas > 1)
    best = mpipe::grow_replicas(spec, best, plat, hosts, cores_per_rank, goal, emu, max_replicas,
                                a.top, &st);
  else if (best.size() > static_cast<std::size_t>(a.top))
    best.resize(static_cast<std::size_t>(a.top));

  std::cout << "Advice for pipeline '" << spec.name << "' (" << spec.file << ") on " << a.ranks
            << " rank(s) over " << a.hosts << " host(s), " << cores
            << (cores == 1 ? " core" : " cores") << " per host; platform '" << plat.name << "' ("
            << plat.file << ")";
  if (!a.emulate.empty()) std::cout << "; EMULATED LINK (what-if): " << a.emulate;
  // Replicas add no stages or edges, so the spec's edges index the first choice's placement.
  if (!best.empty())
    if (const auto w = stand_in_warning(plat, spec, best.front().where, hosts, "the first choice");
        !w.empty())
      std::cout << "\n" << w;
  std::cout << "\nObjective: " << mpipe::to_string(goal);
  if (goal == mpipe::objective::latency)
    std::cout << " (lowest predicted item latency; ties: fewer ranks, then higher bound)";
  else
    std::cout << " (highest throughput bound, communication taken as free; ties: lower "
                 "predicted latency)";
  std::cout << "\nSearch: ";
  if (st.exhaustive) {
    std::cout << "exhaustive over " << a.ranks << "^" << spec.stages.size() - 1 << " = "
              << fixed(st.space, 0) << " placements (source " << spec.source
              << " on rank 0, replicas with their stage), " << st.evaluated
              << " evaluated after skipping symmetric duplicates (interchangeable ranks/hosts)\n";
  } else {
    std::cout << "heuristic (" << a.ranks << "^" << spec.stages.size() - 1
              << " > 2000000): greedy in topological order, then single-stage moves while they "
                 "improve; "
              << placements_evaluated << " placements evaluated; not guaranteed optimal\n";
  }
  if (max_replicas > 1)
    std::cout << "Replicas: from the best 10, one replica at a time where it helps most (any "
                 "stage the farm rules allow, any rank), up to "
              << std::min(max_replicas, a.ranks) << " per stage, while the objective improves; "
              << st.evaluated - placements_evaluated
              << " more placements evaluated; a heuristic, not every count\n";
  else
    std::cout << "Replicas: as the spec (and --replicas) give them; --max-replicas N searches "
                 "counts up to N\n";
  std::cout << "\n  " << std::setw(3) << "#" << std::setw(13) << "latency ms" << std::setw(16)
            << "bound items/s"
            << "  placement\n";
  const std::string indent(34, ' ');
  for (std::size_t i = 0; i < best.size(); ++i) {
    const auto& b = best[i];
    std::cout << "  " << std::setw(3) << i + 1 << std::setw(13) << fixed(b.item_ms, 3)
              << std::setw(16) << fixed(b.items_per_s, 3) << "  " << advice_text(spec, b) << "\n"
              << indent << "why: " << b.why << "\n";
  }
  if (best.empty()) return 0;
  const auto& first = best.front();
  std::cout << "\nFirst choice";
  for (const std::string other : {"pack", "spread"}) {
    const auto p = mpipe::evaluate_placement(spec, mpipe::resolve_placement(spec, other, a.ranks),
                                             plat, hosts, cores_per_rank, goal, emu);
    const double gain = p.item_ms > 0 ? 100.0 * (p.item_ms - first.item_ms) / p.item_ms : 0.0;
    std::cout << (other == "pack" ? " vs " : "; vs ") << other << ": " << fixed(first.item_ms, 3)
              << " vs " << fixed(p.item_ms, 3) << " ms (" << fixed(gain, 2) << " % lower latency";
    if (goal == mpipe::objective::throughput) {
      const double tgain = p.items_per_s > 0 && !std::isinf(p.items_per_s)
                               ? 100.0 * (first.items_per_s / p.items_per_s - 1.0)
                               : 0.0;
      std::cout << ", bound " << fixed(first.items_per_s, 3) << " vs " << fixed(p.items_per_s, 3)
                << " items/s, " << fixed(tgain, 2) << " % higher";
    }
    std::cout << ")";
  }
  std::cout << "\n";
  if (a.verify) return verify_advice(a, spec, best, plat, *world, argc, argv);
  return 0;
}

// --verify: the first three placements run for real, one after another in this job, each run
// predicting itself (stored with the run), then predicted against measured side by side.
int verify_advice(const advise_args& a, const mpipe::pipeline_spec& spec,
                  const std::vector<mpipe::placement_advice>& best, const mpipe::platform& plat,
                  boost::mpi::communicator& world, int argc, char** argv) {
  const int rank = world.rank();
  try {
    check_writable_on_all(world, a.out);
  } catch (const mpipe::error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
  struct outcome {
    std::string placement;
    double predicted, measured;  // item latency, ms
    double bound, items_per_s;   // throughput bound and steady throughput, items/s
  };
  std::vector<outcome> rows;
  try {
    for (std::size_t i = 0; i < best.size() && i < 3; ++i) {
      mpipe::run_options opt;
      auto grown = spec;
      mpipe::apply_replicas(grown, best[i].replicas);
      opt.placement = best[i].where.to_string(grown);
      opt.replicas = best[i].replicas;
      opt.progress = false;
      opt.predict_with = plat;
      opt.command_line = joined(argc, argv) + "  # verify #" + std::to_string(i + 1);
      if (!a.emulate.empty()) opt.emulate = mpipe::parse_emulated_link(a.emulate);
      if (rank == 0)
        std::cout << "verify #" << i + 1 << ": running " << advice_text(spec, best[i]) << " ("
                  << spec.items << " items)" << std::endl;
      auto r = mpipe::run_pipeline(world, spec, opt);
      if (rank != 0) continue;
      rows.push_back({advice_text(spec, best[i]), r.predicted_ms, mpipe::mean_latency_ms(r.record),
                      best[i].items_per_s, r.throughput_items_per_s});
      const std::string id = mpipe::append_run(a.out, std::move(r.record));
      std::cout << "  appended run " << id << " to " << a.out << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (rank != 0) return 0;
  // Throughput advice is checked on throughput (the bound against the steady rate), latency
  // advice on latency: each objective is judged by what it promised.
  const bool tput = mpipe::parse_objective(a.objective) == mpipe::objective::throughput;
  const auto measured = [&](const outcome& o) { return tput ? o.items_per_s : o.measured; };
  std::size_t best_measured = 0;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (tput ? measured(rows[i]) > measured(rows[best_measured])
             : measured(rows[i]) < measured(rows[best_measured]))
      best_measured = i;
  std::cout << "\nVerified ("
            << (tput ? "steady throughput against the bound" : "mean item latency") << " over "
            << spec.items << " items):\n  " << std::setw(3) << "#" << std::setw(15)
            << "predicted ms" << std::setw(14) << "measured ms" << std::setw(10) << "error %";
  if (tput) std::cout << std::setw(16) << "bound items/s" << std::setw(17) << "measured items/s";
  std::cout << "  placement\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::cout << "  " << std::setw(3) << i + 1 << std::setw(15) << fixed(rows[i].predicted, 3)
              << std::setw(14) << fixed(rows[i].measured, 3) << std::setw(10)
              << fixed((rows[i].measured - rows[i].predicted) / rows[i].predicted * 100.0, 2);
    if (tput)
      std::cout << std::setw(16) << fixed(rows[i].bound, 3) << std::setw(17)
                << fixed(rows[i].items_per_s, 3);
    std::cout << "  " << rows[i].placement << "\n";
  }
  if (tput)
    std::cout << "(with items in flight, measured latency includes queueing that the "
                 "single-item prediction leaves out)\n";
  if (!rows.empty()) {
    const double first = measured(rows[0]), top = measured(rows[best_measured]);
    std::cout << "Best measured: #" << best_measured + 1 << "; the first choice is "
              << fixed(std::abs(first - top) / top * 100.0, 2) << " % "
              << (tput ? "below" : "above") << " it\n";
  }
  return 0;
}

// One line per built-in scenario: what it is and the numbers that set its bounds.
int do_scenarios() {
  std::cout << std::left << std::setw(13) << "scenario" << std::right << std::setw(7) << "stages"
            << std::setw(7) << "items" << std::setw(10) << "inflight" << std::setw(16)
            << "critical path"
            << "  summary\n";
  for (const auto& s : mpipe::scenarios()) {
    const auto spec = mpipe::scenario_spec(s.name);
    const mpipe::graph g(spec);
    std::ostringstream path;
    path << g.critical_path_ms() << " ms";
    std::cout << std::left << std::setw(13) << s.name << std::right << std::setw(7)
              << spec.stages.size() << std::setw(7) << spec.items << std::setw(10) << spec.inflight
              << std::setw(16) << path.str() << "  " << s.summary << "\n";
  }
  std::cout << "Run one: mpipe run --scenario NAME [--time-scale 0.01] [--items N] "
               "[--inflight K] [--replicas STAGE=R]; the files are jobs/pipelines/NAME.yaml\n";
  return 0;
}

struct bench_args {
  std::string sizes;
  bool quick = false;
  int reps = 0;     // 0: by size
  int warmup = -1;  // -1: reps / 10
  std::string out = "results/mpipe.h5";
  bool no_out = false;
  bool no_progress = false;
};

// bench and calibrate measure alike: the same options, one translation.
mpipe::bench_options bench_options_of(const bench_args& a, int argc, char** argv) {
  mpipe::bench_options opt;
  opt.quick = a.quick;
  if (a.reps > 0) opt.reps = a.reps;
  if (a.warmup >= 0) opt.warmup = a.warmup;
  opt.progress = !a.no_progress;
  opt.command_line = joined(argc, argv);
  return opt;
}

void add_bench_options(CLI::App* cmd, bench_args& a, const std::string& sizes_default,
                       const std::string& quick_help, const std::string& kind,
                       const std::string& no_out_help) {
  cmd->add_option("--sizes", a.sizes,
                  "Message sizes, comma separated, K = KiB, M = MiB (e.g. 0,64,1K,1M); default: " +
                      sizes_default);
  cmd->add_flag("--quick", a.quick, quick_help);
  cmd->add_option("--reps", a.reps,
                  "Timed ping-pong round trips per size (default: by size, up to 10000)")
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--warmup", a.warmup, "Untimed round trips before them (default: reps / 10)")
      ->check(CLI::Range(0, 10'000'000));
  auto* out =
      cmd->add_option("--out", a.out, "HDF5 results file; the run is appended (kind=" + kind + ")")
          ->capture_default_str();
  cmd->add_flag("--no-out", a.no_out, no_out_help)->excludes(out);
  cmd->add_flag("--no-progress", a.no_progress, "No progress lines");
}

// `mpipe calibrate`: bench over the calibration grid, fitted, appended as kind=calibration, and
// a platform file for `mpipe predict` written next to the results (never over an existing one).
int do_calibrate(const bench_args& a, const std::string& platform_out, int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rank = world.rank();
  mpipe::bench_options opt = bench_options_of(a, argc, argv);
  std::string platform = platform_out;
  try {
    if (!a.sizes.empty()) opt.sizes = mpipe::parse_bench_sizes(a.sizes);
    if (!a.no_out) check_writable_on_all(world, a.out);
    if (platform.empty()) {
      // Rank 0's clock names the file for everyone: ranks may cross a second boundary apart.
      char stamp[32] = {};
      const std::time_t now = std::time(nullptr);
      std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", std::gmtime(&now));
      std::string name = stamp;
      boost::mpi::broadcast(world, name, 0);
      platform = "results/platform-" + name + ".yaml";
    }
    std::ifstream exists(platform);
    if (exists.good())
      throw mpipe::spec_error("<command line>", 0, "--platform-out",
                              "'" + platform + "' exists; mpipe never overwrites a file");
    check_writable_on_all(world, platform);
  } catch (const mpipe::error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
  if (rank == 0)
    std::cout << "mpipe " << mpipe::version << ": calibration on " << world.size()
              << " rank(s); results -> " << (a.no_out ? std::string("(not stored)") : a.out)
              << ", platform -> " << platform << std::endl;
  try {
    auto record = mpipe::calibration_run(world, opt);
    if (rank == 0) {
      std::cout << "\n" << mpipe::calibration_explanation();
      mpipe::print_calibration(std::cout, record.calibration);
      std::string id = "(not stored)";
      if (!a.no_out) id = mpipe::append_run(a.out, record);
      record.run_id = id;
      std::ofstream f(platform);
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      f << mpipe::platform_yaml(record, std::string("calibrated-") + host);
      if (!f) throw mpipe::io_error("cannot write '" + platform + "'");
      if (!a.no_out) std::cout << "\nAppended run " << id << " to " << a.out << std::endl;
      std::cout << "Platform file: " << platform << " (use: mpipe predict --platform " << platform
                << ")" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return 0;
}

int do_bench(const bench_args& a, int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rank = world.rank();

  mpipe::bench_options opt = bench_options_of(a, argc, argv);
  try {
    // Every rank parses the same arguments, so a bad list fails everywhere alike, before work.
    if (!a.sizes.empty()) opt.sizes = mpipe::parse_bench_sizes(a.sizes);
    if (!a.no_out) check_writable_on_all(world, a.out);
  } catch (const mpipe::error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
  if (rank == 0)
    std::cout << "mpipe " << mpipe::version << ": communication benchmark on " << world.size()
              << " rank(s)" << (a.quick ? " (quick)" : "") << "; results -> "
              << (a.no_out ? std::string("(not stored)") : a.out) << std::endl;

  try {
    auto record = mpipe::bench_run(world, opt);
    if (rank == 0) {
      mpipe::print_bench(std::cout, record.bench);
      if (!a.no_out) {
        const std::string id = mpipe::append_run(a.out, std::move(record));
        std::cout << "\nAppended run " << id << " to " << a.out << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed payload buffers in the process: by default glibc maps every block above 128 KiB
  // afresh and unmaps it on free, and on a VM each new 4 KiB page then costs ~12 us to fault in
  // (measured: a 1 MiB allocation 3 ms vs 10 us with these settings). 32 MiB is glibc's ceiling
  // for the mmap threshold; larger payloads still map fresh memory.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  const bool printer = launcher_rank() == 0;
  CLI::App app{
      "mpipe: run a pipeline of stages on MPI ranks, time every hop, and record it in HDF5.\n"
      "Typical: mpirun -np 4 mpipe run --placement spread"};
  app.set_version_flag("--version",
                       std::string("mpipe ") + mpipe::version + " (" + mpipe::git_commit + ")");
  app.require_subcommand(1);

  run_args ra;
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
  run->add_option("--kernel", ra.kernel, "Override every stage's kernel")
      ->check(CLI::IsMember({"sleep", "spin", "compute"}));
  run->add_option("--wait", ra.wait,
                  "How idle ranks wait for messages: spin (lowest latency, burns a core), yield, "
                  "block (spin briefly, then sleep: leaves cores to compute), auto (spin when each "
                  "host has 2 cores per rank + 1 per busy stage thread, else block)")
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
  run->add_option(
         "--inject-fault", ra.inject_fault,
         "Testing aid: KIND:STAGE:ITEM[,...], KIND stall|crash|fail|corrupt (also MPIPE_FAULT)")
      ->group("");  // hidden: for tests, see docs/faults.md

  validate_args va;
  auto* validate = app.add_subcommand(
      "validate",
      "Check a spec and a placement without running (no MPI needed); print the latency and "
      "throughput bounds");
  add_spec_options(*validate, va.spec_file, va.scenario);
  validate->add_option("--placement", va.placement, "pack | spread | map like 'A=0,B=1,C3#1=2'");
  validate->add_option("--ranks", va.ranks, "World size to resolve the placement for")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  validate->add_option("--inflight", va.inflight, "Items in flight (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  validate->add_option("--replicas", va.replicas,
                       "Replicate stages: 'Render=4,B=2' (overrides the spec's replicas)");
  validate
      ->add_option("--cores", va.cores,
                   "Cores of the one host all ranks are taken to share, for the core bound "
                   "(default: this machine's)")
      ->check(CLI::Range(1, 1'000'000));

  auto* scenarios = app.add_subcommand(
      "scenarios",
      "List the built-in scenarios (jobs/pipelines/*.yaml): stages, items, in flight, critical "
      "path");

  bench_args ba;
  auto* bench = app.add_subcommand(
      "bench",
      "Measure what one hop costs on this job's ranks (same-rank, same-host, cross-host) per "
      "serialization, next to raw MPI; append the table to an HDF5 file");
  add_bench_options(bench, ba, "0 and powers of 4 from 4 B to 64 MiB",
                    "Sizes 0,64,1K,64K,1M with few repetitions: a few seconds (CI)", "bench",
                    "Print the table only; write no file");

  bench_args ca;
  std::string platform_out;
  auto* calibrate = app.add_subcommand(
      "calibrate",
      "Measure this job's communication costs (mpipe bench over 0 B - 1 MiB) and fit per tier and "
      "serialization a latency alpha and a cost per byte; append the run (kind=calibration) and "
      "write a platform file for mpipe predict");
  add_bench_options(calibrate, ca, "0,64,1K,4K,16K,64K,256K,1M",
                    "Few repetitions per size: a few seconds", "calibration",
                    "Store no run (the platform file is still written)");
  calibrate->add_option("--platform-out", platform_out,
                        "Platform file to write (default results/platform-<UTC time>.yaml); "
                        "refused if it exists");

  predict_args pa;
  auto* predict = app.add_subcommand(
      "predict",
      "Predict a placement's item latency and throughput on a platform (no MPI needed): the "
      "critical path with per-edge communication costs, the compute/communication ratio per "
      "edge, and the article's Amdahl table");
  add_spec_options(*predict, pa.spec_file, pa.scenario);
  predict->add_option("--placement", pa.placement,
                      "pack | spread | map like 'A=0,B=1,C3#1=2'; default: the spec's map, "
                      "else spread");
  predict
      ->add_option("--platform", pa.platform_file,
                   "Platform file (YAML): per-tier alpha and bandwidth, per-serialization costs; "
                   "see jobs/platforms/")
      ->required();
  predict
      ->add_option("--ranks", pa.ranks,
                   "World size (default: one rank per stage instance for spread, else what the "
                   "placement needs)")
      ->check(CLI::Range(1, 1'000'000));
  predict
      ->add_option("--hosts", pa.hosts,
                   "Hosts the ranks are split over, evenly in blocks (4 ranks, 2 hosts: 0,1 | "
                   "2,3); sets which hops are same-host and which cross-host")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  predict->add_option("--inflight", pa.inflight, "Items in flight (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  predict->add_option("--replicas", pa.replicas,
                      "Replicate stages: 'Render=4,B=2' (overrides the spec's replicas)");
  predict
      ->add_option("--cores", pa.cores,
                   "Cores per host for the throughput bound (default: this machine's)")
      ->check(CLI::Range(1, 1'000'000));
  predict->add_option("--emulate-link", pa.emulate,
                      "What-if link as `mpipe run` takes it, e.g. 'latency=5ms' (scope "
                      "cross-rank by default): an affected hop costs max(platform cost, latency "
                      "+ bytes/bandwidth), as the runtime holds it");

  advise_args aa;
  auto* advise = app.add_subcommand(
      "advise",
      "Search placements on N ranks for the best predicted latency or throughput on a platform "
      "(no MPI needed): the top K with why, and the gain over pack and spread");
  add_spec_options(*advise, aa.spec_file, aa.scenario);
  advise
      ->add_option("--platform", aa.platform_file,
                   "Platform file (YAML): per-tier alpha and bandwidth, per-serialization costs; "
                   "see jobs/platforms/")
      ->required();
  advise->add_option("--ranks", aa.ranks, "World size to place the stages on")
      ->required()
      ->check(CLI::Range(1, 1'000'000));
  advise
      ->add_option("--hosts", aa.hosts,
                   "Hosts the ranks are split over, evenly in blocks (4 ranks, 2 hosts: 0,1 | "
                   "2,3)")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  advise
      ->add_option("--objective", aa.objective,
                   "latency (lowest predicted item latency) or throughput (highest throughput "
                   "bound)")
      ->check(CLI::IsMember({"latency", "throughput"}))
      ->capture_default_str();
  advise->add_flag("--verify", aa.verify,
                   "Run the first three placements in this MPI job (mpirun -np RANKS) and print "
                   "measured against predicted latency; each run is appended to --out");
  advise->add_option("--items", aa.items, "Items per verify run")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}))
      ->capture_default_str();
  advise
      ->add_option("--time-scale", aa.time_scale,
                   "Multiply every stage's work, for the advice and the verify runs alike")
      ->capture_default_str();
  advise->add_option("--out", aa.out, "HDF5 results file for the verify runs")
      ->capture_default_str();
  advise->add_option("--top", aa.top, "How many placements to print")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  advise->add_option("--inflight", aa.inflight, "Items in flight (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  advise->add_option("--replicas", aa.replicas,
                     "Replicate stages: 'Render=4,B=2' (overrides the spec's replicas)");
  advise
      ->add_option("--max-replicas", aa.max_replicas,
                   "Search replica counts up to N per stage (at most one per rank); default: "
                   "--ranks for --objective throughput, 1 (no search) for latency")
      ->check(CLI::Range(1, 256));
  advise
      ->add_option("--cores", aa.cores,
                   "Cores per host for the throughput bound (default: this machine's)")
      ->check(CLI::Range(1, 1'000'000));
  advise->add_option("--emulate-link", aa.emulate,
                     "What-if link as `mpipe run` takes it, e.g. 'latency=5ms'");

  mpipe::cli::command_action sweep_action;
  auto* sweep = add_sweep_command(app, sweep_action);
  mpipe::cli::command_action report_action, export_action;
  auto* report = add_report_command(app, report_action);
  auto* export_cmd = add_export_command(app, export_action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return printer ? app.exit(e) : 0;  // --help, --version
    if (printer)
      std::cerr << "mpipe: error: " << e.what() << "\nRun 'mpipe --help' or 'mpipe run --help'.\n";
    return 2;
  }

  ra.payload_given = run->count("--payload-bytes") > 0;
  ra.timeout_given = run->count("--timeout") > 0;
  if (run->parsed()) return do_run(ra, argc, argv);
  if (bench->parsed()) return do_bench(ba, argc, argv);
  if (calibrate->parsed()) return do_calibrate(ca, platform_out, argc, argv);
  if (sweep->parsed()) return sweep_action(argc, argv);
  if (report->parsed()) return report_action(argc, argv);
  if (export_cmd->parsed()) return export_action(argc, argv);
  try {
    if (scenarios->parsed()) return do_scenarios();
    if (predict->parsed()) return do_predict(pa);
    if (advise->parsed()) return do_advise(aa, argc, argv);
    return do_validate(va);
  } catch (const mpipe::error& e) {
    std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
}
