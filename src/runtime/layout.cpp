#include "layout.hpp"

#include <mpi.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <boost/mpi/collectives.hpp>
#include <cstring>
#include <set>
#include <thread>

#include "gather.hpp"
#include "mpi_info.hpp"
#include "mpipe/graph.hpp"
#include "util.hpp"

namespace mpipe {

std::vector<instance_pair> instance_pairs(const pipeline_spec& spec, const placement& where,
                                          std::size_t e) {
  const auto& ed = spec.edges[e];
  const auto& from = where.replica_ranks[static_cast<std::size_t>(spec.stage_index(ed.from))];
  const auto& to = where.replica_ranks[static_cast<std::size_t>(spec.stage_index(ed.to))];
  std::vector<instance_pair> out;
  for (std::size_t i = 0; i < from.size(); ++i)
    for (std::size_t j = 0; j < to.size(); ++j)
      out.push_back({static_cast<int>(i), static_cast<int>(j), from[i], to[j]});
  return out;
}

std::string instance_name(const pipeline_spec& spec, const std::string& stage, int replica) {
  const int s = spec.stage_index(stage);
  if (s < 0 || spec.stages[static_cast<std::size_t>(s)].replicas <= 1) return stage;
  return stage + "#" + std::to_string(replica);
}

std::string tier_of(int a, int b, const std::vector<std::string>& hosts) {
  if (a == b) return "same-rank";
  return hosts[static_cast<std::size_t>(a)] == hosts[static_cast<std::size_t>(b)] ? "same-host"
                                                                                  : "cross-host";
}

namespace {

// The distinct (sending rank, receiving rank) pairs the edges' instances join.
std::set<std::pair<int, int>> rank_links(const pipeline_spec& spec, const placement& where) {
  std::set<std::pair<int, int>> links;
  for (std::size_t e = 0; e < spec.edges.size(); ++e)
    for (const auto& p : instance_pairs(spec, where, e))
      if (p.from_rank != p.to_rank) links.insert({p.from_rank, p.to_rank});
  return links;
}

// One empty message over every link: Open MPI connects TCP peers on their first message, and
// until then a peer's endpoint names no transport (a dry run read "unknown").
void connect_links(const boost::mpi::communicator& comm,
                   const std::set<std::pair<int, int>>& links) {
  std::vector<MPI_Request> requests;
  char sink = 0;  // zero-byte messages: the buffer is never written
  for (const auto& [from, to] : links) {
    if (from == comm.rank()) requests.emplace_back();
    if (from == comm.rank())
      MPIPE_MPI_CHECK(MPI_Isend(nullptr, 0, MPI_BYTE, to, 0, comm, &requests.back()));
    if (to == comm.rank()) requests.emplace_back();
    if (to == comm.rank())
      MPIPE_MPI_CHECK(MPI_Irecv(&sink, 0, MPI_BYTE, from, 0, comm, &requests.back()));
  }
  for (auto& r : requests) wait_politely(r);
}

struct pair_transport_row {
  std::int32_t edge, src_replica, dst_replica;
  char name[48];
};

}  // namespace

pair_transports edge_transports(const boost::mpi::communicator& world, const pipeline_spec& spec,
                                const placement& where) {
  // A private communicator, so the connecting messages can never match anything of the run's.
  const boost::mpi::communicator comm(world, boost::mpi::comm_duplicate);
  connect_links(comm, rank_links(spec, where));
  std::vector<pair_transport_row> mine;
  for (std::size_t e = 0; e < spec.edges.size(); ++e)
    for (const auto& p : instance_pairs(spec, where, e)) {
      if (p.from_rank != comm.rank() || p.to_rank == p.from_rank) continue;
      pair_transport_row row{static_cast<std::int32_t>(e), p.src_replica, p.dst_replica, {}};
      peer_transport(comm, p.to_rank).copy(row.name, sizeof row.name - 1);
      mine.push_back(row);
    }
  pair_transports out;
  for (const auto& r : gather_rows(comm, mine))
    out[{r.edge, r.src_replica, r.dst_replica}] = r.name;
  if (comm.rank() != 0) return {};
  for (std::size_t e = 0; e < spec.edges.size(); ++e)
    for (const auto& p : instance_pairs(spec, where, e))
      if (p.from_rank == p.to_rank)
        out[{static_cast<std::int32_t>(e), p.src_replica, p.dst_replica}] = "in-memory";
  return out;
}

pair_counts split_pair_counts(const pipeline_spec& spec, const placement& where,
                              const std::vector<std::uint64_t>& flat) {
  pair_counts out(spec.edges.size());
  std::size_t at = 0;
  for (std::size_t e = 0; e < spec.edges.size(); ++e)
    for (std::size_t k = 0; k < instance_pairs(spec, where, e).size() && at < flat.size(); ++k)
      out[e].push_back(flat[at++]);
  return out;
}

std::vector<edge_instance_row> edge_instance_rows(const pipeline_spec& spec, const placement& where,
                                                  const std::vector<std::string>& hosts,
                                                  const pair_transports& transports,
                                                  const pair_counts& counts) {
  std::vector<edge_instance_row> rows;
  for (std::size_t e = 0; e < spec.edges.size(); ++e) {
    const auto pairs = instance_pairs(spec, where, e);
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      const auto& p = pairs[k];
      const auto found =
          transports.find({static_cast<std::int32_t>(e), p.src_replica, p.dst_replica});
      const bool counted = e < counts.size() && k < counts[e].size();
      rows.push_back({static_cast<std::int32_t>(e), p.src_replica, p.dst_replica, p.from_rank,
                      p.to_rank, tier_of(p.from_rank, p.to_rank, hosts),
                      found != transports.end() ? found->second : "unknown",
                      counted ? counts[e][k] : 0});
    }
  }
  return rows;
}

