// Latency tolerance (tolerance.hpp): bisection over an emulated link's latency, simulated.
#include "mpipe/tolerance.hpp"

#include <cmath>

namespace mpipe {

latency_tolerance tolerate_latency(const pipeline_spec& spec, const placement& where,
                                   const platform& plat, const std::vector<std::string>& hosts,
                                   const core_layout& layout, bool cross_host_only,
                                   double slowdown) {
  simulation_options o;
  o.max_items = 200;
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

double dominating_bandwidth(const edge_prediction& e) {
  if (e.bytes == 0 || !(e.work_ms > 0.0)) return 0.0;
  return static_cast<double>(e.bytes) / (e.work_ms * 1e-3);
}

}  // namespace mpipe
