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
#include <tuple>
#include <utility>
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
// work_ms is already core time, sleep holds no core. User code and exec workers are taken to
// be busy like spin: their work_ms is a measured wall time (a previous run's, or an estimate).
double core_ms(const stage_spec& s) {
  switch (s.kernel) {
    case kernel_kind::spin:
    case kernel_kind::user:
    case kernel_kind::exec:
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

// The emulated links' bound: bytes per item on each directed rank pair it applies to (a farm's
// pair takes 1 / (producer replicas x consumer replicas) of the edge's items), against its
// bandwidth. The runtime counts wire bytes, the model payload bytes: they differ by the
// serialization's few header bytes. {unbounded, ""} without a bandwidth.
std::pair<double, std::string> link_bound(const pipeline_spec& spec, const placement& where,
                                          const std::vector<std::string>& hosts,
                                          const emulated_link& emulate) {
  if (emulate.bandwidth_bytes_per_s <= 0.0) return {unbounded, ""};
  std::map<std::pair<int, int>, double> bytes;
  for (const auto& e : spec.edges) {
    const auto from = static_cast<std::size_t>(spec.stage_index(e.from));
    const auto to = static_cast<std::size_t>(spec.stage_index(e.to));
    if (from >= where.replica_ranks.size() || to >= where.replica_ranks.size()) continue;
    const auto& fr = where.replica_ranks[from];
    const auto& tr = where.replica_ranks[to];
    const double share = 1.0 / static_cast<double>(fr.size() * tr.size());
    for (int a : fr)
      for (int b : tr) {
        if (a == b) continue;
        const bool cross_host =
            hosts.at(static_cast<std::size_t>(a)) != hosts.at(static_cast<std::size_t>(b));
        if (emulate.cross_host_only && !cross_host) continue;
        bytes[{a, b}] += static_cast<double>(spec.stages[from].payload_bytes) * share;
      }
  }
  std::pair<double, std::string> best{unbounded, ""};
  for (const auto& [link, per_item] : bytes) {
    if (per_item <= 0.0) continue;
    const double per_s = emulate.bandwidth_bytes_per_s / per_item;
    if (per_s < best.first)
      best = {per_s, "link rank " + std::to_string(link.first) + " -> rank " +
                         std::to_string(link.second) + ": " + num(emulate.bandwidth_bytes_per_s) +
                         " B/s / " + num(per_item) + " B per item = " + rate(per_s)};
  }
  return best;
}

}  // namespace

throughput_bound compute_throughput_bound(const pipeline_spec& spec, const placement& where,
                                          const std::vector<std::string>& hosts_per_rank,
                                          const std::vector<int>& cores_per_rank,
                                          const emulated_link& emulate) {
  if (hosts_per_rank.size() != cores_per_rank.size()) {
    throw error("compute_throughput_bound: " + std::to_string(hosts_per_rank.size()) +
                " hosts but " + std::to_string(cores_per_rank.size()) + " core counts");
  }
  throughput_bound b{unbounded, unbounded, "", unbounded, "", unbounded, "", unbounded, ""};

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

  std::string link_why;
  std::tie(b.link_bound_per_s, link_why) = link_bound(spec, where, hosts_per_rank, emulate);
  if (!link_why.empty()) b.limiting_link = link_why.substr(5, link_why.find(':') - 5);

  b.items_per_s =
      std::min({b.stage_bound_per_s, b.core_bound_per_s, b.window_bound_per_s, b.link_bound_per_s});
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
  if (!link_why.empty()) (ties(b.link_bound_per_s) ? limits : others).push_back(link_why);
  std::string line = "bound " + rate(b.items_per_s) + ", set by " + limits.front();
  for (std::size_t i = 1; i < limits.size(); ++i) line += " and equally by " + limits[i];
  for (std::size_t i = 0; i < others.size(); ++i) line += (i ? "; " : " (") + others[i];
  b.explain = others.empty() ? line : line + ")";
  return b;
}

const char* ratio_verdict(double ratio) {
  if (ratio > verdict_rule::helps_above) return verdict_rule::helps;
  if (ratio < verdict_rule::hurts_below) return verdict_rule::hurts;
  return verdict_rule::marginal;
}

std::vector<std::string> block_hosts(int ranks, int hosts) {
  if (ranks < 1 || hosts < 1 || hosts > ranks) {
    throw error("cannot split " + std::to_string(ranks) + " rank(s) over " + std::to_string(hosts) +
                " host(s): need 1 <= hosts <= ranks");
  }
  std::vector<std::string> out;
  for (long r = 0; r < ranks; ++r) out.push_back("host" + std::to_string(r * hosts / ranks));
  return out;
}

latency_prediction predict_latency(const pipeline_spec& spec, const placement& where,
                                   const platform& plat,
                                   const std::vector<std::string>& hosts_per_rank,
                                   const emulated_link& emulate) {
  const graph g(spec);
  const int src = g.source();
  const auto ranks_of = [&](int s) {
    const auto i = static_cast<std::size_t>(s);
    std::vector<int> r;
    if (i < where.replica_ranks.size() && !where.replica_ranks[i].empty()) {
      r = where.replica_ranks[i];
    } else if (i < where.rank_of.size()) {
      r.push_back(where.rank_of[i]);
    }
    for (const int rank : r) {
      if (rank < 0 || static_cast<std::size_t>(rank) >= hosts_per_rank.size()) {
        throw error("predict_latency: stage '" + spec.stages[i].name + "' is on rank " +
                    std::to_string(rank) + " of a job of " + std::to_string(hosts_per_rank.size()) +
                    " ranks");
      }
    }
    if (r.empty()) throw error("predict_latency: stage '" + spec.stages[i].name + "' is unplaced");
    return r;
  };

  latency_prediction out;
  for (std::size_t e = 0; e < spec.edges.size(); ++e) {
    const edge_spec& es = spec.edges[e];
    const int from = spec.stage_index(es.from), to = spec.stage_index(es.to);
    edge_prediction p;
    p.edge = static_cast<int>(e);
    p.from = es.from;
    p.to = es.to;
    p.bytes = spec.stages[static_cast<std::size_t>(from)].payload_bytes;
    p.serialization = es.serialization;
    bool first = true;
    for (const int a : ranks_of(from)) {
      for (const int b : ranks_of(to)) {
        const tier t = a == b ? tier::same_rank
                       : hosts_per_rank[static_cast<std::size_t>(a)] ==
                               hosts_per_rank[static_cast<std::size_t>(b)]
                           ? tier::same_host
                           : tier::cross_host;
        double ms = plat.message_ms(t, es.serialization, p.bytes);
        if (t != tier::same_rank && (t == tier::cross_host || !emulate.cross_host_only)) {
          double held = emulate.latency_ms;
          if (emulate.bandwidth_bytes_per_s > 0.0)
            held += static_cast<double>(p.bytes) / emulate.bandwidth_bytes_per_s * 1e3;
          ms = std::max(ms, held);
        }
        if (!first && t != p.where) p.mixed = true;
        if (first || ms > p.cost_ms) {
          p.cost_ms = ms;
          p.where = t;
          p.from_rank = a;
          p.to_rank = b;
        }
        first = false;
      }
    }
    p.work_ms = service_ms(spec.stages[static_cast<std::size_t>(to == src ? from : to)]);
    p.ratio = p.cost_ms > 0.0 ? p.work_ms / p.cost_ms : unbounded;
    p.verdict = p.where == tier::same_rank && !p.mixed ? "in memory" : ratio_verdict(p.ratio);
    out.edges.push_back(p);
  }

  // Longest path in topological order: finish = max over inputs (producer finish + edge cost)
  // + own service time; the item ends when the last return edge arrives at the source. Run
  // twice: with the edge costs, and with free communication for the comparison.
  const auto longest = [&](bool with_costs, std::vector<int>* path) {
    const auto n = static_cast<std::size_t>(g.stage_count());
    std::vector<double> finish(n, -1.0);
    std::vector<int> via(n, -1);  // the edge that set a stage's finish
    finish[static_cast<std::size_t>(src)] = service_ms(spec.stages[static_cast<std::size_t>(src)]);
    double best = finish[static_cast<std::size_t>(src)];
    int best_edge = -1;
    for (const int v : g.topo_order()) {
      const double at = finish[static_cast<std::size_t>(v)];
      if (at < 0.0) continue;
      for (const int e : g.outputs(v)) {
        const int to = spec.stage_index(spec.edges[static_cast<std::size_t>(e)].to);
        const double arrive =
            at + (with_costs ? out.edges[static_cast<std::size_t>(e)].cost_ms : 0.0);
        if (to == src) {
          if (arrive > best || best_edge < 0) {
            best = std::max(best, arrive);
            best_edge = e;
          }
          continue;
        }
        const double through = arrive + service_ms(spec.stages[static_cast<std::size_t>(to)]);
        if (through > finish[static_cast<std::size_t>(to)]) {
          finish[static_cast<std::size_t>(to)] = through;
          via[static_cast<std::size_t>(to)] = e;
        }
      }
    }
    if (path) {
      std::vector<int> edges_back;
      for (int e = best_edge; e >= 0;) {
        edges_back.push_back(e);
        const int from = spec.stage_index(spec.edges[static_cast<std::size_t>(e)].from);
        e = from == src ? -1 : via[static_cast<std::size_t>(from)];
      }
      path->assign(1, src);
      for (auto it = edges_back.rbegin(); it != edges_back.rend(); ++it) {
        out.edges[static_cast<std::size_t>(*it)].on_critical_path = true;
        const int to = spec.stage_index(spec.edges[static_cast<std::size_t>(*it)].to);
        if (to != src) path->push_back(to);
      }
    }
    return best;
  };
  out.item_ms = longest(true, &out.path);
  out.free_ms = longest(false, nullptr);
  return out;
}

double amdahl_speedup(double p, double n, double c) {
  if (!(p >= 0.0 && p <= 1.0) || !(n >= 1.0) || !(c >= 0.0))
    throw error("amdahl_speedup: need 0 <= P <= 1, N >= 1, C >= 0");
  return 1.0 / ((1.0 - p) + p / n + c * n);
}

double amdahl_message_speedup(double p, double n, double t1_ms, double message_ms) {
  if (!(p >= 0.0 && p <= 1.0) || !(n >= 1.0) || !(t1_ms > 0.0) || !(message_ms >= 0.0))
    throw error("amdahl_message_speedup: need 0 <= P <= 1, N >= 1, T1 > 0, message >= 0");
  return t1_ms / (t1_ms * (1.0 - p) + t1_ms * p / n + (n - 1.0) * message_ms);
}

amdahl_inputs pipeline_amdahl(const pipeline_spec& spec, const platform& plat,
                              const emulated_link& emulate) {
  amdahl_inputs in;
  for (const auto& s : spec.stages) in.t1_ms += s.work_ms;
  in.critical_ms = critical_path_ms(spec);
  in.p = in.t1_ms > 0.0 ? std::clamp(1.0 - in.critical_ms / in.t1_ms, 0.0, 1.0) : 0.0;
  // Mean payload over the edges (each edge carries its producer's payload) and the commonest
  // serialization (ties: boost, datatype, raw).
  double bytes = 0.0;
  int uses[3] = {0, 0, 0};
  for (const auto& e : spec.edges) {
    bytes += static_cast<double>(
        spec.stages[static_cast<std::size_t>(spec.stage_index(e.from))].payload_bytes);
    ++uses[static_cast<int>(e.serialization)];
  }
  if (!spec.edges.empty()) bytes /= static_cast<double>(spec.edges.size());
  in.bytes = static_cast<std::uint64_t>(std::llround(bytes));
  int common = 0;
  for (int k = 1; k < 3; ++k)
    if (uses[k] > uses[common]) common = k;
  in.message_ms =
      plat.message_ms(tier::cross_host, static_cast<serialization_kind>(common), in.bytes);
  double held = emulate.latency_ms;
  if (emulate.bandwidth_bytes_per_s > 0.0)
    held += static_cast<double>(in.bytes) / emulate.bandwidth_bytes_per_s * 1e3;
  in.message_ms = std::max(in.message_ms, held);
  in.c = in.t1_ms > 0.0 ? in.message_ms / in.t1_ms : 0.0;
  return in;
}

std::vector<amdahl_row> amdahl_table(const amdahl_inputs& in, const std::vector<int>& ns) {
  std::vector<amdahl_row> rows;
  for (const int n : ns) {
    amdahl_row r;
    r.n = n;
    const double nn = static_cast<double>(n);
    r.plain = amdahl_speedup(in.p, nn);
    r.with_c = amdahl_speedup(in.p, nn, in.c);
    r.per_message =
        in.t1_ms > 0.0 ? amdahl_message_speedup(in.p, nn, in.t1_ms, in.message_ms) : 1.0;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace mpipe
