// mpipe's command line: parse, set up MPI, call the library, report. No logic of its own: each
// subcommand lives in its own file (src/cli/<command>.cpp, listed in commands.hpp).
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "mpipe/error.hpp"
#include "mpipe/version.hpp"

using namespace mpipe::cli;  // NOLINT: the CLI's own helpers

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

  // The order here is the order --help lists them in.
  command_action run_action, validate_action, scenarios_action, bench_action, calibrate_action,
      predict_action, advise_action, sweep_action, report_action, export_action, compare_action;
  auto* run = add_run_command(app, run_action);
  add_validate_command(app, validate_action);
  auto* scenarios = add_scenarios_command(app, scenarios_action);
  auto* bench = add_bench_command(app, bench_action);
  auto* calibrate = add_calibrate_command(app, calibrate_action);
  auto* predict = add_predict_command(app, predict_action);
  auto* advise = add_advise_command(app, advise_action);
  auto* sweep = add_sweep_command(app, sweep_action);
  auto* report = add_report_command(app, report_action);
  auto* export_cmd = add_export_command(app, export_action);
  auto* compare = add_compare_command(app, compare_action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return printer ? app.exit(e) : 0;  // --help, --version
    if (printer)
      std::cerr << "mpipe: error: " << e.what() << "\nRun 'mpipe --help' or 'mpipe run --help'.\n";
    return 2;
  }

  // run, bench, calibrate and sweep start MPI and report their own errors (once, all ranks
  // leaving together); report, export and compare hand over to Python. The rest need no MPI: a bad
  // input is one mpipe::error, reported here.
  if (run->parsed()) return run_action(argc, argv);
  if (bench->parsed()) return bench_action(argc, argv);
  if (calibrate->parsed()) return calibrate_action(argc, argv);
  if (sweep->parsed()) return sweep_action(argc, argv);
  if (report->parsed()) return report_action(argc, argv);
  if (export_cmd->parsed()) return export_action(argc, argv);
  if (compare->parsed()) return compare_action(argc, argv);
  try {
    if (scenarios->parsed()) return scenarios_action(argc, argv);
    if (predict->parsed()) return predict_action(argc, argv);
    if (advise->parsed()) return advise_action(argc, argv);
    return validate_action(argc, argv);
  } catch (const mpipe::error& e) {
    std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
}
