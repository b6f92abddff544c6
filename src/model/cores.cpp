// The model with cores (model.hpp): one item through the placed DAG, CPU-bound stages sharing
// the cores of their group, as `mpipe sweep` confines ranks to them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mpipe/graph.hpp"
#include "mpipe/model.hpp"

namespace mpipe {

// Rank r's first core when each rank gets K of the host's C: its index among the ranks of its
// host, times K, modulo C.
std::vector<int> first_cores(const std::vector<std::string>& hosts, int k, int host_cores) {
  std::map<std::string, int> seen;
  std::vector<int> out;
  for (const auto& h : hosts) out.push_back((seen[h]++ * k) % std::max(1, host_cores));
  return out;
}

namespace {

// Core group of each stage: ranks sharing cores share a key; capacity = cores in the group.
struct core_groups {
  std::vector<std::string> group;
  std::map<std::string, double> capacity;
};

core_groups group_cores(const pipeline_spec& spec, const placement& where,
                        const std::vector<std::string>& hosts, int cores_per_rank, int host_cores,
                        bool serial_stages) {
  const auto n = spec.stages.size();
  core_groups out;
  auto& group = out.group;
  auto& capacity = out.capacity;
  group.resize(n);
  const auto firsts = first_cores(hosts, std::max(1, cores_per_rank), host_cores);
  for (std::size_t s = 0; s < n; ++s) {
    const int r = where.rank_of[s];
    const auto& host = hosts[static_cast<std::size_t>(r)];
    if (serial_stages) {
      group[s] = "rank " + std::to_string(r);
      capacity[group[s]] = 1;
    } else if (cores_per_rank > 0) {
      group[s] = host + "#" + std::to_string(firsts[static_cast<std::size_t>(r)]);
      capacity[group[s]] = std::min(cores_per_rank, std::max(1, host_cores));
    } else {
      group[s] = host;
      capacity[group[s]] = std::max(1, host_cores);
    }
  }
  return out;
}

// Each busy stage is `threads` jobs of CPU (spin: work each; compute: work / threads); sleep
// is a timer that needs no core.
struct job {
  std::size_t stage;
  double left;
  bool cpu;         // shares its group (serial_stages: every job with work does)
  std::size_t seq;  // start order: serial groups serve the oldest first
};

// One item from the source through the DAG and back, in steps from one event (a job done, a
// stage ready) to the next.
struct item_simulation {
  item_simulation(const pipeline_spec& of, const latency_prediction& costs, core_groups groups,
                  bool free_comm, bool serial)
      : spec(of),
        g(of),
        pred(costs),
        group(std::move(groups.group)),
        capacity(std::move(groups.capacity)),
        free_communication(free_comm),
        serial_stages(serial),
        src(g.source()) {
    const auto n = spec.stages.size();
    jobs_left.assign(n, 0);
    inputs_left.assign(n, 0);
    ready_at.assign(n, 0.0);
    for (std::size_t s = 0; s < n; ++s)
      inputs_left[s] = static_cast<int>(g.inputs(static_cast<int>(s)).size());
    returns_left = inputs_left[static_cast<std::size_t>(src)];
  }

  // The item's latency, or predict_latency's when it does not come back.
  double run() {
    if (!start(static_cast<std::size_t>(src))) finish(static_cast<std::size_t>(src));
    for (int guard = 0; guard < 100000; ++guard)
      if (!advance()) break;
    return returns_left == 0 ? std::max(item_end, now) : pred.item_ms;
  }

  bool start(std::size_t s) {
    const auto& st = spec.stages[s];
    if (st.work_ms <= 0.0) {
      jobs_left[s] = 0;
      return false;
    }
    const bool cpu = serial_stages || st.kernel != kernel_kind::sleep;
    const int threads = serial_stages ? 1 : cpu ? std::max(1, st.threads) : 1;
    // compute work is in ms of one core, shared by its threads; spin and sleep take work_ms.
    const double each =
        st.kernel == kernel_kind::compute ? st.work_ms / std::max(1, st.threads) : st.work_ms;
    for (int t = 0; t < threads; ++t) running.push_back({s, each, cpu, started++});
    jobs_left[s] = threads;
    return true;
  }

