// `mpipe calibrate`: the numbers a prediction needs, measured on this job's own layout. It is
// `mpipe bench` over a size grid, reduced per (tier, method) to a latency alpha and an inverse
// bandwidth beta by least squares, plus the encode/decode cost per message and per byte and
// the compute kernel's rate -- so `mpipe predict` can use this machine instead of a guess.
//
//   auto rec = mpipe::calibration_run(world, opt);   // collective; complete on rank 0
//   if (world.rank() == 0) mpipe::print_calibration(std::cout, rec.calibration);
#pragma once

#include <boost/mpi/communicator.hpp>
#include <iosfwd>
#include <string>
#include <vector>

#include "mpipe/bench.hpp"
#include "mpipe/records.hpp"

namespace mpipe {

// y = intercept + slope * x by least squares with weights w (all 1 for plain least squares).
// r2 is the weighted coefficient of determination. Needs two distinct x; else NaN slope.
struct linear_fit {
  double intercept = 0.0, slope = 0.0, r2 = 0.0;
  int points = 0;
};
linear_fit fit_line(const std::vector<double>& x, const std::vector<double>& y,
                    const std::vector<double>& w);

// Bench rows -> one calibration row per (tier, method): alpha = the mean latency at the smallest
// size, beta = the (unweighted) least-squares slope over sizes >= 4 KiB (the bandwidth regime;
// all sizes if fewer than two are), r2 = how well that line fits every size, weighted 1/y^2 so
// each size's error counts relative to its time. The line is not fitted to minimise that, so r2
// can be below 0: the line fits worse than the weighted mean (a constant) would, e.g. on a noisy
// tier. Encode/decode: least squares with weights 1/y^2. Rows with NaN values are skipped.
std::vector<calibration_row> fit_bench(const std::vector<bench_row>& rows);

// 0, 64 B, 1, 4, 16, 64, 256 KiB, 1 MiB: both ends of every tier's curve, a few seconds.
std::vector<std::uint64_t> calibration_sizes();

// Collective: bench_run over `options` (calibration_sizes() when it names none), fitted.
// kind = "calibration"; the bench rows stay in the record, the fits go to `calibration`, and
// the compute kernel's rate to the attribute compute_iterations_per_ms.
run_record calibration_run(const boost::mpi::communicator& comm, bench_options options);

// The table of fits, one row per (tier, method); a row whose r2 is below 0 ends in
// "<- " + r2_note(r2).
void print_calibration(std::ostream& out, const std::vector<calibration_row>& rows);

// What a calibration row's r2 says, when it needs saying: "" for r2 >= 0 or NaN, else why the
// line fits worse than a constant and what to do about it.
std::string r2_note(double r2);

// What the table's columns are, a few lines ending in '\n': how alpha, beta, r2 and the
// encode/decode costs are found (`mpipe calibrate` prints it above the table).
std::string calibration_explanation();

// A platform file (see platform.hpp) from a calibration run, for `mpipe predict --platform`:
// each MPI tier's wire from its raw-mpi fit, each serialization's encode/decode from its own
// fits, same-rank from the in-memory hand-off, the compute rate. A tier the job could not
// measure (cross-host on one host) is given the nearest measured tier's numbers, and the file
// says so in a comment and in the tier's `stand_in` key (platform.hpp).
std::string platform_yaml(const run_record& calibration, const std::string& name);

}  // namespace mpipe
