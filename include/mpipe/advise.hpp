// The placement advisor (`mpipe advise`): which placement of a pipeline on N ranks the model
// (model.hpp) predicts best, for item latency or for throughput, with a line on why.
//
// What it searches: every stage's rank (a replicated stage keeps all its replicas on its
// stage's rank), the source fixed on rank 0; then, with grow_replicas, replica counts and where
// the added replicas go.
//   exhaustive, when ranks^(stages-1) <= exhaustive_limit (2,000,000): every assignment, less the
//     symmetric duplicates: ranks of one host are interchangeable (same host name, same cores),
//     so stages are assigned in stage order and a stage may only use the k-th rank of a host
//     (in rank order) if the host's ranks 0..k-1 are already used (rank 0 counts as used); and
//     hosts of the same size and cores other than rank 0's are interchangeable, so such a host
//     may only be opened once the hosts of its kind before it are. Every placement it keeps is
//     the one representative of its class that this rule allows.
//   heuristic, beyond: greedy then local search. Greedy places the stages in topological order,
//     each on the rank that gives the best objective so far, with the stages not yet placed
//     sitting on rank 0 beside the source (the pack placement is the starting point). Local
//     search then moves one stage at a time to another rank, taking the best improving move,
//     until no single move improves (or 10,000 rounds). Every placement evaluated on the way is a
//     candidate for the top K. Not guaranteed optimal: stated as such by the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// latency: minimize predicted item_ms; ties: fewer distinct ranks, then higher throughput bound.
// throughput: maximize compute_throughput_bound's items_per_s (which takes communication as
// free); ties: lower predicted item_ms, then fewer distinct ranks.
enum class objective { latency, throughput };
// "latency" | "throughput"; throws error otherwise.
objective parse_objective(const std::string& text);
const char* to_string(objective o);

enum class search_mode { automatic, exhaustive, heuristic };

constexpr double exhaustive_limit = 2'000'000.0;

struct placement_advice {
  placement where;           // mode "map", rank_of and replica_ranks filled
  double item_ms = 0.0;      // predict_latency
  double items_per_s = 0.0;  // compute_throughput_bound (infinity where nothing bounds)
  double score = 0.0;        // the objective's number: item_ms, or items_per_s
  int ranks_used = 0;        // distinct ranks holding a stage
  std::string why;           // one line: remote hops on the critical path, shared ranks, limit
  // Replica counts the search chose, as `--replicas` takes them ("Render=3,B=2"); empty: the
  // spec's own. `where` is a placement of the spec with these counts applied (apply_replicas).
  std::string replicas;
};

struct advise_stats {
  bool exhaustive = false;
  double space = 0.0;           // ranks^(stages-1): assignments with the source on rank 0
  std::uint64_t evaluated = 0;  // placements put through the model
};

// hosts_per_rank / cores_per_rank: one entry per rank (as compute_throughput_bound), at least
// one rank. Returns at most `top` placements (top >= 1), best first, no two equivalent under the
// symmetries above. Throws error on empty or mismatched rank lists or top < 1.
std::vector<placement_advice> advise_placements(const pipeline_spec& spec, const platform& plat,
                                                const std::vector<std::string>& hosts_per_rank,
                                                const std::vector<int>& cores_per_rank,
                                                objective goal, const emulated_link& emulate,
                                                int top, search_mode mode = search_mode::automatic,
                                                advise_stats* stats = nullptr);

// Replica counts within the rank budget: a stated heuristic, not a search of every count.
// From each placement in `start`, one replica at a time is added where the objective likes it
// best: of every stage that may be replicated (the spec's farm rules: not the source, not
// ordered, a join only with round-robin dispatch) and has fewer than max_replicas replicas
// (the budget: at most one replica per rank, so max_replicas <= ranks), on every rank; the
// addition is kept while it improves the objective (`better`), so growth stops where cores,
// another stage or the window limit, or where a remote replica costs more latency than it gives.
// Returns the best `top` of `start` and everything met on the way, best first, no placement
// twice. For latency, added replicas never lower the model's single-item latency: they win only
// the tie-break on the throughput bound, at no cost in latency or ranks.
std::vector<placement_advice> grow_replicas(const pipeline_spec& spec,
                                            const std::vector<placement_advice>& start,
                                            const platform& plat,
                                            const std::vector<std::string>& hosts_per_rank,
                                            const std::vector<int>& cores_per_rank, objective goal,
                                            const emulated_link& emulate, int max_replicas, int top,
                                            advise_stats* stats = nullptr);

// One placement through the model, as advise_placements scores it (for pack and spread).
placement_advice evaluate_placement(const pipeline_spec& spec, const placement& where,
                                    const platform& plat,
                                    const std::vector<std::string>& hosts_per_rank,
                                    const std::vector<int>& cores_per_rank, objective goal,
                                    const emulated_link& emulate);

// True when a is better than b for the objective (the order advise_placements ranks by).
bool better(const placement_advice& a, const placement_advice& b, objective goal);

}  // namespace mpipe
