// `mpipe predict`: the model's arithmetic for one placement on a platform file, without MPI:
// item latency, per-edge costs and ratios, the throughput bound and the article's Amdahl table.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "mpipe/error.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/simulate.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stage_times.hpp"
#include "mpipe/tolerance.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

namespace {

struct predict_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  std::string platform_file;
  std::string out = "results/mpipe.h5";  // where the newest calibration is looked for
  int ranks = 0;                         // 0: enough for the placement
  int hosts = 1;
  std::uint64_t inflight = 0;
  std::string replicas;
  int cores = 0;
  std::string emulate;
  std::string stage_times;  // FILE[:RUN]: a previous run's measured stage times
  double time_scale = 1.0;  // as `mpipe run --time-scale`
  std::string kernel;       // as `mpipe run --kernel`
  std::uint64_t items = 0;  // items the simulation streams (0: the spec's)
};

// The simulated latency against the critical path: what communication adds to it, and what
// shared cores and queues add on top.
void print_latency(const mpipe::pipeline_spec& spec, const mpipe::latency_prediction& pred,
                   const mpipe::simulation_result& sim, int cores) {
  const double comm = pred.item_ms - pred.free_ms, rest = sim.mean_ms - pred.item_ms;
  std::cout << "\n\nItem latency: predicted " << fixed(sim.mean_ms, 3)
            << " ms; free-communication critical path " << fixed(pred.free_ms, 3)
            << " ms; communication adds " << fixed(comm, 3) << " ms ("
            << fixed(pred.free_ms > 0 ? 100.0 * comm / pred.free_ms : 0.0, 2)
            << " %), shared cores and queues " << fixed(rest, 3) << " ms\n  simulated: "
            << (sim.items == 1
                    ? std::string("one item (one in flight: every item alike)")
                    : std::to_string(sim.items) + " items, p95 " + fixed(sim.p95_ms, 3) + " ms")
            << "; CPU-bound stages share " << cores << (cores == 1 ? " core" : " cores")
            << " per host (processor sharing), sleep holds none\nPredicted critical path:";
  for (int s : pred.path) std::cout << ' ' << spec.stages[static_cast<std::size_t>(s)].name;
  std::cout << " -> " << spec.source << "\n\n";
}

// The largest emulated link latency within 1 % and 10 %, per scope, and per edge between ranks
// the bandwidth below which its transfer outweighs its work.
void print_tolerance(const mpipe::pipeline_spec& spec, const mpipe::placement& where,
                     const mpipe::platform& plat, const std::vector<std::string>& hosts,
                     const mpipe::core_layout& cores, const mpipe::latency_prediction& pred) {
  // Each tolerance simulates its own baseline; the first one's is the value they all refer to.
  double base_ms = 0.0;
  text_table t({"scope", "within 1 %", "within 10 %"}, {true, false, false});
  for (const bool cross_host : {false, true}) {
    std::vector<std::string> row = {cross_host ? "cross-host hops" : "cross-rank hops"};
    for (const double pct : {0.01, 0.10}) {
      const auto tol = mpipe::tolerate_latency(spec, where, plat, hosts, cores, cross_host, pct);
      base_ms = tol.base_ms;
      row.push_back(std::isinf(tol.latency_ms) ? std::string("unbounded (no such hop)")
                                               : fixed(tol.latency_ms, 3) + " ms");
    }
    t.add(row);
  }
  std::cout << "\nLatency tolerance (simulated, without --emulate-link): the largest latency "
               "each hop of the scope may be held to (`--emulate-link latency=`) with the item "
               "latency within 1 % / 10 % of "
            << fixed(base_ms, 3) << " ms\n";
  t.print(std::cout);
  text_table b({"edge", "bytes", "work ms", "outweighs it below"}, {true, false, false, false});
  for (const auto& e : pred.edges) {
    const double bw = mpipe::dominating_bandwidth(e);
    if ((e.where == mpipe::tier::same_rank && !e.mixed) || bw <= 0.0) continue;
    b.add({e.from + "->" + e.to, std::to_string(e.bytes), fixed(e.work_ms, 1),
           fixed(bw / 1e6, 3) + " MB/s"});
  }
  std::cout << "Bandwidth below which an edge's transfer (bytes / bandwidth) costs more than the "
               "work it serves, per edge between ranks:\n";
  b.print(std::cout);
}

