// The discrete-event simulation of a placed pipeline (simulate.hpp): stage instances as servers,
// CPU work sharing its cores, hops costing their tier, items kept in flight by the source.
#include "mpipe/simulate.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"

namespace mpipe {

core_layout shared_host_cores(const std::vector<std::string>& hosts,
                              const std::vector<int>& cores_per_rank) {
  core_layout out;
  std::map<std::string, int> cores;
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    const int c = r < cores_per_rank.size() ? cores_per_rank[r] : 1;
    cores[hosts[r]] = std::max(cores[hosts[r]], std::max(1, c));
  }
  for (const auto& h : hosts) {
    out.group.push_back(h);
    out.cores.push_back(cores[h]);
  }
  return out;
}

core_layout pinned_cores(const std::vector<std::string>& hosts, int k, int host_cores) {
  host_cores = std::max(1, host_cores);
  if (k <= 0) return shared_host_cores(hosts, std::vector<int>(hosts.size(), host_cores));
  core_layout out;
  const auto firsts = first_cores(hosts, k, host_cores);
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    out.group.push_back(hosts[r] + "#" + std::to_string(firsts[r]));
    out.cores.push_back(std::min(k, host_cores));
  }
  return out;
}

core_layout bound_cores(const std::vector<std::string>& hosts, const std::vector<std::string>& cpus,
                        const std::vector<int>& usable) {
  core_layout out;
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    out.group.push_back(hosts[r] + "#" + (r < cpus.size() ? cpus[r] : std::string()));
    out.cores.push_back(std::max(1, r < usable.size() ? usable[r] : 1));
  }
  return out;
}

std::uint64_t steady_warmup(std::uint64_t n, std::uint64_t inflight) {
  return std::min(std::max(inflight, n / 10), n / 3);
}

namespace {

constexpr double kEps = 1e-9;

struct instance {
  int stage = 0, rank = 0, group = 0;
  std::set<std::uint64_t> queue;   // ready items (all inputs in), by index
  std::deque<std::uint64_t> fifo;  // the same items in arrival order
  bool busy = false;
  std::uint64_t item = 0;
  int jobs_left = 0;
  std::size_t sending = 0;  // out-edges of `item` sent so far; blocked while waiting for a credit
  bool blocked = false;
};

// An on-demand producer's credits for one out-edge: one per consumer replica (a free slot in its
// queue), as the runtime keeps them; `next` breaks ties in turn.
struct credit_pool {
  std::vector<int> credits;
  int next = 0;
};

struct cpu_job {
  int inst;
  double left;  // ms of one core's time
  bool compute;
  std::uint64_t seq;
};

enum class event_kind { arrive, timer, back, credit };
struct event {
  double at;
  std::uint64_t seq;
  event_kind kind;
  int inst;  // arrive, timer: the instance; credit: the producer it goes back to
  std::uint64_t item;
  int edge = 0, replica = 0;  // credit: its pool and slot
  bool operator>(const event& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
};

class simulation {
 public:
  simulation(const pipeline_spec& spec, const placement& where, const platform& plat,
             const std::vector<std::string>& hosts, const core_layout& layout,
             const emulated_link& emulate, const simulation_options& o)
      : spec_(spec), g_(spec), plat_(plat), hosts_(hosts), emulate_(emulate), o_(o) {
    src_ = g_.source();
    items_ = std::min(o.items ? o.items : spec.items, std::max<std::uint64_t>(1, o.max_items));
    // One item at a time meets an empty pipeline every time: one item says it all.
    bool alone = spec.inflight <= 1;
    for (const auto& st : spec.stages) alone = alone && st.replicas <= 1;
    items_ = alone ? 1 : std::max<std::uint64_t>(1, items_);
    place(where, layout);
    const auto n = spec.stages.size();
    inputs_left_.assign(n * items_, 0);
    for (std::size_t s = 0; s < n; ++s)
      for (std::uint64_t i = 0; i < items_; ++i)
        inputs_left_[s * items_ + i] = static_cast<int>(g_.inputs(static_cast<int>(s)).size());
    returns_ = static_cast<int>(g_.inputs(src_).size());
    returns_left_.assign(items_, returns_);
    emitted_at_.assign(items_, 0.0);
    next_ordered_.assign(n, 0);
  }

