// Statistics for repeated measurements, and the break-even point between two measured curves.
// Pure, MPI-free and seeded: the same inputs and seed give the same answer on every machine
// (the random draws use std::mt19937_64, whose sequence the standard fixes, and our own index
// arithmetic instead of std::uniform_int_distribution / std::shuffle, whose algorithms it does
// not).
//
//   auto s = mpipe::stats::summarize({10.2, 10.4, 10.1, 10.9, 10.3}, /*seed=*/42);
//   // s.median, s.iqr, s.p95, s.ci_low .. s.ci_high (bootstrap 95 % CI of the median)
//   auto order = mpipe::stats::permutation(8, 42);          // shuffled run order, reproducible
//   auto be = mpipe::stats::break_even(work, distributed, local, 1.0, 42);
//   // be.x: the smallest work at which median(distributed) / median(local) <= 1
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace mpipe::stats {

// Quantile q in [0, 1] by linear interpolation between order statistics (R's / numpy's default,
// "type 7"). NaN for an empty sample.
double quantile(std::vector<double> sample, double q);
double median(std::vector<double> sample);

// Percentile-bootstrap confidence interval of the median: `resamples` samples of the same size
// drawn with replacement, the median of each, and their (1 - confidence) / 2 and
// (1 + confidence) / 2 quantiles. n = 1 gives [x, x]; n = 0 gives NaNs.
struct interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};
interval bootstrap_median_ci(const std::vector<double>& sample, std::uint64_t seed,
                             int resamples = 2000, double confidence = 0.95);

// What a sweep stores per point.
struct summary {
  std::size_t n = 0;
  double mean = 0, median = 0, q1 = 0, q3 = 0, iqr = 0, p95 = 0, min = 0, max = 0;
  interval ci;  // bootstrap CI of the median
  // Half the CI's width as a percentage of the median: what --target-ci compares with.
  double ci_half_width_pct() const;
};
summary summarize(const std::vector<double>& sample, std::uint64_t seed, int resamples = 2000,
                  double confidence = 0.95);

// A uniformly random permutation of 0 .. n-1 (Fisher-Yates on std::mt19937_64(seed)), the same
// for the same (n, seed) everywhere.
std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed);

// A seed for stream `k` of a run seeded with `seed` (splitmix64): the bootstrap of point 7 and
// the shuffle of round 3 get independent, reproducible streams.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t k);

// The noise floor of a sweep: the median over points of each point's IQR / median, in %
// (how far identical repeats scatter). Points with fewer than 2 values are left out; NaN if none.
double noise_floor_pct(const std::vector<std::vector<double>>& repeats_per_point);

// --- Repeats in shuffled rounds, with an early stop ----------------------------------------------
//
// Round 0 runs every point's warm-ups, later rounds run every still-active point once, each round
// in a fresh shuffled order (permutation(points, derive_seed(seed, round))), so slow drift of the
// machine is spread over all points instead of biasing the ones measured last. Without a target,
// every point gets `repeat` counted runs. With target_ci_pct > 0, a point stops once it has at
// least `min_repeat` runs and its median's CI half-width is <= target_ci_pct % of its median, and
// runs at most `max_repeat` times.
struct repeat_plan {
  int repeat = 5;
  int warmup = 1;
  double target_ci_pct = 0.0;  // 0: off
  int min_repeat = 3;
  int max_repeat = 20;
  std::uint64_t seed = 1;
  int resamples = 2000;
  double confidence = 0.95;
};

struct scheduled_run {
  std::size_t point = 0;
  int round = 0;          // 0 = warm-up round
  int repeat = 0;         // 0-based among the point's counted runs; warm-ups count 0, 1, ...
  bool warmup = false;    // not part of the statistics
  std::size_t order = 0;  // position in the whole sequence
  double value = 0.0;     // what measure returned
};

// Calls measure(run) for every run in order and returns them all. measure's value decides the
// early stop, so in an MPI job it must return the same value on every rank (broadcast it).
std::vector<scheduled_run> run_schedule(std::size_t points, const repeat_plan& plan,
                                        const std::function<double(const scheduled_run&)>& measure);

// The counted (non-warm-up) values of each point, in the order they were measured.
std::vector<std::vector<double>> values_per_point(const std::vector<scheduled_run>& runs,
                                                  std::size_t points);

// --- Where one curve crosses a level -------------------------------------------------------------

enum class crossing_status {
  found,        // between two grid points, interpolated
  below_range,  // already at or under the level at the first x
  none,         // never at or under the level within the grid
};
const char* to_string(crossing_status s);

struct crossing {
  crossing_status status = crossing_status::none;
  double x = std::numeric_limits<double>::quiet_NaN();  // found: interpolated; below: xs.front()
};

// The smallest x from which y(x) stays at or under `level` to the end of the grid: the last
// neighbours with y[i] > level >= y[i+1], interpolated linearly in log x (x > 0, ascending).
// Scanning from the large end keeps noise at small x (where both curves are overhead alone and
// their ratio scatters around 1) from passing for a break-even. For the curves this is for
// (distributed / local latency, overhead / work), which fall as work grows; pass -y and -level
// for a rising curve.
crossing settled_crossing(const std::vector<double>& x, const std::vector<double>& y, double level);

// The break-even between two measured curves: the smallest x from which median(numerator[i]) /
// median(denominator[i]) stays <= level (settled_crossing), with a percentile-bootstrap CI. Each
// bootstrap resample draws every point's numerator and denominator repeats anew (with replacement),
// recomputes the ratio curve and its crossing; a resample already under the level counts as
// x.front(), one that never gets there as +infinity (so `high` can be +inf: "beyond the grid").
//   latency:    numerator = distributed, denominator = local, level 1 (distributing pays);
//   efficiency: numerator = distributed, denominator = {ideal}, level 2 (efficiency 50 %).
struct break_even_estimate {
  crossing point;               // from the medians
  interval ci;                  // bootstrap CI of point.x
  double found_fraction = 0.0;  // share of resamples that crossed inside the grid
  std::vector<double> ratio;    // the median ratio at each x
};
break_even_estimate break_even(const std::vector<double>& x,
                               const std::vector<std::vector<double>>& numerator,
                               const std::vector<std::vector<double>>& denominator, double level,
                               std::uint64_t seed, int resamples = 2000, double confidence = 0.95);

// A ratio of two medians with a bootstrap CI (each sample resampled independently).
struct ratio_estimate {
  double ratio = std::numeric_limits<double>::quiet_NaN();
  interval ci;
};
ratio_estimate median_ratio(const std::vector<double>& numerator,
                            const std::vector<double>& denominator, std::uint64_t seed,
                            int resamples = 2000, double confidence = 0.95);

// n points from lo to hi (both included), evenly spaced in log: the break-even grid.
std::vector<double> log_grid(double lo, double hi, int points_per_decade);

}  // namespace mpipe::stats
