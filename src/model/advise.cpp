// The placement advisor: the model (model.cpp) run over the placements of a pipeline on N ranks,
// exhaustively for small searches, greedy + local search beyond. See advise.hpp.
#include "mpipe/advise.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/simulate.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

namespace {

std::string ms_text(double v) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(3) << v << " ms";
  return o.str();
}

bool close(double a, double b) {
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

placement make_placement(const pipeline_spec& spec, const std::vector<int>& rank_of) {
  placement p;
  p.mode = "map";
  p.rank_of = rank_of;
  for (std::size_t s = 0; s < spec.stages.size(); ++s)
    p.replica_ranks.emplace_back(static_cast<std::size_t>(std::max(1, spec.stages[s].replicas)),
                                 rank_of[s]);
  return p;
}

// Which remote hops the critical path takes, which stages share a rank, what limits throughput.
std::string explain(const pipeline_spec& spec, const placement& where,
                    const latency_prediction& pred, const throughput_bound& b) {
  std::string hops;
  for (const auto& e : pred.edges) {
    if (!e.on_critical_path || (e.where == tier::same_rank && !e.mixed)) continue;
    hops += (hops.empty() ? "" : ", ") + e.from + "->" + e.to + " " + to_string(e.where) + " " +
            std::to_string(e.from_rank) + "->" + std::to_string(e.to_rank) + " " +
            ms_text(e.cost_ms);
  }
  std::string line = hops.empty() ? "critical path " : "critical path crosses ranks at " + hops;
  if (hops.empty()) {
    line += "all in memory";
  }
  std::map<int, std::vector<std::string>> on;
  for (std::size_t s = 0; s < spec.stages.size(); ++s)
    on[where.rank_of[s]].push_back(spec.stages[s].name);
  std::string shared;
  for (const auto& [rank, names] : on) {
    if (names.size() < 2) continue;
    std::string group;
    for (const auto& n : names) group += (group.empty() ? "" : "+") + n;
    shared +=
        (shared.empty() ? "" : ", ") + std::string("rank ") + std::to_string(rank) + " " + group;
  }
  line += "; " + (shared.empty() ? std::string("no two stages share a rank") : "shared: " + shared);
  if (std::isinf(b.items_per_s)) {
    line += "; throughput unbounded";
  } else if (close(b.items_per_s, b.core_bound_per_s)) {
    line += "; throughput limited by the cores of " + b.limiting_host;
  } else if (close(b.items_per_s, b.stage_bound_per_s)) {
    line += "; throughput limited by stage '" + b.limiting_stage + "'";
  } else {
    line += "; throughput limited by the window (inflight / critical path)";
  }
  return line;
}

// The hosts' layout, for the symmetry rule (advise.hpp): ranks of a host in rank order, and a
// kind per host (rank 0's host alone in its kind; others by rank count and cores).
struct layout {
  std::vector<int> host_of;                  // per rank
  std::vector<std::vector<int>> ranks_of;    // per host, in rank order
  std::vector<std::vector<int>> kind_hosts;  // per kind, hosts in first-rank order
  std::vector<int> kind_of;                  // per host

  layout(const std::vector<std::string>& hosts, const std::vector<int>& cores) {
    std::map<std::string, int> index;
    for (std::size_t r = 0; r < hosts.size(); ++r) {
      const auto it = index.emplace(hosts[r], static_cast<int>(ranks_of.size())).first;
      if (it->second == static_cast<int>(ranks_of.size())) ranks_of.emplace_back();
      ranks_of[static_cast<std::size_t>(it->second)].push_back(static_cast<int>(r));
      host_of.push_back(it->second);
    }
    std::map<std::pair<std::size_t, int>, int> kinds;
    for (std::size_t h = 0; h < ranks_of.size(); ++h) {
      int c = 1;
      for (const int r : ranks_of[h]) c = std::max(c, cores[static_cast<std::size_t>(r)]);
      int k = 0;
      if (h == 0) {
        k = static_cast<int>(kind_hosts.size());
        kind_hosts.emplace_back();
      } else {
        const auto it =
            kinds
                .emplace(std::make_pair(ranks_of[h].size(), c), static_cast<int>(kind_hosts.size()))
                .first;
        if (it->second == static_cast<int>(kind_hosts.size())) kind_hosts.emplace_back();
        k = it->second;
      }
      kind_of.push_back(k);
      kind_hosts[static_cast<std::size_t>(k)].push_back(static_cast<int>(h));
    }
  }

  // The representative of assign's class: stages relabelled in `order` (the source, on rank 0,
  // excluded) by first use, hosts within a kind and ranks within a host.
  std::vector<int> canonical(const std::vector<int>& assign, const std::vector<int>& order,
                             std::size_t depth) const {
    std::vector<int> out = assign;
    std::vector<int> host_map(ranks_of.size(), -1), rank_map(host_of.size(), -1);
    std::vector<std::size_t> next_kind(kind_hosts.size(), 0), next_slot(ranks_of.size(), 0);
    host_map[0] = 0;
    next_kind[static_cast<std::size_t>(kind_of[0])] = 1;
    rank_map[0] = 0;
    next_slot[0] = 1;
    for (std::size_t i = 0; i < depth; ++i) {
      const auto s = static_cast<std::size_t>(order[i]);
      const int r = assign[s];
      const auto h = static_cast<std::size_t>(host_of[static_cast<std::size_t>(r)]);
      if (host_map[h] < 0) {
        const auto k = static_cast<std::size_t>(kind_of[h]);
        host_map[h] = kind_hosts[k][next_kind[k]++];
      }
      if (rank_map[static_cast<std::size_t>(r)] < 0) {
        const auto ch = static_cast<std::size_t>(host_map[h]);
        rank_map[static_cast<std::size_t>(r)] = ranks_of[ch][next_slot[ch]++];
      }
      out[s] = rank_map[static_cast<std::size_t>(r)];
    }
    return out;
  }
};

// The best `top` advices seen, best first, one per symmetry class.
class top_list {
 public:
  top_list(objective goal, std::size_t top) : goal_(goal), top_(top) {}
  void offer(placement_advice a) {
    if (list_.size() == top_ && !better(a, list_.back(), goal_)) return;
    auto at = list_.begin();
    while (at != list_.end() && !better(a, *at, goal_)) ++at;
    list_.insert(at, std::move(a));
    if (list_.size() > top_) list_.pop_back();
  }
  std::vector<placement_advice> take() { return std::move(list_); }

 private:
  objective goal_;
  std::size_t top_;
  std::vector<placement_advice> list_;
};

}  // namespace

