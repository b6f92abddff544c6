// Where a placed pipeline lands (internal, not installed): which ranks each edge joins, replica
// by replica, over which tier and transport, and how the ranks will wait. An edge into or out of
// a replicated stage is several instance pairs that can sit in different tiers (F#0 beside its
// producer, F#1 on another rank), so every per-edge label is derived from its pairs, never from
// the first replica alone.
#pragma once

#include <boost/mpi/communicator.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mpipe/placement.hpp"
#include "mpipe/records.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// One (producer replica, consumer replica) pair of an edge and the ranks they run on.
struct instance_pair {
  int src_replica = 0, dst_replica = 0;
  int from_rank = 0, to_rank = 0;
};

// Every pair of edge e, producer replica major: index src_replica * consumer replicas +
// dst_replica, the index pair_counts uses.
std::vector<instance_pair> instance_pairs(const pipeline_spec& spec, const placement& where,
                                          std::size_t e);

// "F#1" for replica 1 of a replicated stage F, "F" for a stage without replicas.
std::string instance_name(const pipeline_spec& spec, const std::string& stage, int replica);

// "same-rank", "same-host" or "cross-host" between ranks a and b.
std::string tier_of(int a, int b, const std::vector<std::string>& hosts);

// (edge, src_replica, dst_replica) -> what Open MPI carries it with, asked on the sending rank.
using pair_key = std::tuple<std::int32_t, std::int32_t, std::int32_t>;
using pair_transports = std::map<pair_key, std::string>;

// Collective: the transport of every instance pair, gathered on rank 0 (empty elsewhere);
// same-rank pairs read "in-memory". Ranks that an edge joins first exchange a message, so that
// a lazily connected transport (TCP between hosts) has chosen its endpoint before it is asked.
pair_transports edge_transports(const boost::mpi::communicator& comm, const pipeline_spec& spec,
                                const placement& where);

// Items per instance pair, per edge (instance_pairs order); empty when not counted.
using pair_counts = std::vector<std::vector<std::uint64_t>>;
// The same from one flat array, edge after edge (how the runtime counts and reduces them).
pair_counts split_pair_counts(const pipeline_spec& spec, const placement& where,
                              const std::vector<std::uint64_t>& flat);

// The edge_instances rows, and the edges rows whose tier/transport is the pairs' one, or
// "mixed" with tier_split saying how many items each tier carried.
std::vector<edge_instance_row> edge_instance_rows(const pipeline_spec& spec, const placement& where,
                                                  const std::vector<std::string>& hosts,
                                                  const pair_transports& transports,
                                                  const pair_counts& counts);
std::vector<edge_row> edge_rows(const pipeline_spec& spec,
                                const std::vector<edge_instance_row>& instances);
std::vector<stage_row> stage_rows(const pipeline_spec& spec, const placement& where);

// Whether a stage's invocations run on its rank's engine (main) thread, between MPI polls,
// instead of on a thread of their own: a hand-off between threads costs 5-20 us on a busy box,
// more than a fine-grained stage's work (docs/architecture.md, "The engine"). Only what is short
// or cannot block: a synthetic kernel with one thread, sleep (of any length: the engine keeps it
// as a deadline, holding no thread) or spin/compute of at most inline_work_ms, a payload of at
// most inline_payload_bytes, and no out-edge into an on-demand farm (its producer may wait for
// a credit that only the engine thread can bring back). Never when the run injects faults (a
// stalled stage must not stall the engine that watches it); no sleep under serial_stages (one
// stage's work at a time: timers would overlap); no sleeping source.
inline constexpr double inline_work_ms = 0.05;
inline constexpr std::uint64_t inline_payload_bytes = 64 * 1024;
bool runs_inline(const pipeline_spec& spec, int stage, const run_options& options);

// --wait auto: spin only if no host would then have more busy threads than cores (every replica
// of a farm counts on its own rank's host; user code counts as busy). Else block if such a host
// has a stage that computes, whose cores spinning or yielding engines would take; else yield:
// no stage there needs a core, and waking a blocked engine costs more than yielding. Every rank
// evaluates the same inputs, so all reach the same answer without talking. Returns the policy
// and why, in words.
std::pair<wait_policy, std::string> resolve_wait(wait_policy asked, const pipeline_spec& spec,
                                                 const placement& where,
                                                 const std::vector<std::string>& hosts,
                                                 const std::vector<int>& cores);

// What one rank may run on, as the launcher bound it: its affinity mask (sched_getaffinity),
// its OpenMP places and its host's hardware threads.
struct rank_cpus {
  int usable = 0;      // CPUs in the mask: how many of its threads can run at once
  std::string cpus;    // the mask as a list: "0-1", "0,2-3"
  int omp_places = 0;  // omp_get_num_places(): 0 when OMP_PLACES is unset
  int host_cores = 0;  // std::thread::hardware_concurrency() (0: unknown)
};

// "0,2-3": sorted, distinct CPU numbers with runs as ranges.
std::string cpu_list(const std::vector<int>& cpus);

// This process's mask (read on the calling thread: call it from the main thread), places, cores.
rank_cpus my_cpus();

// Collective: every rank's my_cpus(), on every rank.
std::vector<rank_cpus> gather_cpus(const boost::mpi::communicator& comm);

// One line per rank whose CPU-bound stage threads exceed its usable cores, saying which stages,
// that they take turns, and which mpirun flags fix it. CPU-bound: spin and compute stages with
// work (each instance's `threads`), user stages (their `threads`) and exec stages (a worker
// process: 1) always, their work being an estimate; sleep holds no core. one_at_a_time
// (serial_stages): a rank runs one kernel at a time, so it needs its widest stage's threads,
// not their sum. Empty: none short.
std::vector<std::string> core_warnings(const pipeline_spec& spec, const placement& where,
                                       const std::vector<rank_cpus>& ranks,
                                       bool one_at_a_time = false);

}  // namespace mpipe