  void finish(std::size_t s) {
    for (const int e : g.outputs(static_cast<int>(s))) {
      const auto to =
          static_cast<std::size_t>(spec.stage_index(spec.edges[static_cast<std::size_t>(e)].to));
      const double arrive =
          now + (free_communication ? 0.0 : pred.edges[static_cast<std::size_t>(e)].cost_ms);
      if (static_cast<int>(to) == src) {
        item_end = std::max(item_end, arrive);
        --returns_left;
        continue;
      }
      ready_at[to] = std::max(ready_at[to], arrive);
      if (--inputs_left[to] == 0) pending.emplace(ready_at[to], to);
    }
  }

  // One step to the next event; false when nothing is left to happen.
  bool advance() {
    // Rates: processor sharing within each core group.
    std::map<std::string, int> busy;
    std::map<std::string, std::size_t> oldest;
    for (const auto& j : running) {
      if (!j.cpu) continue;
      const auto& key = group[j.stage];
      oldest[key] = busy[key]++ == 0 ? j.seq : std::min(oldest[key], j.seq);
    }
    const auto rate = [&](const job& j) {
      if (!j.cpu) return 1.0;
      if (serial_stages) return j.seq == oldest[group[j.stage]] ? 1.0 : 0.0;
      return std::min(1.0, capacity[group[j.stage]] / busy[group[j.stage]]);
    };
    double dt = std::numeric_limits<double>::infinity();
    for (const auto& j : running)
      if (rate(j) > 0) dt = std::min(dt, j.left / rate(j));
    const double next_ready =
        pending.empty() ? std::numeric_limits<double>::infinity() : pending.begin()->first - now;
    if (std::isinf(dt) && std::isinf(next_ready)) return false;
    const double step = std::max(0.0, std::min(dt, next_ready));
    for (auto& j : running) j.left -= step * rate(j);
    now += step;
    // Completions (within rounding), then stages that became ready.
    finished.clear();
    for (auto it = running.begin(); it != running.end();) {
      if (it->left <= 1e-12) {
        if (--jobs_left[it->stage] == 0) finished.push_back(it->stage);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    for (std::size_t s : finished) finish(s);
    while (!pending.empty() && pending.begin()->first <= now + 1e-12) {
      const std::size_t s = pending.begin()->second;
      pending.erase(pending.begin());
      if (!start(s)) finish(s);
    }
    return true;
  }

  const pipeline_spec& spec;
  const graph g;
  const latency_prediction& pred;
  std::vector<std::string> group;
  std::map<std::string, double> capacity;
  const bool free_communication, serial_stages;
  const int src;
  std::vector<job> running;
  std::vector<int> jobs_left, inputs_left;
  std::vector<double> ready_at;
  int returns_left = 0;
  double item_end = 0.0;
  std::multimap<double, std::size_t> pending;  // ready time -> stage
  std::size_t started = 0;
  double now = 0.0;
  std::vector<std::size_t> finished;
};

}  // namespace

double predict_item_ms(const pipeline_spec& spec, const placement& where, const platform& plat,
                       const std::vector<std::string>& hosts, const emulated_link& emulate,
                       int cores_per_rank, int host_cores, bool free_communication,
                       bool serial_stages) {
  const auto pred = predict_latency(spec, where, plat, hosts, emulate);
  bool simple = spec.inflight == 1;
  for (const auto& st : spec.stages) simple = simple && st.replicas == 1;
  if (!simple) return free_communication ? pred.free_ms : pred.item_ms;

  item_simulation sim(spec, pred,
                      group_cores(spec, where, hosts, cores_per_rank, host_cores, serial_stages),
                      free_communication, serial_stages);
  return sim.run();
}

}  // namespace mpipe