namespace {

// "same-rank 10 items, same-host 10 items": what each tier of an edge carried, in tier order.
std::string tier_split(const std::vector<const edge_instance_row*>& pairs) {
  std::string out;
  for (const char* tier : {"same-rank", "same-host", "cross-host"}) {
    std::uint64_t items = 0;
    bool present = false;
    for (const auto* p : pairs)
      if (p->tier == tier) {
        present = true;
        items += p->items;
      }
    if (!present) continue;
    out += (out.empty() ? "" : ", ") + std::string(tier) + " " + std::to_string(items) + " items";
  }
  return out;
}

// The pairs' common value of a field, or "mixed".
template <class F>
std::string common(const std::vector<const edge_instance_row*>& pairs, F field) {
  if (pairs.empty()) return "unknown";
  for (const auto* p : pairs)
    if (field(*p) != field(*pairs.front())) return "mixed";
  return field(*pairs.front());
}

}  // namespace

std::vector<edge_row> edge_rows(const pipeline_spec& spec,
                                const std::vector<edge_instance_row>& instances) {
  std::vector<edge_row> rows;
  for (std::size_t e = 0; e < spec.edges.size(); ++e) {
    const auto& ed = spec.edges[e];
    std::vector<const edge_instance_row*> pairs;
    for (const auto& p : instances)
      if (p.edge == static_cast<std::int32_t>(e)) pairs.push_back(&p);
    const int from = spec.stage_index(ed.from), to = spec.stage_index(ed.to);
    edge_row row{static_cast<std::int32_t>(e),
                 from,
                 to,
                 ed.from,
                 ed.to,
                 pairs.empty() ? 0 : pairs.front()->from_rank,
                 pairs.empty() ? 0 : pairs.front()->to_rank,
                 common(pairs, [](const edge_instance_row& p) { return p.tier; }),
                 common(pairs, [](const edge_instance_row& p) { return p.transport; }),
                 to_string(ed.serialization),
                 spec.stages[static_cast<std::size_t>(from)].payload_bytes,
                 tier_split(pairs),
                 ed.data_type};
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<stage_row> stage_rows(const pipeline_spec& spec, const placement& where) {
  std::vector<stage_row> rows;
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const auto& st = spec.stages[s];
    std::string ranks;
    for (int r : where.replica_ranks[s]) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
    rows.push_back({static_cast<std::int32_t>(s), st.name, to_string(st.kernel), st.work_ms,
                    st.threads, st.payload_bytes, where.rank_of[s], st.replicas,
                    to_string(st.dispatch), st.ordered ? 1 : 0, ranks, st.signature});
  }
  return rows;
}

bool runs_inline(const pipeline_spec& spec, int stage, const run_options& options) {
  const auto& st = spec.stages[static_cast<std::size_t>(stage)];
  if (!options.faults.empty() || !is_synthetic(st.kernel) || st.threads != 1 ||
      st.payload_bytes > inline_payload_bytes)
    return false;
  const bool sleeps = st.kernel == kernel_kind::sleep && st.work_ms > 0.0;
  if (sleeps && (options.serial_stages || st.name == spec.source)) return false;
  if (st.kernel != kernel_kind::sleep && st.work_ms > inline_work_ms) return false;
  for (const auto& e : spec.edges) {
    if (e.from != st.name) continue;
    const auto& to = spec.stages[static_cast<std::size_t>(spec.stage_index(e.to))];
    if (to.replicas > 1 && to.dispatch == dispatch_kind::on_demand) return false;
  }
  return true;
}

namespace {

// The CPU-bound threads an instance of stage s keeps busy (0: none, e.g. sleep).
int busy_threads(const stage_spec& st) {
  switch (st.kernel) {
    case kernel_kind::sleep:
      return 0;
    case kernel_kind::exec:
      return 1;  // one worker process
    case kernel_kind::user:
      return st.threads;  // its work_ms is only an estimate: count it whatever it says
    case kernel_kind::spin:
    case kernel_kind::compute:
      break;
  }
  return st.work_ms > 0.0 ? st.threads : 0;
}

}  // namespace

std::pair<wait_policy, std::string> resolve_wait(wait_policy asked, const pipeline_spec& spec,
                                                 const placement& where,
                                                 const std::vector<std::string>& hosts,
                                                 const std::vector<int>& cores) {
  if (asked != wait_policy::automatic) return {asked, to_string(asked)};
  std::map<std::string, int> demand, have;
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    // The rank's engine thread, which would spin, plus one for its stages' own work besides
    // their kernels (filling payloads, hand-overs, driving rendezvous): measured at 2 ranks on 2
    // cores with 1 MiB payloads, spinning main threads made each hop 3-5x slower than block.
    // Also when every stage runs on the engine: hosts that share their cores (the virtual
    // cluster's) would otherwise spin 4 ranks on 2 cores (they yield instead, below).
    demand[hosts[r]] += 2;
    have[hosts[r]] = cores[r];
  }
  std::map<std::string, int> busy;  // per host: its stages' CPU-bound threads
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const int n = busy_threads(spec.stages[s]);
    for (int rank : where.replica_ranks[s]) {
      demand[hosts[static_cast<std::size_t>(rank)]] += n;
      busy[hosts[static_cast<std::size_t>(rank)]] += n;
    }
  }
  std::string yields;  // an oversubscribed host where no stage computes, in words
  for (const auto& [host, need] : demand) {
    if (need <= have[host]) continue;
    if (busy[host] > 0)
      return {wait_policy::block, "block (auto: " + host + " needs " + std::to_string(need) +
                                      " busy threads on " + std::to_string(have[host]) + " cores)"};
    if (yields.empty())
      yields = host + " needs " + std::to_string(need) + " threads on " +
               std::to_string(have[host]) + " cores, but no stage there computes";
  }
  // Nothing there needs the cores the engines would take, and a sleeping engine wakes late (an
  // idle vCPU: ~50 us per same-host hop measured, against ~20 us yielding).
  if (!yields.empty()) return {wait_policy::yield, "yield (auto: " + yields + ")"};
  return {wait_policy::spin, "spin (auto: 2 cores per rank plus one per busy stage thread)"};
}

