// `mpipe compare FILE...`: runs gathered from many results files (one per Slurm array task, say)
// into one table per group, with a permutation test between the groups. The statistics live in
// the Python package (analysis/mpipe_analysis/compare.py, numpy); this file only parses the
// options, so that --help and bad options behave like every other subcommand, and hands over.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace {

struct compare_args {
  std::vector<std::string> files;
  std::string by = "placement";
  std::string metric = "latency";
  std::string format = "text";
  std::string out;
  bool force = false;
  int resamples = 10000;
  int seed = 0;
  double ci = 0.95;
  double alpha = 0.05;
};

void add_compare_options(CLI::App& cmd, compare_args& a) {
  cmd.add_option("files", a.files, "HDF5 results files (every complete pipeline run counts once)")
      ->required();
  cmd.add_option("--by", a.by,
                 "What makes a group: placement (placement_mode; a map by its resolved map), "
                 "transport (what carried the cross-rank hops, e.g. ob1/tcp or in-memory), "
                 "serialization, scenario (the spec's name)")
      ->check(CLI::IsMember({"placement", "transport", "serialization", "scenario"}))
      ->capture_default_str();
  cmd.add_option("--metric", a.metric,
                 "What the verdict compares: latency (each run's mean item latency, lower is "
                 "better) or throughput (items/s, higher is better)")
      ->check(CLI::IsMember({"latency", "throughput"}))
      ->capture_default_str();
  cmd.add_option("--format", a.format, "text (a table with units), csv or json")
      ->check(CLI::IsMember({"text", "csv", "json"}))
      ->capture_default_str();
  cmd.add_option("-o,--out", a.out,
                 "Write to this file instead of stdout; an existing file is refused unless "
                 "--force");
  cmd.add_flag("--force", a.force, "Replace an existing -o file");
  cmd.add_option("--resamples", a.resamples,
                 "Bootstrap resamples for the CI and random relabellings for the test (exact "
                 "when there are fewer relabellings)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  cmd.add_option("--seed", a.seed, "Seed of the random generator (same seed, same numbers)")
      ->capture_default_str();
  cmd.add_option("--ci", a.ci, "Level of the CI of each group's median")
      ->check(CLI::Range(0.5, 0.999))
      ->capture_default_str();
  cmd.add_option("--alpha", a.alpha, "A difference is clear when the test's p < alpha")
      ->check(CLI::Range(0.0001, 0.5))
      ->capture_default_str();
}

// The options as mpipe_analysis.compare's argparse spells them; the files after "--", so a file
// named like an option stays a file.
std::vector<std::string> python_args(const compare_args& a) {
  std::vector<std::string> args{"--by",        a.by,
                                "--metric",    a.metric,
                                "--format",    a.format,
                                "--resamples", std::to_string(a.resamples),
                                "--seed",      std::to_string(a.seed),
                                "--ci",        std::to_string(a.ci),
                                "--alpha",     std::to_string(a.alpha)};
  if (!a.out.empty()) args.insert(args.end(), {"-o", a.out});
  if (a.force) args.emplace_back("--force");
  args.emplace_back("--");
  args.insert(args.end(), a.files.begin(), a.files.end());
  return args;
}

}  // namespace

CLI::App* add_compare_command(CLI::App& app, mpipe::cli::command_action& action) {
  auto a = std::make_shared<compare_args>();
  auto* cmd = app.add_subcommand(
      "compare",
      "Gather the runs of many results files (e.g. one per Slurm array task) into one table: "
      "per group (--by) the runs, the median of each run's mean item latency (ms) and "
      "throughput (items/s) with a bootstrap CI, and a verdict from a permutation test on the "
      "difference of medians (runs /usr/bin/python3 -m mpipe_analysis.compare)");
  add_compare_options(*cmd, *a);
  action = [a](int, char**) {
    // No plots here: numpy, pandas and h5py are all it needs (not matplotlib).
    return mpipe::cli::run_python("mpipe_analysis.compare", python_args(*a),
                                  {"numpy", "h5py", "pandas"});
  };
  return cmd;
}
