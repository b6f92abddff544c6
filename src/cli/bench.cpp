// `mpipe bench` and `mpipe calibrate`: what one hop costs on this job's ranks, measured; calibrate
// also fits it per tier and serialization and writes a platform file for `mpipe predict`. Both
// take the same options (bench_args).
#include "mpipe/bench.hpp"

#include <mpi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "mpipe/calibrate.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/version.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

namespace {

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
  const auto env = start_funneled_mpi(argc, argv);
  if (!env) return 2;
  boost::mpi::communicator world;
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
      std::cout << "\n";
      mpipe::print_runtime_calibration(std::cout, record);
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
  const auto env = start_funneled_mpi(argc, argv);
  if (!env) return 2;
  boost::mpi::communicator world;
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

CLI::App* add_bench_command(CLI::App& app, command_action& action) {
  auto args = std::make_shared<bench_args>();
  auto& ba = *args;
  auto* bench = app.add_subcommand(
      "bench",
      "Measure what one hop costs on this job's ranks (same-rank, same-host, cross-host) per "
      "serialization, next to raw MPI; append the table to an HDF5 file");
  add_bench_options(bench, ba, "0 and powers of 4 from 4 B to 64 MiB",
                    "Sizes 0,64,1K,64K,1M with few repetitions: a few seconds (CI)", "bench",
                    "Print the table only; write no file");
  action = [args](int argc, char** argv) { return do_bench(*args, argc, argv); };
  return bench;
}

CLI::App* add_calibrate_command(CLI::App& app, command_action& action) {
  auto args = std::make_shared<bench_args>();
  auto& ca = *args;
  auto platform_out = std::make_shared<std::string>();
  auto* calibrate = app.add_subcommand(
      "calibrate",
      "Measure this job's communication costs (mpipe bench over 0 B - 1 MiB) and fit per tier and "
      "serialization a latency alpha and a cost per byte; measure the runtime's own cost per hop "
      "and the compute kernel's speed with 1, 2, ... cores busy; append the run "
      "(kind=calibration) and write a platform file for mpipe predict");
  add_bench_options(calibrate, ca, "0,64,1K,4K,16K,64K,256K,1M",
                    "Few repetitions per size: a few seconds", "calibration",
                    "Store no run (the platform file is still written)");
  calibrate->add_option("--platform-out", *platform_out,
                        "Platform file to write (default results/platform-<UTC time>.yaml); "
                        "refused if it exists");
  action = [args, platform_out](int argc, char** argv) {
    return do_calibrate(*args, *platform_out, argc, argv);
  };
  return calibrate;
}
