// What throughput a placed pipeline can reach at best, so a measured stream has a number to be
// compared with. Four things cap it, and the smallest wins:
//   stage:  a stage finishes one item per service time, R replicas R of them;
//   cores:  spin/compute work needs cores, and a host has only so many (sleep needs none);
//   window: with K items in flight and a critical path of L ms, Little's law gives K / L;
//   link:   an emulated link of B bytes/s (--emulate-link bandwidth=) carries B / (bytes per
//           item on it) items/s, one link per directed rank pair that it applies to.
// Communication is otherwise taken as free: the gap between this bound and a run is its cost.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// What-if link, as `--emulate-link` gives the runtime: one link per directed pair of ranks (of
// ranks on different hosts with cross_host_only). A message occupies its link for bytes /
// bandwidth, after the message before it on that link, then arrives latency later: so a lone
// hop costs max(its platform cost, latency + bytes / bandwidth), and a stream through one link
// is capped at bandwidth / bytes per item (the throughput bound's link term). Control messages
// (on-demand credits, the stop) are not held: they cost what the real transport costs.
// The same struct the runtime emulates (runtime.hpp: parse_emulated_link reads it), so a
// prediction and the run it predicts read one `--emulate-link`.
struct emulated_link {
  double latency_ms = 0.0;
  double bandwidth_bytes_per_s = 0.0;  // 0 = unlimited
  bool cross_host_only = false;        // scope=cross-host; default scope=cross-rank
  std::string text;                    // as given, e.g. "latency=5ms,scope=cross-rank"
};

// All rates in items/s; infinity where nothing bounds (0 ms of work, no spin/compute, ...).
struct throughput_bound {
  double items_per_s;          // min of the three below
  double stage_bound_per_s;    // min over stages of replicas * 1000 / service ms
  std::string limiting_stage;  // "" when no stage has work
  double core_bound_per_s;     // min over hosts of cores * 1000 / core-ms per item there
  std::string limiting_host;   // "" when no host runs spin/compute work
  double window_bound_per_s;   // inflight * 1000 / critical path ms
  std::string explain;         // one line: which bound limits, and the arithmetic, with units
  double link_bound_per_s = std::numeric_limits<double>::infinity();  // min over emulated links
  std::string limiting_link;  // "rank 0 -> rank 1", "" without an emulated bandwidth
};

// A stage's service time is work_ms, except compute, whose work_ms is in ms of one core shared
// by its threads (work_ms / threads); an item needs work_ms x threads core-ms of spin, work_ms of
// compute. hosts_per_rank / cores_per_rank: one entry per rank of the job (ranks on one host
// share its cores). Throws error if the placement names a rank beyond them.
throughput_bound compute_throughput_bound(const pipeline_spec& spec, const placement& where,
                                          const std::vector<std::string>& hosts_per_rank,
                                          const std::vector<int>& cores_per_rank,
                                          const emulated_link& emulate = {});

// --- Predicted item latency: the critical path with communication ------------------------------
//
// One item's latency is the longest source-to-source path where a stage costs its service time
// (work_ms; compute work_ms / threads) and an edge costs what its message costs on its tier:
// same-rank in memory (the platform's same-rank cost if it gives one, else 0; no serialization),
// else alpha + bytes / bandwidth + serialize + deserialize of the edge's serialization, with
// bytes = the producer's payload_bytes and the tier from the two ranks' hosts. Assumptions, as
// the runtime works: every stage has its own thread, so stages sharing a rank are not serialized
// against each other (nor against its MPI thread), and cores are not short: this is the "free
// cores" bound, and simulate.hpp is the model where CPU-bound stages share them; with replicas,
// each item meets one replica whose service time is the stage's work, and an edge costs the worst
// over the producer/consumer replica pairs (an upper bound where replicas sit in different tiers).

// The article's rule of thumb on compute / communication, defined here once: ratio > 10
// "distribution helps", < 5 "communication hurts", else "marginal". Every pipeline run stores
// it (attributes verdict_*), and the Python analysis reads it from there.
struct verdict_rule {
  static constexpr double helps_above = 10.0;
  static constexpr double hurts_below = 5.0;
  static constexpr const char* helps = "distribution helps";
  static constexpr const char* hurts = "communication hurts";
  static constexpr const char* marginal = "marginal";
};
const char* ratio_verdict(double ratio);

