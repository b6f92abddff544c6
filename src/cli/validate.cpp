// `mpipe validate` and `mpipe scenarios`: what a spec is and what bounds it, without MPI.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stage_times.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

namespace {

struct validate_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  int ranks = 1;
  std::uint64_t inflight = 0;  // 0: the spec's
  std::string replicas;
  int cores = 0;            // 0: this machine's
  std::string stage_times;  // FILE[:RUN]: a previous run's measured stage times
};

// No MPI: every rank is taken to be on this host, with this machine's cores unless --cores says
// otherwise, so the core bound is the one a single-machine job would meet.
int do_validate(const validate_args& a) {
  auto spec = model_spec(a.spec_file, a.scenario, a.inflight, a.replicas);
  const auto user_stages = mpipe::check_user_stages(spec);  // plugins, functions, types, inputs
  const std::string times =
      a.stage_times.empty() ? std::string() : mpipe::use_stage_times(spec, a.stage_times);
  const mpipe::graph g(spec);
  const auto where = mpipe::resolve_placement(spec, a.placement, a.ranks);
  std::cout << spec.file << ": pipeline '" << spec.name << "' is valid: " << spec.stages.size()
            << " stages, " << spec.edges.size() << " edges, " << spec.items << " items, "
            << spec.inflight << " in flight\n";
  if (!times.empty()) std::cout << times << "\n";
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
  for (const auto& line : user_stages) std::cout << "user code: " << line << "\n";
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

}  // namespace

CLI::App* add_validate_command(CLI::App& app, command_action& action) {
  auto args = std::make_shared<validate_args>();
  auto& va = *args;
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
  validate->add_option("--stage-times", va.stage_times,
                       "FILE[:RUN]: set every stage's work_ms to its measured service time in a "
                       "previous run (RUN, default the newest pipeline run in the results file)");
  action = [args](int, char**) { return do_validate(*args); };
  return validate;
}

CLI::App* add_scenarios_command(CLI::App& app, command_action& action) {
  auto* scenarios = app.add_subcommand(
      "scenarios",
      "List the built-in scenarios (jobs/pipelines/*.yaml): stages, items, in flight, critical "
      "path");
  action = [](int, char**) { return do_scenarios(); };
  return scenarios;
}
