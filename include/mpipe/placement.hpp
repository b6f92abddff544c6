// Where each stage runs. Placement is a setting, not a rewrite: the same spec runs packed on one
// rank or spread one stage per rank, and the runtime only asks "is the consumer on my rank?".
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mpipe/spec.hpp"

namespace mpipe {

// One copy of a stage: a stage with `replicas: R` has R instances, each placed like a stage.
struct stage_instance {
  int stage = 0;
  int replica = 0;
};

struct placement {
  std::string mode;                             // "pack", "spread" or "map"
  std::vector<int> rank_of;                     // per stage index: the rank of its first replica
  std::vector<std::vector<int>> replica_ranks;  // per stage, per replica
  // "Main=0,A=0,B=1,...", in stage order, a farm as "C3#0=1,C3#1=2": stored with every run so
  // it can be replayed through --placement.
  std::string to_string(const pipeline_spec& spec) const;
  // Stages with at least one instance on a rank, in stage order.
  std::vector<int> stages_on(int rank) const;
  // Instances hosted by a rank, in stage order, then replica order.
  std::vector<stage_instance> instances_on(int rank) const;
};

// "A=0,B=1,C3#1=2" -> {A:0, B:1, C3#1:2}. Throws spec_error (field "placement") on syntax
// errors; names (and the replica after '#') are checked by resolve_placement.
std::map<std::string, int> parse_placement_map(const std::string& text);

// setting: "" (spec's map if it has one, else spread), "pack" (every instance on rank 0: with
// one rank all hand-offs are in memory), "spread" (instance i, counting stages in order and
// replicas within a stage, on rank i mod world_size), or a map "A=0,C3=1,C3#1=2" ("C3" places
// every replica of C3, "C3#k" replica k; what it does not name goes to rank 0). Checks names,
// replica numbers < replicas and ranks < world_size.
placement resolve_placement(const pipeline_spec& spec, const std::string& setting, int world_size);

}  // namespace mpipe
