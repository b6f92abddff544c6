// The one model of a placed pipeline that `predict`, `advise`, each run's self-prediction and the
// sweep's model share: a discrete-event simulation of items through the placed DAG.
//
// A longest path (model.hpp: predict_latency) is right only while cores are free. When
// CPU-bound stages share a host's cores, packing them is slower than spreading them, which is
// the article's main reason to distribute; a longest path cannot see it. So:
//   - every stage instance (replica) is a server on its rank: one item at a time, first come
//     first served (an `ordered` stage in item order), as the runtime gives each its own thread;
//   - spin/compute work is `threads` jobs that share the cores of their rank's core group by
//     processor sharing (n busy threads on K cores each run at min(1, K/n)); compute also runs at
//     the platform's compute_scaling for the cores busy; sleep is a timer holding no core;
//   - an edge's hop costs what the platform says for its tier (alpha + bytes / bandwidth +
//     serialize + deserialize, model.hpp) plus the runtime's own per-hop cost (runtime_us); an
//     emulated link holds a message as the runtime does, one link per directed rank pair;
//   - the source keeps `inflight` items out; replicas take items round-robin, or on demand with
//     the runtime's credits: a producer holds one per consumer replica (a free queue slot), sends
//     to one with a credit in turn and waits, busy, while none has one; the replica sends it back
//     when it takes the item.
// The critical path stays the "free cores, free communication" bound beside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// Which cores each rank runs on: ranks with one key share them; cores[r] is how many.
struct core_layout {
  std::vector<std::string> group;  // per rank
  std::vector<int> cores;          // per rank: cores of its group
};

// Every rank of a host shares all of the host's cores (cores_per_rank[r]: its host's cores),
// as with --bind-to none.
core_layout shared_host_cores(const std::vector<std::string>& hosts,
                              const std::vector<int>& cores_per_rank);
// Each rank gets k of its host's host_cores cores from first_cores (model.hpp), as a sweep pins
// them; k 0 means shared_host_cores with host_cores each.
core_layout pinned_cores(const std::vector<std::string>& hosts, int k, int host_cores);
// As the launcher bound them: ranks on one host with the same affinity list ("0-1") share its
// CPUs, usable[r] of them.
core_layout bound_cores(const std::vector<std::string>& hosts, const std::vector<std::string>& cpus,
                        const std::vector<int>& usable);

struct simulation_options {
  std::uint64_t items = 0;          // 0: the spec's items, at most max_items
  std::uint64_t max_items = 2000;   // enough for a steady state; bounds advise's search cost
  bool free_communication = false;  // every hop free (the ideal network)
  bool serial_stages = false;       // each rank works on one stage at a time, whatever the kernel
  // The ranks wait blocking: hops cost the platform's runtime_block_us where it has one.
  bool wait_block = false;
};

struct simulation_result {
  std::uint64_t items = 0;   // simulated
  double mean_ms = 0.0;      // item latency: source emit to the last return
  double p95_ms = 0.0;       // nearest rank
  double first_ms = 0.0;     // item 0's
  double items_per_s = 0.0;  // over the steady window, as the runtime measures it
  double makespan_ms = 0.0;
};

// Throws error if the placement names a rank beyond hosts / layout.
simulation_result simulate(const pipeline_spec& spec, const placement& where, const platform& plat,
                           const std::vector<std::string>& hosts, const core_layout& layout,
                           const emulated_link& emulate = {},
                           const simulation_options& options = {});

// The runtime's steady window: warm-up and drain items left out at each end of n items with
// `inflight` in flight (runtime.cpp uses it; the simulator measures throughput over the same).
std::uint64_t steady_warmup(std::uint64_t n, std::uint64_t inflight);

}  // namespace mpipe
