// mpipe's subcommands, one file each (src/cli/<command>.cpp). Each add_<command>_command adds
// its subcommand and options to the app and sets `action`, which main calls once CLI11 has parsed
// that subcommand (argc and argv are passed on for MPI and for the run's stored command line).
#pragma once

#include <CLI/CLI.hpp>

#include "common.hpp"

// run.cpp: a pipeline on this MPI job's ranks, appended to an HDF5 file -- what mpipe is for.
CLI::App* add_run_command(CLI::App& app, mpipe::cli::command_action& action);
// validate.cpp: check a spec and placement without MPI, so mistakes surface before a job starts.
CLI::App* add_validate_command(CLI::App& app, mpipe::cli::command_action& action);
// validate.cpp: list the built-in scenarios, so a newcomer has pipelines to run by name.
CLI::App* add_scenarios_command(CLI::App& app, mpipe::cli::command_action& action);
// bench.cpp: measure one hop's cost per tier and serialization next to raw MPI.
CLI::App* add_bench_command(CLI::App& app, mpipe::cli::command_action& action);
// bench.cpp: bench fitted into a platform file, so predict and run can use measured costs.
CLI::App* add_calibrate_command(CLI::App& app, mpipe::cli::command_action& action);
// predict.cpp: the model's latency, throughput and Amdahl numbers for a placement, without MPI.
CLI::App* add_predict_command(CLI::App& app, mpipe::cli::command_action& action);
// advise.cpp: search placements for the best predicted one (--verify measures the top three).
CLI::App* add_advise_command(CLI::App& app, mpipe::cli::command_action& action);
// sweep.cpp: a grid of settings, repeated, with statistics per point and the break-even work.
CLI::App* add_sweep_command(CLI::App& app, mpipe::cli::command_action& action);
// report.cpp: plots and an HTML page for a results file (runs the Python package).
CLI::App* add_report_command(CLI::App& app, mpipe::cli::command_action& action);
// report.cpp: a run's timeline as Chrome trace JSON for Perfetto (runs the Python package).
CLI::App* add_export_command(CLI::App& app, mpipe::cli::command_action& action);
// compare.cpp: runs of many results files by placement/transport/..., with a permutation test.
CLI::App* add_compare_command(CLI::App& app, mpipe::cli::command_action& action);
