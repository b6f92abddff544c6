// The throughput bound: arithmetic on the spec and the placement only, so `mpipe validate`, the
// run's report and the tests all get the same number for the same pipeline.
#include "mpipe/model.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"

namespace mpipe {

namespace {

constexpr double unbounded = std::numeric_limits<double>::infinity();

// Wall time of one item in a stage on free cores.
double service_ms(const stage_spec& s) {
  return s.kernel == kernel_kind::compute ? s.work_ms / std::max(1, s.threads) : s.work_ms;
}

// Core time one item costs in a stage: spin keeps every thread busy for work_ms, compute's
// work_ms is already core time, sleep holds no core.
double core_ms(const stage_spec& s) {
  switch (s.kernel) {
    case kernel_kind::spin:
      return s.work_ms * std::max(1, s.threads);
    case kernel_kind::compute:
      return s.work_ms;
    case kernel_kind::sleep:
      break;
  }
  return 0.0;
}

// graph::critical_path_ms with service times: equal to it unless a compute stage has threads.
double critical_path_ms(const pipeline_spec& spec) {
  const graph g(spec);
  const int n = g.stage_count();
  const int src = g.source();
  const auto stage_of = [&](const std::string& name) { return spec.stage_index(name); };
  std::vector<double> finish(static_cast<std::size_t>(n), -1.0);
  finish[static_cast<std::size_t>(src)] = service_ms(spec.stages[static_cast<std::size_t>(src)]);
  double best = finish[static_cast<std::size_t>(src)];
  for (const int v : g.topo_order()) {
    const double at = finish[static_cast<std::size_t>(v)];
    if (at < 0.0) continue;
    for (const int e : g.outputs(v)) {
      const int to = stage_of(spec.edges[static_cast<std::size_t>(e)].to);
      if (to == src) {
        best = std::max(best, at);
        continue;
      }
      const double through = at + service_ms(spec.stages[static_cast<std::size_t>(to)]);
      finish[static_cast<std::size_t>(to)] =
          std::max(finish[static_cast<std::size_t>(to)], through);
    }
  }
  return best;
}

// 4 significant digits, but never an exponent: "10000 ms", "0.4 items/s", "3.333 items/s".
std::string num(double value) {
  std::ostringstream out;
  if (std::abs(value) >= 1e4) {
    out << std::fixed << std::setprecision(0) << value;
  } else {
    out << std::setprecision(4) << value;
  }
  return out.str();
}

std::string rate(double per_s) {
  return std::isinf(per_s) ? std::string("unbounded") : num(per_s) + " items/s";
}

std::string plural(double count, const std::string& word) {
  return num(count) + " " + word + (count == 1.0 ? "" : "s");
}

}  // namespace

throughput_bound compute_throughput_bound(const pipeline_spec& spec, const placement& where,
                                          const std::vector<std::string>& hosts_per_rank,
                                          const std::vector<int>& cores_per_rank) {
  if (hosts_per_rank.size() != cores_per_rank.size()) {
    throw error("compute_throughput_bound: " + std::to_string(hosts_per_rank.size()) +
                " hosts but " + std::to_string(cores_per_rank.size()) + " core counts");
  }
  throughput_bound b{unbounded, unbounded, "", unbounded, "", unbounded, ""};

  // Stage bound, with the arithmetic of the limiting stage kept for the explanation.
  std::string stage_why;
  for (const auto& s : spec.stages) {
    const double ms = service_ms(s);
    if (ms <= 0.0) continue;
    const int r = std::max(1, s.replicas);
    const double per_s = r * 1000.0 / ms;
    if (per_s < b.stage_bound_per_s) {
      b.stage_bound_per_s = per_s;
      b.limiting_stage = s.name;
      stage_why = "stage '" + s.name + "': " + plural(r, "replica") + " x 1 item / " + num(ms) +
                  " ms = " + rate(per_s);
    }
  }

  // Core bound: each replica takes 1/R of the items, so it costs core_ms / R per item where it
  // runs. Hosts in first-rank order, so ties name the host a reader meets first.
  std::vector<std::string> host_order;
  std::map<std::string, double> need_ms, cores;
  for (std::size_t rank = 0; rank < hosts_per_rank.size(); ++rank) {
    const std::string& h = hosts_per_rank[rank];
    if (!cores.count(h)) host_order.push_back(h);
    cores[h] = std::max(cores[h], static_cast<double>(std::max(1, cores_per_rank[rank])));
  }
  // A placement built by hand may carry rank_of only: every replica then sits with the first.
  const auto rank_of_instance = [&](std::size_t s, std::size_t k) {
    if (s < where.replica_ranks.size() && k < where.replica_ranks[s].size())
      return where.replica_ranks[s][k];
    return s < where.rank_of.size() ? where.rank_of[s] : -1;
  };
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const stage_spec& st = spec.stages[s];
    const double cost = core_ms(st);
    if (cost <= 0.0) continue;
    const int r = std::max(1, st.replicas);
    for (int k = 0; k < r; ++k) {
      const int rank = rank_of_instance(s, static_cast<std::size_t>(k));
      if (rank < 0 || static_cast<std::size_t>(rank) >= hosts_per_rank.size()) {
        throw error("compute_throughput_bound: stage '" + st.name + "' replica " +
                    std::to_string(k) + " is on rank " + std::to_string(rank) + " of a job of " +
                    std::to_string(hosts_per_rank.size()) + " ranks");
      }
      need_ms[hosts_per_rank[static_cast<std::size_t>(rank)]] += cost / r;
    }
  }
  std::string core_why;
  for (const auto& h : host_order) {
    const auto it = need_ms.find(h);
    if (it == need_ms.end()) continue;
    const double per_s = cores[h] * 1000.0 / it->second;
    if (per_s < b.core_bound_per_s) {
      b.core_bound_per_s = per_s;
      b.limiting_host = h;
      core_why = "host '" + h + "': " + plural(cores[h], "core") + " / " + num(it->second) +
                 " core-ms per item = " + rate(per_s);
    }
  }