objective parse_objective(const std::string& text) {
  if (text == "latency") return objective::latency;
  if (text == "throughput") return objective::throughput;
  throw error("objective '" + text + "': expected latency or throughput");
}

const char* to_string(objective o) { return o == objective::latency ? "latency" : "throughput"; }

bool better(const placement_advice& a, const placement_advice& b, objective goal) {
  if (goal == objective::latency) {
    if (!close(a.item_ms, b.item_ms)) return a.item_ms < b.item_ms;
    if (a.ranks_used != b.ranks_used) return a.ranks_used < b.ranks_used;
    if (!close(a.items_per_s, b.items_per_s)) return a.items_per_s > b.items_per_s;
    return false;
  }
  if (!close(a.items_per_s, b.items_per_s)) return a.items_per_s > b.items_per_s;
  if (!close(a.item_ms, b.item_ms)) return a.item_ms < b.item_ms;
  return a.ranks_used < b.ranks_used;
}

placement_advice evaluate_placement(const pipeline_spec& spec, const placement& where,
                                    const platform& plat,
                                    const std::vector<std::string>& hosts_per_rank,
                                    const std::vector<int>& cores_per_rank, objective goal,
                                    const emulated_link& emulate) {
  placement_advice a;
  a.where = where;
  const auto pred = predict_latency(spec, where, plat, hosts_per_rank, emulate);
  const auto b = compute_throughput_bound(spec, where, hosts_per_rank, cores_per_rank);
  // The simulator, so that CPU-bound stages packed on a host short of cores pay for it.
  simulation_options o;
  o.max_items = 200;  // a steady state, at a cost a search over thousands of placements bears
  a.item_ms = simulate(spec, where, plat, hosts_per_rank,
                       shared_host_cores(hosts_per_rank, cores_per_rank), emulate, o)
                  .mean_ms;
  a.items_per_s = b.items_per_s;
  a.score = goal == objective::latency ? a.item_ms : a.items_per_s;
  std::set<int> used;
  for (const auto& rs : where.replica_ranks) used.insert(rs.begin(), rs.end());
  for (const int r : where.rank_of) used.insert(r);
  a.ranks_used = static_cast<int>(used.size());
  a.why = explain(spec, where, pred, b);
  return a;
}

