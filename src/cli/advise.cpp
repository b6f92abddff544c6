// `mpipe advise`: search placements (and replica counts) for the best predicted latency or
// throughput on a platform file, without MPI; --verify runs the first three under mpirun.
#include "mpipe/advise.hpp"

#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stage_times.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

namespace {

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
  std::string kernel;  // as `mpipe run --kernel`
  std::string out = "results/mpipe.h5";
  std::string stage_times;  // FILE[:RUN]: a previous run's measured stage times
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

// What was searched: the objective, exhaustive or heuristic and how much, and the replica search.
void print_search(const advise_args& a, const mpipe::pipeline_spec& spec, mpipe::objective goal,
                  const mpipe::advise_stats& st, std::uint64_t placements_evaluated,
                  int max_replicas) {
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
}

// The first choice against pack and spread on the same ranks: what the search gained.
void print_gain(const advise_args& a, const mpipe::pipeline_spec& spec,
                const mpipe::placement_advice& first, const mpipe::platform& plat,
                const std::vector<std::string>& hosts, const std::vector<int>& cores_per_rank,
                mpipe::objective goal, const mpipe::emulated_link& emu) {
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
}

// The model over the placements of the spec on --ranks ranks, the best --top printed. No MPI,
// unless --verify: then it runs under mpirun and measures the first three.
int do_advise(const advise_args& a, int argc, char** argv) {
  std::unique_ptr<boost::mpi::environment> env;
  std::optional<boost::mpi::communicator> world;
  if (a.verify) {
    env = start_funneled_mpi(argc, argv);
    if (!env) return 2;
    world.emplace();
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
  mpipe::check_user_stages(spec);  // plugins, functions, types; inputs: sets the item count
  // Measured times first, so --time-scale scales them like any work.
  const std::string times =
      a.stage_times.empty() ? std::string() : mpipe::use_stage_times(spec, a.stage_times);
  {
    // Advise on what will run: the scaled work and the kernel, as `mpipe run` applies them, so
    // predicted and measured compare directly (the items only for the verify runs).
    mpipe::run_options scale;
    scale.time_scale = a.time_scale;
    if (!a.kernel.empty()) scale.kernel = parse_kernel(a.kernel);
    if (a.verify) scale.items = a.items;
    spec = mpipe::apply_overrides(spec, scale);
  }
  const auto plat = mpipe::load_platform(a.platform_file);
  const auto goal = mpipe::parse_objective(a.objective);
  const mpipe::emulated_link emu =
      a.emulate.empty() ? mpipe::emulated_link{} : mpipe::parse_emulated_link(a.emulate);
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
  if (!times.empty()) std::cout << "\n" << times;
  // Replicas add no stages or edges, so the spec's edges index the first choice's placement.
  if (!best.empty())
    if (const auto w = stand_in_warning(plat, spec, best.front().where, hosts, "the first choice");
        !w.empty())
      std::cout << "\n" << w;
  print_search(a, spec, goal, st, placements_evaluated, max_replicas);
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
  print_gain(a, spec, first, plat, hosts, cores_per_rank, goal, emu);
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
  // Each verify run would write the same result files, and mpipe never overwrites them.
  mpipe::pipeline_spec run_spec = spec;
  if (!run_spec.outputs.empty()) {
    if (rank == 0)
      std::cout << "note: the verify runs write no outputs: (" << run_spec.outputs
                << "): each would write the same files" << std::endl;
    run_spec.outputs.clear();
  }
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
      auto r = mpipe::run_pipeline(world, run_spec, opt);
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

}  // namespace

CLI::App* add_advise_command(CLI::App& app, command_action& action) {
  auto args = std::make_shared<advise_args>();
  auto& aa = *args;
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
  advise->add_option("--kernel", aa.kernel,
                     "Override every synthetic stage's kernel (sleep|spin|compute), for the advice "
                     "and the verify runs alike");
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
  advise->add_option("--stage-times", aa.stage_times,
                     "FILE[:RUN]: set every stage's work_ms to its measured service time in a "
                     "previous run (RUN, default the newest pipeline run in the results file)");
  action = [args](int argc, char** argv) { return do_advise(*args, argc, argv); };
  return advise;
}