  simulation_result run() {
    emit();
    for (std::uint64_t guard = 0; guard < 200'000'000 && step(); ++guard) {
    }
    return result();
  }

 private:
  void place(const placement& where, const core_layout& layout) {
    std::map<std::string, int> gid;
    for (std::size_t s = 0; s < spec_.stages.size(); ++s) {
      std::vector<int> ranks;
      if (s < where.replica_ranks.size() && !where.replica_ranks[s].empty())
        ranks = where.replica_ranks[s];
      else if (s < where.rank_of.size())
        ranks.push_back(where.rank_of[s]);
      if (ranks.empty()) throw error("simulate: stage '" + spec_.stages[s].name + "' is unplaced");
      inst_of_.emplace_back();
      for (const int r : ranks) {
        if (r < 0 || static_cast<std::size_t>(r) >= hosts_.size() ||
            static_cast<std::size_t>(r) >= layout.group.size())
          throw error("simulate: stage '" + spec_.stages[s].name + "' is on rank " +
                      std::to_string(r) + " of a job of " + std::to_string(hosts_.size()) +
                      " ranks");
        const std::string key = o_.serial_stages ? "rank " + std::to_string(r)
                                                 : layout.group[static_cast<std::size_t>(r)];
        const auto [it, fresh] = gid.emplace(key, static_cast<int>(capacity_.size()));
        if (fresh)
          capacity_.push_back(o_.serial_stages ? 1 : layout.cores[static_cast<std::size_t>(r)]);
        instance in;
        in.stage = static_cast<int>(s);
        in.rank = r;
        in.group = it->second;
        inst_of_.back().push_back(static_cast<int>(inst_.size()));
        inst_.push_back(in);
      }
    }
  }

  // The source sends out items while fewer than `inflight` are out.
  void emit() {
    while (out_ < spec_.inflight && next_item_ < items_) {
      const std::uint64_t i = next_item_++;
      ++out_;
      enqueue(inst_of_[static_cast<std::size_t>(src_)][0], i);
    }
  }

  void enqueue(int id, std::uint64_t item) {
    auto& in = inst_[static_cast<std::size_t>(id)];
    in.queue.insert(item);
    in.fifo.push_back(item);
    start(id);
  }

  // The next item this instance may serve: first come, first served; ordered: by index.
  bool next_of(instance& in, std::uint64_t& item) {
    if (in.queue.empty()) return false;
    const auto& st = spec_.stages[static_cast<std::size_t>(in.stage)];
    if (st.ordered) {
      item = *in.queue.begin();
      if (item != next_ordered_[static_cast<std::size_t>(in.stage)]) return false;
      ++next_ordered_[static_cast<std::size_t>(in.stage)];
      in.fifo.erase(std::find(in.fifo.begin(), in.fifo.end(), item));
    } else {
      item = in.fifo.front();
      in.fifo.pop_front();
    }
    in.queue.erase(item);
    return true;
  }

  void start(int id) {
    auto& in = inst_[static_cast<std::size_t>(id)];
    std::uint64_t item = 0;
    while (!in.busy && next_of(in, item)) {
      const auto& st = spec_.stages[static_cast<std::size_t>(in.stage)];
      in.busy = true;
      in.item = item;
      taken(id, item);
      if (st.work_ms <= 0.0) {
        done(id);
        continue;
      }
      const bool cpu = o_.serial_stages || st.kernel != kernel_kind::sleep;
      const int threads = o_.serial_stages || !cpu ? 1 : std::max(1, st.threads);
      // compute work_ms is in ms of one core, shared by its threads; spin and sleep take it.
      const double each =
          st.kernel == kernel_kind::compute ? st.work_ms / std::max(1, st.threads) : st.work_ms;
      in.jobs_left = threads;
      for (int t = 0; t < threads; ++t) {
        if (cpu)
          jobs_.push_back({id, each, st.kernel == kernel_kind::compute, seq_++});
        else
          events_.push({now_ + each, seq_++, event_kind::timer, id, item});
      }
    }
  }

