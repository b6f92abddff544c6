// `mpipe report` and `mpipe export`: the analysis lives in the Python package
// analysis/mpipe_analysis (matplotlib, pandas, h5py from Debian); these subcommands run it with
// /usr/bin/python3 so users need one command. The package is found at the source tree's
// analysis/ (compiled in as MPIPE_ANALYSIS_DIR) or where the environment variable
// MPIPE_ANALYSIS_DIR points; the interpreter is /usr/bin/python3 or MPIPE_PYTHON. The process
// is replaced by Python (execv), so its exit status and output are the command's.
// `mpipe export --format otf2` is the exception: C++ with OTF2 (src/io/otf2_export.cpp).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common.hpp"
#include "io/otf2_export.hpp"
#include "mpipe/error.hpp"

#ifndef MPIPE_ANALYSIS_DIR
#define MPIPE_ANALYSIS_DIR ""
#endif

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

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// Runs `python -m module args...` in place of this process; returns only on failure (status 2,
// with a message saying what is missing and how to get it).
int run_python(const std::string& module, const std::vector<std::string>& args) {
  const std::string python = env_or("MPIPE_PYTHON", "/usr/bin/python3");
  const std::string dir = env_or("MPIPE_ANALYSIS_DIR", MPIPE_ANALYSIS_DIR);
  if (::access(python.c_str(), X_OK) != 0) {
    std::cerr << "mpipe: error: " << python
              << " not found or not executable: the analysis needs Debian's python3 with "
                 "python3-h5py, python3-pandas and python3-matplotlib (apt-get install python3 "
                 "python3-h5py python3-pandas python3-matplotlib, or scripts/setup.sh); "
                 "MPIPE_PYTHON names another interpreter\n";
    return 2;
  }
  if (dir.empty() ||
      !std::filesystem::exists(std::filesystem::path(dir) / "mpipe_analysis" / "__init__.py")) {
    std::cerr << "mpipe: error: the analysis package (mpipe_analysis) is not in '" << dir
              << "': set MPIPE_ANALYSIS_DIR to the folder that holds mpipe_analysis/ (the "
                 "source tree's analysis/)\n";
    return 2;
  }
  const std::string old = env_or("PYTHONPATH", "");
  const std::string path = old.empty() ? dir : dir + ":" + old;
  ::setenv("PYTHONPATH", path.c_str(), 1);
  ::setenv("MPLBACKEND", "Agg", 1);
  // One interpreter: it checks the packages the analysis needs where it imports them anyway
  // (saying plainly what is missing instead of a traceback), then runs the module as -m would.
  const std::string bootstrap =
      "import sys\n"
      "try:\n"
      "    import matplotlib, h5py, pandas\n"
      "except ImportError as e:\n"
      "    sys.stderr.write('mpipe: error: ' + sys.executable + ' cannot import matplotlib, h5py "
      "or pandas (' + str(e) + '): apt-get install python3-matplotlib python3-h5py "
      "python3-pandas (or run scripts/setup.sh)\\n')\n"
      "    sys.exit(2)\n"
      "import runpy\n"
      "runpy.run_module('" +
      module + "', run_name='__main__', alter_sys=True)\n";
  std::vector<std::string> argv_s{python, "-c", bootstrap};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execv(python.c_str(), argv.data());
  std::cerr << "mpipe: error: cannot run " << python << ": " << std::strerror(errno) << "\n";
  return 2;
}

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
    return run_python("mpipe_analysis.report", args);
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
    return run_python("mpipe_analysis.export", args);
  };
  return cmd;
}
