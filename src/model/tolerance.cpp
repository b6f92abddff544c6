// Latency tolerance (tolerance.hpp): bisection over an emulated link's latency, simulated.
#include "mpipe/tolerance.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "mpipe/error.hpp"

namespace mpipe {

latency_tolerance tolerate_latency(const pipeline_spec& spec, const placement& where,
                                   const platform& plat, const std::vector<std::string>& hosts,
                                   const core_layout& layout, bool cross_host_only, double slowdown,
                                   const simulation_options& model) {
  simulation_options o = model;
  o.max_items = std::min<std::uint64_t>(o.max_items, 200);
  latency_tolerance t;
  t.cross_host_only = cross_host_only;
  t.slowdown = slowdown;
  t.base_ms = simulate(spec, where, plat, hosts, layout, {}, o).mean_ms;
  const double limit = t.base_ms * (1.0 + slowdown);
  const auto within = [&](double latency_ms) {
    emulated_link link;
    link.latency_ms = latency_ms;
    link.cross_host_only = cross_host_only;
    return simulate(spec, where, plat, hosts, layout, link, o).mean_ms <= limit + 1e-9;
  };
  double lo = 0.0, hi = std::max(1.0, t.base_ms);
  while (within(hi)) {
    lo = hi;
    hi *= 4.0;
    if (hi > 1e7) return t;  // no hop of this scope holds the item up: unbounded
  }
  while (hi - lo > std::max(1e-3, 1e-3 * hi)) {
    const double mid = 0.5 * (lo + hi);
    (within(mid) ? lo : hi) = mid;
  }
  t.latency_ms = lo;
  return t;
}

measured_tolerance measure_tolerance(std::vector<double> latency_ms, std::vector<double> median_ms,
                                     double base_ms, double slowdown) {
  if (latency_ms.empty() || latency_ms.size() != median_ms.size())
    throw error("measure_tolerance: needs one median per latency, at least one");
  std::vector<std::size_t> order(latency_ms.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return latency_ms[a] < latency_ms[b]; });
  const double limit = base_ms * (1.0 + slowdown);
  const auto x = [&](std::size_t k) { return latency_ms[order[k]]; };
  const auto y = [&](std::size_t k) { return median_ms[order[k]]; };
  if (y(0) > limit) return {tolerance_status::below_range, x(0)};
  for (std::size_t k = 1; k < order.size(); ++k) {
    if (!(y(k) > limit)) continue;
    // y(k - 1) <= limit < y(k): the straight line between them meets the limit once.
    const double t = (limit - y(k - 1)) / (y(k) - y(k - 1));
    return {tolerance_status::found, x(k - 1) + t * (x(k) - x(k - 1))};
  }
  return {tolerance_status::above_range, x(order.size() - 1)};
}

const char* to_string(tolerance_status s) {
  switch (s) {
    case tolerance_status::found:
      return "found";
    case tolerance_status::above_range:
      return "above range";
    case tolerance_status::below_range:
      return "below range";
  }
  return "?";
}

double dominating_bandwidth(const edge_prediction& e) {
  if (e.bytes == 0 || !(e.work_ms > 0.0)) return 0.0;
  return static_cast<double>(e.bytes) / (e.work_ms * 1e-3);
}

}  // namespace mpipe