  // The instance finished its item: send it on every out-edge (start takes the next).
  void done(int id) {
    auto& in = inst_[static_cast<std::size_t>(id)];
    in.sending = 0;
    send(id);
  }

  // Sends the item on its remaining out-edges; an on-demand edge without a credit blocks the
  // instance (it stays busy, as the runtime's stage thread waits) until one comes back.
  void send(int id) {
    auto& in = inst_[static_cast<std::size_t>(id)];
    const auto& outs = g_.outputs(in.stage);
    for (; in.sending < outs.size(); ++in.sending) {
      const int e = outs[in.sending];
      const auto& es = spec_.edges[static_cast<std::size_t>(e)];
      const int to = spec_.stage_index(es.to);
      int dest = 0;
      if (to == src_) {
        dest = inst_of_[static_cast<std::size_t>(src_)][0];
      } else if (on_demand(to)) {
        auto& pool = pool_of(e, id, to);
        const int k = take_credit(pool);
        if (k < 0) {
          in.blocked = true;
          return;
        }
        dest = inst_of_[static_cast<std::size_t>(to)][static_cast<std::size_t>(k)];
        origin_[{dest, in.item}] = {e, id, k};
      } else {
        dest = pick(to, in.item);
      }
      const double at = hop(es, in, inst_[static_cast<std::size_t>(dest)]);
      events_.push({at, seq_++, to == src_ ? event_kind::back : event_kind::arrive, dest, in.item});
    }
    in.blocked = false;
    in.busy = false;
  }

  bool on_demand(int s) const {
    const auto& st = spec_.stages[static_cast<std::size_t>(s)];
    return st.dispatch == dispatch_kind::on_demand &&
           inst_of_[static_cast<std::size_t>(s)].size() > 1;
  }

  credit_pool& pool_of(int e, int producer, int consumer) {
    auto [it, fresh] = pools_.try_emplace({e, producer});
    if (fresh) it->second.credits.assign(inst_of_[static_cast<std::size_t>(consumer)].size(), 1);
    return it->second;
  }

  // A replica with a credit, in turn from `next`; -1 when none has one.
  static int take_credit(credit_pool& pool) {
    const int r = static_cast<int>(pool.credits.size());
    for (int k = 0; k < r; ++k) {
      const int i = (pool.next + k) % r;
      if (pool.credits[static_cast<std::size_t>(i)] > 0) {
        --pool.credits[static_cast<std::size_t>(i)];
        pool.next = (i + 1) % r;
        return i;
      }
    }
    return -1;
  }

  // An instance takes an item: the source stamps its latency's start; a replica fed on demand
  // sends its producer's credit back (a small message across ranks).
  void taken(int id, std::uint64_t item) {
    const auto& in = inst_[static_cast<std::size_t>(id)];
    if (in.stage == src_) emitted_at_[item] = now_;
    const auto it = origin_.find({id, item});
    if (it == origin_.end()) return;
    const auto [e, producer, k] = it->second;
    origin_.erase(it);
    double at = now_;
    const auto& p = inst_[static_cast<std::size_t>(producer)];
    if (!o_.free_communication && p.rank != in.rank) {
      const tier t =
          hosts_[static_cast<std::size_t>(p.rank)] == hosts_[static_cast<std::size_t>(in.rank)]
              ? tier::same_host
              : tier::cross_host;
      at += (plat_.link(t).alpha_us + runtime_us(t)) * 1e-3;
    }
    events_.push({at, seq_++, event_kind::credit, producer, item, e, k});
  }

  void finish(int id) {
    done(id);
    start(id);
  }

