// What throughput a placed pipeline can reach at best, so a measured stream has a number to be
// compared with. Three things cap it, and the smallest wins:
//   stage:  a stage finishes one item per service time, R replicas R of them;
//   cores:  spin/compute work needs cores, and a host has only so many (sleep needs none);
//   window: with K items in flight and a critical path of L ms, Little's law gives K / L.
// Communication is taken as free: the gap between this bound and a run is what it costs.
#pragma once

#include <string>
#include <vector>

#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// All rates in items/s; infinity where nothing bounds (0 ms of work, no spin/compute, ...).
struct throughput_bound {
  double items_per_s;          // min of the three below
  double stage_bound_per_s;    // min over stages of replicas * 1000 / service ms
  std::string limiting_stage;  // "" when no stage has work
  double core_bound_per_s;     // min over hosts of cores * 1000 / core-ms per item there
  std::string limiting_host;   // "" when no host runs spin/compute work
  double window_bound_per_s;   // inflight * 1000 / critical path ms
  std::string explain;         // one line: which bound limits, and the arithmetic, with units
};

// A stage's service time is work_ms, except compute, whose work_ms is in ms of one core shared
// by its threads (work_ms / threads); an item needs work_ms x threads core-ms of spin, work_ms of
// compute. hosts_per_rank / cores_per_rank: one entry per rank of the job (ranks on one host
// share its cores). Throws error if the placement names a rank beyond them.
throughput_bound compute_throughput_bound(const pipeline_spec& spec, const placement& where,
                                          const std::vector<std::string>& hosts_per_rank,
                                          const std::vector<int>& cores_per_rank);

}  // namespace mpipe