// No MPI: the model's arithmetic on the spec, the placement and a platform file.
int do_predict(const predict_args& a, const char* argv0) {
  auto spec = model_spec(a.spec_file, a.scenario, a.inflight, a.replicas);
  const std::string times =
      a.stage_times.empty() ? std::string() : mpipe::use_stage_times(spec, a.stage_times);
  // What `mpipe run` would run: the same overrides, by the same function.
  mpipe::run_options as_run;
  as_run.time_scale = a.time_scale;
  if (!a.kernel.empty()) as_run.kernel = parse_kernel(a.kernel);
  if (a.items) as_run.items = a.items;
  spec = mpipe::apply_overrides(spec, as_run);
  std::string which;
  const auto chosen = model_platform(a.platform_file, a.out, argv0, which);
  if (!chosen)
    throw mpipe::spec_error("<command line>", 0, "--platform",
                            "no platform: give --platform FILE, or run `mpipe calibrate` into " +
                                a.out +
                                " (the shipped jobs/platforms/laptop-shm.yaml was not "
                                "found either)");
  const auto& plat = *chosen;
  const mpipe::emulated_link emu =
      a.emulate.empty() ? mpipe::emulated_link{} : mpipe::parse_emulated_link(a.emulate);
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
            << where.to_string(spec) << "\nplatform " << which;
  if (!a.emulate.empty()) std::cout << "; EMULATED LINK (what-if): " << a.emulate;
  if (!times.empty()) std::cout << "\n" << times;
  if (const auto w = stand_in_warning(plat, spec, where, hosts); !w.empty()) std::cout << "\n" << w;
  const int cores =
      a.cores > 0 ? a.cores : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const std::vector<int> cores_per_rank(static_cast<std::size_t>(ranks), cores);
  const auto sim = mpipe::simulate(spec, where, plat, hosts,
                                   mpipe::shared_host_cores(hosts, cores_per_rank), emu);
  print_latency(spec, pred, sim, cores);
  const auto layout = mpipe::shared_host_cores(hosts, cores_per_rank);
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

  const auto b = mpipe::compute_throughput_bound(spec, where, hosts, cores_per_rank, emu);
  if (spec.inflight > 1)
    std::cout << "\nStream (simulated, " << sim.items << " items, " << spec.inflight
              << " in flight): " << fixed(sim.items_per_s, 1) << " items/s over the steady window";
  std::cout << "\nThroughput " << b.explain << "; " << cores << " cores per host, communication "
            << (b.limiting_link.empty() ? "free" : "free but for the emulated link's bandwidth")
            << "\n";
  print_tolerance(spec, where, plat, hosts, layout, pred);

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

}  // namespace

CLI::App* add_predict_command(CLI::App& app, command_action& action) {
  auto args = std::make_shared<predict_args>();
  auto& pa = *args;
  auto* predict = app.add_subcommand(
      "predict",
      "Predict a placement's item latency and throughput on a platform (no MPI needed): the "
      "critical path with per-edge communication costs, the compute/communication ratio per "
      "edge, and the article's Amdahl table");
  add_spec_options(*predict, pa.spec_file, pa.scenario);
  predict->add_option("--placement", pa.placement,
                      "pack | spread | map like 'A=0,B=1,C3#1=2'; default: the spec's map, "
                      "else spread");
  predict->add_option(
      "--platform", pa.platform_file,
      "Platform file (YAML): per-tier alpha and bandwidth, per-serialization costs; "
      "see jobs/platforms/ (default: the newest `mpipe calibrate` run in --out, "
      "else jobs/platforms/laptop-shm.yaml)");
  predict
      ->add_option("--out", pa.out,
                   "Results file whose newest calibration run is the platform when --platform "
                   "is not given")
      ->capture_default_str();
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
                   "Cores per host, shared by the CPU-bound stages of its ranks (default: this "
                   "machine's)")
      ->check(CLI::Range(1, 1'000'000));
  predict->add_option("--emulate-link", pa.emulate,
                      "What-if link as `mpipe run` takes it, e.g. 'latency=5ms' (scope "
                      "cross-rank by default): an affected hop costs max(platform cost, latency "
                      "+ bytes/bandwidth), as the runtime holds it");
  predict->add_option("--stage-times", pa.stage_times,
                      "FILE[:RUN]: set every stage's work_ms to its measured service time in a "
                      "previous run (RUN, default the newest pipeline run in the results file): "
                      "what user code and exec workers really take");
  predict->add_option("--time-scale", pa.time_scale,
                      "Multiply every synthetic stage's work_ms, as `mpipe run --time-scale`");
  predict->add_option("--kernel", pa.kernel,
                      "Override every synthetic stage's kernel (sleep|spin|compute), as `mpipe "
                      "run --kernel`");
  predict->add_option("--items", pa.items, "Items the simulation streams (default: the spec's)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  action = [args](int, char** argv) { return do_predict(*args, argv[0]); };
  return predict;
}