  // Which replica of stage s takes the item (not on demand): round-robin, one for all of a join's
  // inputs.
  int pick(int s, std::uint64_t item) {
    const auto& ids = inst_of_[static_cast<std::size_t>(s)];
    return ids[static_cast<std::size_t>(item % ids.size())];
  }

  // When a message sent now from a to b arrives.
  double hop(const edge_spec& es, const instance& a, const instance& b) {
    if (o_.free_communication) return now_;
    const auto& ha = hosts_[static_cast<std::size_t>(a.rank)];
    const auto& hb = hosts_[static_cast<std::size_t>(b.rank)];
    const tier t = a.rank == b.rank ? tier::same_rank
                   : ha == hb       ? tier::same_host
                                    : tier::cross_host;
    const auto bytes =
        spec_.stages[static_cast<std::size_t>(spec_.stage_index(es.from))].payload_bytes;
    double at = now_ + plat_.message_ms(t, es.serialization, bytes);
    if (t != tier::same_rank && (t == tier::cross_host || !emulate_.cross_host_only)) {
      double leaves = now_;  // off the emulated link's wire
      if (emulate_.bandwidth_bytes_per_s > 0.0) {
        double& free_at = link_free_[{a.rank, b.rank}];
        leaves = std::max(now_, free_at) +
                 static_cast<double>(bytes) / emulate_.bandwidth_bytes_per_s * 1e3;
        free_at = leaves;
      }
      at = std::max(at, leaves + emulate_.latency_ms);
    }
    return at + runtime_us(t) * 1e-3;
  }

  // The runtime's own cost of a hop on tier t, for the ranks' wait policy.
  double runtime_us(tier t) const {
    const auto& l = plat_.link(t);
    return o_.wait_block && l.runtime_block_us >= 0.0 ? l.runtime_block_us : l.runtime_us;
  }

  void handle(const event& ev) {
    switch (ev.kind) {
      case event_kind::timer:
        if (--inst_[static_cast<std::size_t>(ev.inst)].jobs_left == 0) finish(ev.inst);
        break;
      case event_kind::arrive: {
        const int s = inst_[static_cast<std::size_t>(ev.inst)].stage;
        if (--inputs_left_[static_cast<std::size_t>(s) * items_ + ev.item] == 0)
          enqueue(ev.inst, ev.item);
        break;
      }
      case event_kind::credit: {
        const int to = spec_.stage_index(spec_.edges[static_cast<std::size_t>(ev.edge)].to);
        ++pool_of(ev.edge, ev.inst, to).credits[static_cast<std::size_t>(ev.replica)];
        if (inst_[static_cast<std::size_t>(ev.inst)].blocked) {
          send(ev.inst);
          start(ev.inst);
        }
        break;
      }
      case event_kind::back:
        if (--returns_left_[ev.item] == 0) {
          latencies_.push_back(now_ - emitted_at_[ev.item]);
          completions_.push_back(now_);
          --out_;
          emit();
        }
        break;
    }
  }

  double scaling(int busy) const {
    const auto& s = plat_.compute_scaling;
    if (s.empty() || busy <= 0) return 1.0;
    return s[static_cast<std::size_t>(std::min<int>(busy, static_cast<int>(s.size())) - 1)];
  }

  // Each CPU job's speed now: processor sharing within its group (serial: the oldest alone).
  std::vector<double> rates() const {
    std::vector<int> busy(capacity_.size(), 0);
    std::vector<std::uint64_t> oldest(capacity_.size(), std::numeric_limits<std::uint64_t>::max());
    for (const auto& j : jobs_) {
      const int gr = inst_[static_cast<std::size_t>(j.inst)].group;
      ++busy[static_cast<std::size_t>(gr)];
      oldest[static_cast<std::size_t>(gr)] = std::min(oldest[static_cast<std::size_t>(gr)], j.seq);
    }
    std::vector<double> out;
    out.reserve(jobs_.size());
    for (const auto& j : jobs_) {
      const auto gr = static_cast<std::size_t>(inst_[static_cast<std::size_t>(j.inst)].group);
      if (o_.serial_stages) {
        out.push_back(j.seq == oldest[gr] ? 1.0 : 0.0);
        continue;
      }
      const double k = capacity_[gr], n = busy[gr];
      const double r = std::min(1.0, k / n);
      out.push_back(j.compute ? r * scaling(static_cast<int>(std::min(k, n))) : r);
    }
    return out;
  }