std::vector<placement_advice> advise_placements(const pipeline_spec& spec, const platform& plat,
                                                const std::vector<std::string>& hosts_per_rank,
                                                const std::vector<int>& cores_per_rank,
                                                objective goal, const emulated_link& emulate,
                                                int top, search_mode mode, advise_stats* stats) {
  if (hosts_per_rank.empty() || hosts_per_rank.size() != cores_per_rank.size())
    throw error("advise_placements: " + std::to_string(hosts_per_rank.size()) + " hosts and " +
                std::to_string(cores_per_rank.size()) + " core counts: need one each per rank");
  if (top < 1) throw error("advise_placements: top " + std::to_string(top) + ": need at least 1");
  const int ranks = static_cast<int>(hosts_per_rank.size());
  const graph g(spec);
  const int src = g.source();
  const std::size_t n = spec.stages.size();
  const layout lay(hosts_per_rank, cores_per_rank);

  advise_stats st;
  st.space = std::pow(static_cast<double>(ranks), static_cast<double>(n) - 1.0);
  st.exhaustive = mode == search_mode::exhaustive ||
                  (mode == search_mode::automatic && st.space <= exhaustive_limit);

  top_list best(goal, static_cast<std::size_t>(top));
  std::vector<int> assign(n, 0);
  const auto evaluate = [&](const std::vector<int>& a) {
    ++st.evaluated;
    return evaluate_placement(spec, make_placement(spec, a), plat, hosts_per_rank, cores_per_rank,
                              goal, emulate);
  };

  if (st.exhaustive) {
    // Stages in index order, the source excluded; depth-first, pruning non-canonical prefixes.
    std::vector<int> order;
    for (std::size_t s = 0; s < n; ++s)
      if (static_cast<int>(s) != src) order.push_back(static_cast<int>(s));
    const auto dfs = [&](const auto& self, std::size_t depth) -> void {
      if (depth == order.size()) {
        best.offer(evaluate(assign));
        return;
      }
      const auto s = static_cast<std::size_t>(order[depth]);
      for (int r = 0; r < ranks; ++r) {
        assign[s] = r;
        if (lay.canonical(assign, order, depth + 1)[s] != r) continue;
        self(self, depth + 1);
      }
      assign[s] = 0;
    };
    dfs(dfs, 0);
  } else {
    // Greedy in topological order (the unplaced on rank 0), then single-stage moves.
    std::vector<int> order;
    for (const int v : g.topo_order())
      if (v != src) order.push_back(v);
    std::map<std::vector<int>, placement_advice> seen;  // by class representative
    const auto consider = [&](const std::vector<int>& a) {
      const auto key = lay.canonical(a, order, order.size());
      const auto it = seen.find(key);
      if (it != seen.end()) return it->second;
      placement_advice adv = evaluate(key);
      seen.emplace(key, adv);
      best.offer(adv);
      return adv;
    };
    placement_advice current = consider(assign);
    for (const int v : order) {
      const auto s = static_cast<std::size_t>(v);
      std::vector<int> pick = assign;
      placement_advice pick_adv = current;
      for (int r = 1; r < ranks; ++r) {
        std::vector<int> a = assign;
        a[s] = r;
        auto adv = consider(a);
        if (better(adv, pick_adv, goal)) {
          pick = a;
          pick_adv = adv;
        }
      }
      assign = pick;
      current = pick_adv;
    }
    for (int round = 0; round < 10'000; ++round) {
      std::vector<int> pick;
      placement_advice pick_adv = current;
      for (const int v : order) {
        const auto s = static_cast<std::size_t>(v);
        for (int r = 0; r < ranks; ++r) {
          if (r == assign[s]) continue;
          std::vector<int> a = assign;
          a[s] = r;
          auto adv = consider(a);
          if (better(adv, pick_adv, goal)) {
            pick = a;
            pick_adv = adv;
          }
        }
      }
      if (pick.empty()) break;
      assign = pick;
      current = pick_adv;
    }
  }
  if (stats) *stats = st;
  return best.take();
}

