// `mpipe calibrate`: the numbers a prediction needs, measured on this job's own layout. It is
// `mpipe bench` over a size grid, reduced per (tier, method) to a latency alpha and an inverse
// bandwidth beta by least squares, plus the encode/decode cost per message and per byte and
// the compute kernel's rate -- so `mpipe predict` can use this machine instead of a guess. Two
// measurements through the machine itself rather than the wire: the compute kernel's speed with
// 1, 2, ... cores of rank 0 busy at once (compute_scaling), and the runtime's own cost per hop
// on each tier the job has (a zero-work chain run through run_pipeline: runtime_us).
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

// A measured quantity over its repeats: the median and half the range (max - min) / 2.
struct spread_value {
  double median = 0.0, half_range = 0.0;
};
spread_value median_and_spread(std::vector<double> samples);  // NaN both when empty

// One busy core's speed with k cores busy, relative to one core alone. speeds[k - 1] holds the
// repeats at k busy cores (each the mean over the k threads of work_ms / the thread's CPU ms:
// what SMT siblings and shared caches cost the work, not time the scheduler gave others); empty
// where k was not measured (filled by straight lines between the ks measured). scaling[k - 1]
// is the median at k over the median at 1; spread is the largest half range over median of
// any k, a fraction (0.04: +-4 %).
struct compute_scaling_fit {
  std::vector<double> scaling;
  double spread = 0.0;
};
compute_scaling_fit fit_compute_scaling(const std::vector<std::vector<double>>& speeds);

// The ks measured for a rank of `cores` usable CPUs: every k up to 8, beyond that about two per
// doubling (12, 16, 24, ...) and `cores` itself, so a 128-core host takes seconds, not minutes.
std::vector<int> scaling_core_counts(int cores);

// Runs the compute kernel (1 thread, work_ms) on k threads at once, `repeats` times for each k
// of scaling_core_counts(max_cores), and returns each repeat's speed as fit_compute_scaling
// takes it. The caller's CPUs should be otherwise idle. About max_cores' ks x repeats x work_ms.
std::vector<std::vector<double>> measure_compute_scaling(int max_cores, int repeats,
                                                         double work_ms);

// The CPUs this process may run on (sched_getaffinity), at least 1.
int usable_cpus();

// The runtime's own cost per hop, beyond the wire: each block of a zero-work chain's items
// gives (its mean item latency - wire_us) / hops, clamped at 0; median and half range of those.
// wire_us is what the platform's alpha, bandwidth and serialization give for the hops together.
spread_value runtime_per_hop_us(const std::vector<double>& block_latency_us, double wire_us,
                                int hops);

// Collective: bench_run over `options` (calibration_sizes() when it names none), fitted.
// kind = "calibration"; the bench rows stay in the record, the fits go to `calibration`, and
// the compute kernel's rate to the attribute compute_iterations_per_ms. Also, before the bench,
// compute scaling on rank 0 (attributes compute_scaling "1,0.97", compute_scaling_spread,
// compute_scaling_cores) and after it the runtime's cost per hop on each tier the job has: a
// two-stage zero-work chain, 1 item in flight, placed on rank 0 alone, on rank 0 and the first
// other rank of its host, on rank 0 and the first rank of another host (attributes
// runtime_us_<tier>, runtime_us_<tier>_spread, runtime_latency_us_<tier>, runtime_wait_<tier>
// with tier same_rank, same_host, cross_host; runtime_items, runtime_hops). About 1-2 s more.
run_record calibration_run(const boost::mpi::communicator& comm, bench_options options);

// The runtime and compute-scaling part of a calibration run, a few lines ('\n'-ended), "" when
// the run has neither (one made before they were measured).
void print_runtime_calibration(std::ostream& out, const run_record& calibration);

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
// measure (cross-host on one host) is given the nearest measured tier's numbers, runtime_us
// included, and the file says so in a comment and in the tier's `stand_in` key (platform.hpp).
// Each tier's runtime_us / runtime_us_spread and compute_scaling / compute_scaling_spread come
// from the run's attributes when it has them (calibration_run); older runs leave them out.
std::string platform_yaml(const run_record& calibration, const std::string& name);

}  // namespace mpipe