  // One step to the next event; false when nothing is left to happen.
  bool step() {
    const auto rate = rates();
    double dt = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < jobs_.size(); ++j)
      if (rate[j] > 0) dt = std::min(dt, jobs_[j].left / rate[j]);
    const double next = events_.empty() ? dt + now_ : events_.top().at;
    if (std::isinf(dt) && events_.empty()) return false;
    const double t = std::max(now_, std::min(now_ + dt, next));
    for (std::size_t j = 0; j < jobs_.size(); ++j) jobs_[j].left -= (t - now_) * rate[j];
    now_ = t;
    std::vector<int> finished;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->left <= kEps) {
        finished.push_back(it->inst);
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
    for (const int id : finished)
      if (--inst_[static_cast<std::size_t>(id)].jobs_left == 0) finish(id);
    while (!events_.empty() && events_.top().at <= now_ + kEps) {
      const event ev = events_.top();
      events_.pop();
      handle(ev);
    }
    return true;
  }

  simulation_result result() const {
    simulation_result r;
    r.items = latencies_.size();
    if (latencies_.empty()) return r;
    double sum = 0.0;
    for (const double l : latencies_) sum += l;
    r.mean_ms = sum / static_cast<double>(r.items);
    r.first_ms = latencies_.front();
    auto sorted = latencies_;
    std::sort(sorted.begin(), sorted.end());
    const auto k = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(r.items)));
    r.p95_ms = sorted[std::max<std::size_t>(k, 1) - 1];
    r.makespan_ms = completions_.back();
    // The runtime's window: from the warmup-th completion (the start without warm-up) to the
    // (n - drain)-th.
    const std::uint64_t n = r.items, w = steady_warmup(n, spec_.inflight);
    const double from = w == 0 ? 0.0 : completions_[w - 1];
    const double to = completions_[n - w - 1];
    r.items_per_s = to > from ? static_cast<double>(n - 2 * w) * 1000.0 / (to - from)
                              : std::numeric_limits<double>::infinity();
    return r;
  }

  const pipeline_spec& spec_;
  const graph g_;
  const platform& plat_;
  const std::vector<std::string>& hosts_;
  const emulated_link emulate_;
  const simulation_options o_;
  int src_ = 0, returns_ = 0;
  std::uint64_t items_ = 1, next_item_ = 0, out_ = 0, seq_ = 0;
  std::vector<std::vector<int>> inst_of_;  // stage -> instance ids by replica
  std::vector<instance> inst_;
  std::vector<double> capacity_;  // per core group
  std::vector<int> inputs_left_, returns_left_;
  std::map<std::pair<int, int>, credit_pool> pools_;  // (edge, producer instance)
  // (consumer instance, item) -> (edge, producer instance, replica): whose credit it holds.
  std::map<std::pair<int, std::uint64_t>, std::tuple<int, int, int>> origin_;
  std::vector<double> emitted_at_, latencies_, completions_;
  std::vector<std::uint64_t> next_ordered_;
  std::vector<cpu_job> jobs_;
  std::priority_queue<event, std::vector<event>, std::greater<>> events_;
  std::map<std::pair<int, int>, double> link_free_;
  double now_ = 0.0;
};

}  // namespace

simulation_result simulate(const pipeline_spec& spec, const placement& where, const platform& plat,
                           const std::vector<std::string>& hosts, const core_layout& layout,
                           const emulated_link& emulate, const simulation_options& options) {
  return simulation(spec, where, plat, hosts, layout, emulate, options).run();
}

}  // namespace mpipe
