// Statistics for repeated measurements (stats.hpp): quantiles, the bootstrap CI of the median,
// seeded permutations and the shuffled-round schedule with its early stop.
#include "mpipe/stats.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace mpipe::stats {

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

// An index in [0, n): a 64-bit draw modulo n (the bias is below n / 2^64, far under anything a
// sweep can see), spelled out so every standard library gives the same sequence.
std::size_t draw(std::mt19937_64& rng, std::size_t n) {
  return static_cast<std::size_t>(rng() % n);
}

double sorted_quantile(const std::vector<double>& s, double q) {
  if (s.empty()) return nan_v;
  const double h = (static_cast<double>(s.size()) - 1.0) * std::clamp(q, 0.0, 1.0);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (h - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

// The median of `n` values drawn with replacement from `sample`, using `scratch` as storage.
double resampled_median(const std::vector<double>& sample, std::mt19937_64& rng,
                        std::vector<double>& scratch) {
  const std::size_t n = sample.size();
  scratch.resize(n);
  for (std::size_t i = 0; i < n; ++i) scratch[i] = sample[draw(rng, n)];
  const std::size_t mid = n / 2;
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(mid),
                   scratch.end());
  const double upper = scratch[mid];
  if (n % 2 == 1) return upper;
  const double lower =
      *std::max_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

}  // namespace

double quantile(std::vector<double> sample, double q) {
  std::sort(sample.begin(), sample.end());
  return sorted_quantile(sample, q);
}

double median(std::vector<double> sample) { return quantile(std::move(sample), 0.5); }

interval bootstrap_median_ci(const std::vector<double>& sample, std::uint64_t seed, int resamples,
                             double confidence) {
  if (sample.empty()) return {};
  if (sample.size() == 1) return {sample.front(), sample.front()};
  std::mt19937_64 rng(seed);
  std::vector<double> medians, scratch;
  medians.reserve(static_cast<std::size_t>(std::max(resamples, 1)));
  for (int b = 0; b < std::max(resamples, 1); ++b)
    medians.push_back(resampled_median(sample, rng, scratch));
  std::sort(medians.begin(), medians.end());
  const double tail = (1.0 - confidence) / 2.0;
  return {sorted_quantile(medians, tail), sorted_quantile(medians, 1.0 - tail)};
}

double summary::ci_half_width_pct() const {
  if (n == 0 || !(median != 0.0)) return nan_v;
  return 50.0 * (ci.high - ci.low) / std::abs(median);
}

summary summarize(const std::vector<double>& sample, std::uint64_t seed, int resamples,
                  double confidence) {
  summary s;
  s.n = sample.size();
  if (sample.empty()) {
    s.mean = s.median = s.q1 = s.q3 = s.iqr = s.p95 = s.min = s.max = nan_v;
    return s;
  }
  std::vector<double> sorted = sample;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0.0;
  for (double v : sorted) sum += v;
  s.mean = sum / static_cast<double>(sorted.size());
  s.median = sorted_quantile(sorted, 0.5);
  s.q1 = sorted_quantile(sorted, 0.25);
  s.q3 = sorted_quantile(sorted, 0.75);
  s.iqr = s.q3 - s.q1;
  s.p95 = sorted_quantile(sorted, 0.95);
  s.min = sorted.front();
  s.max = sorted.back();
  s.ci = bootstrap_median_ci(sample, seed, resamples, confidence);
  return s;
}

std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[draw(rng, i)]);
  return p;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t k) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (k + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double noise_floor_pct(const std::vector<std::vector<double>>& repeats_per_point) {
  std::vector<double> spread;
  for (const auto& r : repeats_per_point) {
    if (r.size() < 2) continue;
    std::vector<double> s = r;
    std::sort(s.begin(), s.end());
    const double m = sorted_quantile(s, 0.5);
    if (m > 0) spread.push_back(100.0 * (sorted_quantile(s, 0.75) - sorted_quantile(s, 0.25)) / m);
  }
  return spread.empty() ? nan_v : median(spread);
}

std::vector<scheduled_run> run_schedule(
    std::size_t points, const repeat_plan& plan,
    const std::function<double(const scheduled_run&)>& measure) {
  std::vector<scheduled_run> runs;
  std::vector<std::vector<double>> values(points);
  std::vector<bool> active(points, true);
  const bool adaptive = plan.target_ci_pct > 0.0;
  const int rounds = adaptive ? std::max(plan.max_repeat, 1) : std::max(plan.repeat, 0);
  std::size_t order = 0;
  // Round 0: warm-ups, each warm-up "layer" shuffled afresh.
  for (int w = 0; w < plan.warmup; ++w) {
    for (std::size_t p : permutation(points, derive_seed(plan.seed, 1000003ULL + w))) {
      scheduled_run r{p, 0, w, true, order++, 0.0};
      r.value = measure(r);
      runs.push_back(r);
    }
  }
  for (int round = 1; round <= rounds; ++round) {
    bool any = false;
    for (std::size_t p :
         permutation(points, derive_seed(plan.seed, static_cast<unsigned>(round)))) {
      if (!active[p]) continue;
      any = true;
      scheduled_run r{p, round, static_cast<int>(values[p].size()), false, order++, 0.0};
      r.value = measure(r);
      runs.push_back(r);
      values[p].push_back(r.value);
    }
    if (!any) break;
    if (!adaptive) continue;
    for (std::size_t p = 0; p < points; ++p) {
      if (!active[p] || static_cast<int>(values[p].size()) < plan.min_repeat) continue;
      const auto s = summarize(values[p], derive_seed(plan.seed, 2000003ULL + p), plan.resamples,
                               plan.confidence);
      if (s.ci_half_width_pct() <= plan.target_ci_pct) active[p] = false;
    }
  }
  return runs;
}

std::vector<std::vector<double>> values_per_point(const std::vector<scheduled_run>& runs,
                                                  std::size_t points) {
  std::vector<std::vector<double>> out(points);
  for (const auto& r : runs)
    if (!r.warmup && r.point < points) out[r.point].push_back(r.value);
  return out;
}

std::vector<double> log_grid(double lo, double hi, int points_per_decade) {
  if (!(lo > 0) || !(hi >= lo) || points_per_decade < 1) return {};
  const double decades = std::log10(hi / lo);
  const int steps = std::max(1, static_cast<int>(std::lround(decades * points_per_decade)));
  if (hi == lo) return {lo};
  std::vector<double> x;
  for (int i = 0; i <= steps; ++i)
    x.push_back(lo * std::pow(10.0, decades * static_cast<double>(i) / steps));
  x.back() = hi;
  return x;
}

}  // namespace mpipe::stats
