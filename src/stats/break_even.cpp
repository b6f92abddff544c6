// Where a curve crosses a level, and the break-even between two measured curves with a
// bootstrap CI (stats.hpp).
#include <algorithm>
#include <cmath>
#include <random>

#include "mpipe/stats.hpp"

namespace mpipe::stats {

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

double median_of_draw(const std::vector<double>& v, std::mt19937_64& rng,
                      std::vector<double>& scratch) {
  scratch.resize(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    scratch[i] = v[static_cast<std::size_t>(rng() % v.size())];  // as stats.cpp draws
  return median(scratch);
}

double ratio_of(double num, double den) { return den != 0.0 ? num / den : nan_v; }

}  // namespace

const char* to_string(crossing_status s) {
  switch (s) {
    case crossing_status::found:
      return "found";
    case crossing_status::below_range:
      return "below range";
    case crossing_status::none:
      return "not in range";
  }
  return "?";
}

crossing settled_crossing(const std::vector<double>& x, const std::vector<double>& y,
                          double level) {
  crossing c;
  const std::size_t n = std::min(x.size(), y.size());
  if (n == 0 || !(y[n - 1] <= level)) return c;  // not there at the largest x (NaN: unknown)
  std::size_t i = n - 1;
  while (i > 0 && y[i - 1] <= level) --i;
  if (i == 0) return {crossing_status::below_range, x[0]};
  // y[i-1] > level (or NaN) >= y[i]: interpolate, or take x[i] when y[i-1] is unknown.
  if (!(y[i - 1] > level)) return {crossing_status::found, x[i]};
  const double l0 = std::log(x[i - 1]), l1 = std::log(x[i]);
  const double t = (y[i - 1] - level) / (y[i - 1] - y[i]);
  return {crossing_status::found, std::exp(l0 + t * (l1 - l0))};
}

break_even_estimate break_even(const std::vector<double>& x,
                               const std::vector<std::vector<double>>& numerator,
                               const std::vector<std::vector<double>>& denominator, double level,
                               std::uint64_t seed, int resamples, double confidence) {
  break_even_estimate out;
  const std::size_t n = std::min({x.size(), numerator.size(), denominator.size()});
  for (std::size_t i = 0; i < n; ++i)
    out.ratio.push_back(ratio_of(median(numerator[i]), median(denominator[i])));
  out.point = settled_crossing(x, out.ratio, level);
  if (n == 0) return out;

  std::mt19937_64 rng(seed);
  std::vector<double> found, ratio(n), scratch;
  int inside = 0;
  const int b_max = std::max(resamples, 1);
  for (int b = 0; b < b_max; ++b) {
    for (std::size_t i = 0; i < n; ++i) {
      if (numerator[i].empty() || denominator[i].empty()) {
        ratio[i] = nan_v;
        continue;
      }
      ratio[i] = ratio_of(median_of_draw(numerator[i], rng, scratch),
                          median_of_draw(denominator[i], rng, scratch));
    }
    const crossing c = settled_crossing(x, ratio, level);
    if (c.status == crossing_status::found) ++inside;
    found.push_back(c.status == crossing_status::none ? inf_v : c.x);
  }
  std::sort(found.begin(), found.end());
  const double tail = (1.0 - confidence) / 2.0;
  const auto pick = [&](double q) {
    const double h = (static_cast<double>(found.size()) - 1.0) * q;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, found.size() - 1);
    if (std::isinf(found[hi]) || std::isinf(found[lo])) return found[hi];
    // Interpolate in log: the grid is logarithmic.
    return std::exp(std::log(found[lo]) +
                    (h - static_cast<double>(lo)) * (std::log(found[hi]) - std::log(found[lo])));
  };
  out.ci = {pick(tail), pick(1.0 - tail)};
  out.found_fraction = static_cast<double>(inside) / b_max;
  return out;
}

ratio_estimate median_ratio(const std::vector<double>& numerator,
                            const std::vector<double>& denominator, std::uint64_t seed,
                            int resamples, double confidence) {
  ratio_estimate r;
  if (numerator.empty() || denominator.empty()) return r;
  r.ratio = ratio_of(median(numerator), median(denominator));
  std::mt19937_64 rng(seed);
  std::vector<double> ratios, scratch;
  for (int b = 0; b < std::max(resamples, 1); ++b)
    ratios.push_back(ratio_of(median_of_draw(numerator, rng, scratch),
                              median_of_draw(denominator, rng, scratch)));
  const double tail = (1.0 - confidence) / 2.0;
  r.ci = {quantile(ratios, tail), quantile(ratios, 1.0 - tail)};
  return r;
}

}  // namespace mpipe::stats