  // Window bound (Little's law): K in flight, each in the pipeline for at least the path.
  const double path_ms = critical_path_ms(spec);
  std::string window_why = "window: " + std::to_string(spec.inflight) + " in flight / " +
                           num(path_ms) + " ms critical path = ";
  if (path_ms > 0.0) b.window_bound_per_s = static_cast<double>(spec.inflight) * 1000.0 / path_ms;
  window_why += rate(b.window_bound_per_s);

  b.items_per_s = std::min({b.stage_bound_per_s, b.core_bound_per_s, b.window_bound_per_s});
  if (std::isinf(b.items_per_s)) {
    b.explain =
        "unbounded: no stage has work, so only communication sets the rate (items/s measured "
        "against nothing)";
    return b;
  }
  const auto ties = [&](double v) { return std::abs(v - b.items_per_s) <= 1e-9 * b.items_per_s; };
  std::vector<std::string> limits, others;
  (ties(b.stage_bound_per_s) ? limits : others)
      .push_back(std::isinf(b.stage_bound_per_s) ? "stages: unbounded" : stage_why);
  (ties(b.core_bound_per_s) ? limits : others)
      .push_back(std::isinf(b.core_bound_per_s) ? "cores: unbounded, no spin/compute work"
                                                : core_why);
  (ties(b.window_bound_per_s) ? limits : others).push_back(window_why);
  std::string line = "bound " + rate(b.items_per_s) + ", set by " + limits.front();
  for (std::size_t i = 1; i < limits.size(); ++i) line += " and equally by " + limits[i];
  for (std::size_t i = 0; i < others.size(); ++i) line += (i ? "; " : " (") + others[i];
  b.explain = others.empty() ? line : line + ")";
  return b;
}

}  // namespace mpipe
