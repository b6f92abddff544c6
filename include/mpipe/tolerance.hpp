// How much network latency a placement tolerates (after LLAMP, SC24), from the simulator
// (simulate.hpp): the largest `--emulate-link latency=` a placement's hops can be held to while
// its mean item latency stays within a given slowdown, so a user knows before moving to a
// slower network whether the placement survives it. `mpipe sweep` over `--emulate-link` checks it.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "mpipe/model.hpp"
#include "mpipe/simulate.hpp"

namespace mpipe {

struct latency_tolerance {
  bool cross_host_only = false;  // the link's scope: every hop between hosts, or between ranks
  double slowdown = 0.01;        // 0.01: item latency at most 1 % above its value without it
  double base_ms = 0.0;          // the simulated mean without an emulated link
  // The largest link latency in ms within the slowdown: infinity when no hop of the scope exists
  // (or none is on a path that matters), 0 when even the smallest hold breaks it.
  double latency_ms = std::numeric_limits<double>::infinity();
};

// Bisection over the link latency (to 1 us or 0.1 %), each step one simulation. model: how the
// points are simulated (a sweep's serial stages, blocking waits); its items are capped at 200.
latency_tolerance tolerate_latency(const pipeline_spec& spec, const placement& where,
                                   const platform& plat, const std::vector<std::string>& hosts,
                                   const core_layout& layout, bool cross_host_only, double slowdown,
                                   const simulation_options& model = {});

// The same tolerance measured: a sweep's median item latency at each link latency tried, read
// as where it first rises above base_ms x (1 + slowdown), linearly between the points tried.
enum class tolerance_status {
  found,        // between two points tried
  above_range,  // never crossed: more than the largest latency tried
  below_range,  // crossed already at the smallest latency tried
};
struct measured_tolerance {
  tolerance_status status = tolerance_status::above_range;
  double latency_ms = 0.0;  // the crossing; the largest (smallest) tried when above (below)
};
// Points in any order (sorted here by latency); throws error when empty or of unequal length.
measured_tolerance measure_tolerance(std::vector<double> latency_ms, std::vector<double> median_ms,
                                     double base_ms, double slowdown);
const char* to_string(tolerance_status s);

// Per edge between ranks: the bandwidth below which its transfer alone (bytes / bandwidth)
// costs more than the work it serves (edge_prediction::work_ms), in bytes/s; 0 when it carries
// nothing or serves no work.
double dominating_bandwidth(const edge_prediction& e);

}  // namespace mpipe