namespace {

// "A=2,C3=3": the stages whose replica count differs from base's, in stage order.
std::string replicas_text(const pipeline_spec& base, const pipeline_spec& grown) {
  std::string out;
  for (std::size_t s = 0; s < base.stages.size(); ++s)
    if (grown.stages[s].replicas != base.stages[s].replicas)
      out += (out.empty() ? "" : ",") + grown.stages[s].name + "=" +
             std::to_string(grown.stages[s].replicas);
  return out;
}

}  // namespace

std::vector<placement_advice> grow_replicas(
    const pipeline_spec& spec, const std::vector<placement_advice>& start, const platform& plat,
    const std::vector<std::string>& hosts_per_rank, const std::vector<int>& cores_per_rank,
    objective goal, const emulated_link& emulate, int max_replicas, int top, advise_stats* stats) {
  if (top < 1) throw error("grow_replicas: top " + std::to_string(top) + ": need at least 1");
  const int ranks = static_cast<int>(hosts_per_rank.size());
  // Which stages the farm rules let grow: the spec's own check, asked once per stage.
  std::vector<std::size_t> growable;
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    pipeline_spec probe = spec;
    try {
      apply_replicas(probe,
                     spec.stages[s].name + "=" + std::to_string(spec.stages[s].replicas + 1));
      growable.push_back(s);
    } catch (const spec_error&) {
    }
  }
  top_list best(goal, static_cast<std::size_t>(top));
  std::set<std::string> seen;  // replicas + placement text: no placement listed twice
  std::uint64_t evaluated = 0;
  const auto offer = [&](const placement_advice& a, const pipeline_spec& with) {
    if (seen.insert(a.replicas + " " + a.where.to_string(with)).second) best.offer(a);
  };
  for (const auto& first : start) {
    pipeline_spec cur_spec = spec;
    apply_replicas(cur_spec, first.replicas);
    placement_advice cur = first;
    offer(cur, cur_spec);
    for (;;) {
      placement_advice pick;
      pipeline_spec pick_spec;
      bool found = false;
      for (const std::size_t s : growable) {
        if (cur_spec.stages[s].replicas >= std::min(max_replicas, ranks)) continue;
        pipeline_spec next_spec = cur_spec;
        ++next_spec.stages[s].replicas;
        for (int r = 0; r < ranks; ++r) {
          placement where = cur.where;
          where.replica_ranks[s].push_back(r);
          ++evaluated;
          auto a = evaluate_placement(next_spec, where, plat, hosts_per_rank, cores_per_rank, goal,
                                      emulate);
          if (better(a, found ? pick : cur, goal)) {
            a.replicas = replicas_text(spec, next_spec);
            a.why = "replicas " + a.replicas + "; " + a.why;
            pick = std::move(a);
            pick_spec = next_spec;
            found = true;
          }
        }
      }
      if (!found) break;
      cur = std::move(pick);
      cur_spec = std::move(pick_spec);
      offer(cur, cur_spec);
    }
  }
  if (stats) stats->evaluated += evaluated;
  return best.take();
}

}  // namespace mpipe
