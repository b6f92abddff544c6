// `mpipe report` and `mpipe export`: the analysis lives in the Python package
// analysis/mpipe_analysis (matplotlib, pandas, h5py from Debian); these subcommands run it with
// /usr/bin/python3 so users need one command (run_python, common.hpp: the package and the
// interpreter it finds, and why the process is replaced by Python).
// `mpipe export --format otf2` is the exception: C++ with OTF2 (src/io/otf2_export.cpp).
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "common.hpp"
#include "io/otf2_export.hpp"
#include "mpipe/error.hpp"

namespace {

struct report_args {
  std::string results;
  std::string out;
  bool force = false;
  int max_runs = 12;
  bool no_svg = false;
};

struct export_args {
  std::string results;
  std::string format = "chrome-trace";
  std::string run;
  std::string out;
  bool force = false;
};

// --format otf2 is written here, in C++ (src/io/otf2_export.cpp), not by the Python package.
int export_otf2(const export_args& a) {
  if (a.force) {
    std::cerr << "mpipe: error: --force does not apply to --format otf2: an existing archive "
                 "folder is never replaced; choose another -o\n";
    return 2;
  }
  try {
    const auto r = mpipe::export_otf2(a.results, a.run, a.out);
    std::cout << "Wrote OTF2 trace of run " << r.run_id << ": " << r.anchor << " (" << r.regions
              << " regions, " << r.locations << " locations, " << r.enters << " ENTER/LEAVE pairs, "
              << r.messages << " MPI_SEND/MPI_RECV pairs)\n";
    return 0;
  } catch (const mpipe::error& e) {
    std::cerr << "mpipe: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

CLI::App* add_report_command(CLI::App& app, mpipe::cli::command_action& action) {
  auto a = std::make_shared<report_args>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write every plot (PNG + SVG) and one self-contained HTML page for a results file: did "
      "distribution help each pipeline and why (compute/communication ratio per edge), "
      "timelines, hop costs, the benchmark, Amdahl, farms, break-even (runs "
      "/usr/bin/python3 -m mpipe_analysis.report)");
  cmd->add_option("results", a->results, "HDF5 results file")->required();
  cmd->add_option("-o,--out", a->out,
                  "Report folder (default: report-<UTC time> next to the results file); an "
                  "existing non-empty folder is refused unless --force");
  cmd->add_flag("--force", a->force,
                "Write into an existing non-empty folder (files of the same names are replaced)");
  cmd->add_option("--max-runs", a->max_runs,
                  "Draw timelines and edge tables for the newest N pipeline runs")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_flag("--no-svg", a->no_svg, "PNG only");
  action = [a](int, char**) {
    std::vector<std::string> args{"--max-runs", std::to_string(a->max_runs)};
    if (!a->out.empty()) args.insert(args.end(), {"-o", a->out});
    if (a->force) args.emplace_back("--force");
    if (a->no_svg) args.emplace_back("--no-svg");
    args.insert(args.end(), {"--", a->results});  // a file named like an option stays a file
    return mpipe::cli::run_python("mpipe_analysis.report", args);
  };
  return cmd;
}

CLI::App* add_export_command(CLI::App& app, mpipe::cli::command_action& action) {
  auto a = std::make_shared<export_args>();
  auto* cmd = app.add_subcommand(
      "export",
      "Export a run's timeline: --format chrome-trace writes Trace Event JSON for Perfetto "
      "(ui.perfetto.dev) and chrome://tracing, a track per rank and stage thread, an arrow per "
      "message, times on rank 0's clock (runs /usr/bin/python3 -m mpipe_analysis.export); "
      "--format otf2 writes an OTF2 archive folder for otf2-print and Vampir: stages as regions, "
      "messages as MPI_SEND/MPI_RECV");
  cmd->add_option("results", a->results, "HDF5 results file")->required();
  cmd->add_option("--format", a->format, "Output format")
      ->check(CLI::IsMember({"chrome-trace", "otf2"}))
      ->capture_default_str();
  cmd->add_option("--run", a->run, "Run id (default: the newest pipeline run)");
  cmd->add_option("-o,--out", a->out,
                  "Output file (default <results>-<run id>.trace.json next to the results "
                  "file); an existing file is refused unless --force. otf2: the archive folder "
                  "(default <results>-<run id>.otf2), which must not exist");
  cmd->add_flag("--force", a->force, "Replace an existing output file");
  action = [a](int, char**) {
    if (a->format == "otf2") return export_otf2(*a);
    std::vector<std::string> args{"--format", a->format};
    if (!a->run.empty()) args.insert(args.end(), {"--run", a->run});
    if (!a->out.empty()) args.insert(args.end(), {"-o", a->out});
    if (a->force) args.emplace_back("--force");
    args.insert(args.end(), {"--", a->results});
    return mpipe::cli::run_python("mpipe_analysis.export", args);
  };
  return cmd;
}