std::string cpu_list(const std::vector<int>& cpus) {
  const std::set<int> sorted(cpus.begin(), cpus.end());
  std::string out;
  for (auto it = sorted.begin(); it != sorted.end();) {
    const int first = *it;
    int last = first;
    while (++it != sorted.end() && *it == last + 1) last = *it;
    out += (out.empty() ? "" : ",") + std::to_string(first);
    if (last > first) out += "-" + std::to_string(last);
  }
  return out;
}

rank_cpus my_cpus() {
  rank_cpus me;
  me.omp_places = omp_get_num_places();
  me.host_cores = static_cast<int>(std::thread::hardware_concurrency());
  // A mask big enough for any CPU number this kernel supports (CPU_SETSIZE is only 1024).
  const int max_cpus = std::max(1024, me.host_cores) * 4;
  cpu_set_t* set = CPU_ALLOC(static_cast<std::size_t>(max_cpus));
  const std::size_t size = CPU_ALLOC_SIZE(static_cast<std::size_t>(max_cpus));
  std::vector<int> cpus;
  if (set != nullptr && sched_getaffinity(0, size, set) == 0)
    for (int c = 0; c < max_cpus; ++c)
      if (CPU_ISSET_S(static_cast<std::size_t>(c), size, set)) cpus.push_back(c);
  if (set != nullptr) CPU_FREE(set);
  me.usable = static_cast<int>(cpus.size());
  me.cpus = cpu_list(cpus);
  if (cpus.empty()) {  // unreadable: assume the host's cores, as before this was recorded
    me.usable = me.host_cores;
    me.cpus = "unknown";
  }
  return me;
}