struct edge_prediction {
  int edge = 0;  // index into spec.edges
  std::string from, to;
  tier where = tier::same_rank;  // of the costliest replica pair
  bool mixed = false;            // replica pairs of this edge sit in different tiers
  int from_rank = 0, to_rank = 0;
  std::uint64_t bytes = 0;
  serialization_kind serialization = serialization_kind::boost;
  double cost_ms = 0.0;
  // The work this hop serves: the consumer's service time (the article's "processing time of
  // the service you call" against "the overhead of calling it"), or the producer's on a return
  // edge into the source, whose own work is done before the item leaves.
  double work_ms = 0.0;
  double ratio = 0.0;   // work_ms / cost_ms; infinity when the hop is free
  std::string verdict;  // ratio_verdict; "in memory" for same-rank hops
  bool on_critical_path = false;
};

struct latency_prediction {
  double item_ms = 0.0;                // predicted item latency
  double free_ms = 0.0;                // the same path arithmetic with free communication
  std::vector<int> path;               // stages on the predicted critical path, source first
  std::vector<edge_prediction> edges;  // in spec.edges order
};

// hosts_per_rank: one entry per rank of the job; throws error if the placement names a rank
// beyond it.
latency_prediction predict_latency(const pipeline_spec& spec, const placement& where,
                                   const platform& plat,
                                   const std::vector<std::string>& hosts_per_rank,
                                   const emulated_link& emulate = {});

// Ranks split evenly over `hosts` hosts in blocks (rank r on host r * hosts / ranks, named
// "host0", "host1", ...): 4 ranks on 2 hosts = 0,1 | 2,3, as mpirun --map-by slot fills nodes.
std::vector<std::string> block_hosts(int ranks, int hosts);

// --- The model with cores (sweep points) ---------------------------------------------------------
//
// The sweep's view of the simulator (simulate.hpp): the mean item latency with each rank pinned
// to cores_per_rank of its host's host_cores cores (0: every rank of a host shares them all),
// hops at their platform cost (none with free_communication). serial_stages: each rank works on
// one stage at a time, first come first served, whatever the kernel (cores are not counted).
double predict_item_ms(const pipeline_spec& spec, const placement& where, const platform& plat,
                       const std::vector<std::string>& hosts_per_rank, const emulated_link& emulate,
                       int cores_per_rank, int host_cores, bool free_communication,
                       bool serial_stages = false, bool wait_block = false);

// Rank r's first core when each rank gets k of its host's host_cores cores: its index among the
// ranks of its host, times k, modulo host_cores (how a sweep pins ranks, and groups them here).
std::vector<int> first_cores(const std::vector<std::string>& hosts, int k, int host_cores);

// --- Amdahl's law with communication (the article's section of that name) -----------------------

// 1 / ((1-P) + P/N + C*N): plain Amdahl with c = 0. P in [0, 1], N >= 1, C >= 0.
double amdahl_speedup(double p, double n, double c = 0.0);
// Per-message (alpha-beta) variant: one item of t1_ms of work on N machines, the parallel part
// divided evenly, and one message of message_ms per machine beyond the first:
// t1 / (t1 (1-P) + t1 P / N + (N-1) message_ms). No cost at N = 1, unlike C*N.
double amdahl_message_speedup(double p, double n, double t1_ms, double message_ms);

// The inputs for a pipeline: t1_ms = the sum of every stage's work (one item done by one
// processor, one stage after another), P = 1 - free critical path / t1 (the work that can run
// beside the critical path: Amdahl's 1 / (1-P) is then t1 / critical path, what unlimited
// ranks with free communication give one item), message_ms = one cross-host message of the
// pipeline's mean payload with its commonest serialization on the platform (the emulated link
// if one is given and longer), C = message_ms / t1 (the article's "5 ms on a 100 ms task").
struct amdahl_inputs {
  double p = 0.0, c = 0.0, t1_ms = 0.0, critical_ms = 0.0, message_ms = 0.0;
  std::uint64_t bytes = 0;
};
amdahl_inputs pipeline_amdahl(const pipeline_spec& spec, const platform& plat,
                              const emulated_link& emulate = {});

struct amdahl_row {
  int n = 1;
  double plain = 1.0;        // amdahl_speedup(p, n)
  double with_c = 1.0;       // amdahl_speedup(p, n, c)
  double per_message = 1.0;  // amdahl_message_speedup(p, n, t1, message_ms)
};
std::vector<amdahl_row> amdahl_table(const amdahl_inputs& in, const std::vector<int>& ns);

}  // namespace mpipe