std::vector<rank_cpus> gather_cpus(const boost::mpi::communicator& comm) {
  const rank_cpus mine = my_cpus();
  const int mine_numbers[] = {mine.usable, mine.omp_places, mine.host_cores};
  std::vector<int> numbers;
  boost::mpi::all_gather(comm, mine_numbers, 3, numbers);
  std::vector<std::string> lists;
  boost::mpi::all_gather(comm, mine.cpus, lists);
  std::vector<rank_cpus> out(lists.size());
  for (std::size_t r = 0; r < out.size(); ++r)
    out[r] = {numbers[3 * r], lists[r], numbers[3 * r + 1], numbers[3 * r + 2]};
  return out;
}

namespace {

std::string core_count(int n) { return std::to_string(n) + (n == 1 ? " core" : " cores"); }

// What fixes a rank of `usable` cores needing `need` threads on a host of `host` cores.
std::string core_fix(int usable, int need, int host) {
  const std::string pe = "--map-by slot:PE=" + std::to_string(need);
  if (host <= 0 || need <= host)
    return "launch with `mpirun --bind-to none` or `" + pe + "`, or put fewer stages on the rank";
  return "its host has only " + core_count(host) + ": put fewer CPU-bound stages on the rank" +
         (usable < host ? " (`mpirun --bind-to none` gives it all " + std::to_string(host) + ")"
                        : "");
}

}  // namespace

// With one item in flight only stages that no path orders can run at once: the busiest such
// set of a rank's CPU-bound stages (threads summed; a farm's replicas share the one item), found
// by trying every subset of up to 16 stages, else their plain sum.
int concurrent_threads(const pipeline_spec& spec, const std::vector<int>& stages) {
  int sum = 0;
  for (int s : stages) sum += busy_threads(spec.stages[static_cast<std::size_t>(s)]);
  if (stages.size() > 16) return sum;
  const graph g(spec);
  std::vector<std::set<int>> reach(stages.size());  // stages reachable from each, in one item
  for (std::size_t i = 0; i < stages.size(); ++i) {
    std::vector<int> todo{stages[i]};
    while (!todo.empty()) {
      const int v = todo.back();
      todo.pop_back();
      for (int e : g.outputs(v)) {
        const int w = spec.stage_index(spec.edges[static_cast<std::size_t>(e)].to);
        if (w != g.source() && reach[i].insert(w).second) todo.push_back(w);
      }
    }
  }
  int best = 0;
  for (unsigned mask = 1; mask < (1u << stages.size()); ++mask) {
    int threads = 0;
    bool apart = true;
    for (std::size_t i = 0; i < stages.size() && apart; ++i) {
      if (!(mask >> i & 1u)) continue;
      threads += busy_threads(spec.stages[static_cast<std::size_t>(stages[i])]);
      for (std::size_t j = 0; j < stages.size(); ++j)
        if ((mask >> j & 1u) && reach[i].count(stages[j])) apart = false;
    }
    if (apart) best = std::max(best, threads);
  }
  return best;
}

std::vector<std::string> core_warnings(const pipeline_spec& spec, const placement& where,
                                       const std::vector<rank_cpus>& ranks, bool one_at_a_time) {
  std::vector<std::string> out;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    int need = 0;
    std::string names;
    std::set<int> busy;  // the CPU-bound stages hosted here
    for (const auto& inst : where.instances_on(static_cast<int>(r))) {
      const auto& st = spec.stages[static_cast<std::size_t>(inst.stage)];
      const int n = busy_threads(st);
      if (n == 0) continue;
      busy.insert(inst.stage);
      need = one_at_a_time ? std::max(need, n) : need + n;
      names += (names.empty() ? "" : ", ") + instance_name(spec, st.name, inst.replica) +
               (n > 1 ? " (" + std::to_string(n) + " threads)" : "");
    }
    if (!one_at_a_time && spec.inflight == 1)
      need = concurrent_threads(spec, std::vector<int>(busy.begin(), busy.end()));
    const auto& c = ranks[r];
    if (c.usable <= 0 || need <= c.usable) continue;  // 0: the mask was not readable
    out.push_back("rank " + std::to_string(r) + " may use CPUs " + c.cpus + " (" +
                  core_count(c.usable) + ") but runs " + std::to_string(need) +
                  " CPU-bound stage threads (" + names + "): they take turns on " +
                  (c.usable == 1 ? "it" : "them") + " instead of running at once; " +
                  core_fix(c.usable, need, c.host_cores));
  }
  return out;
}

}  // namespace mpipe
