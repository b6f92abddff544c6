// Where the time of a run went, as POP's metrics say it (co-design.pop-coe.eu/metrics), adapted
// to a pipeline: a rank is useful while any of its stages works on an item (stage threads
// overlap, so it is the union of their busy intervals), and the rest of the run it waits.
//
//   useful_r      = busy time of rank r / wall            (per rank; per host: its ranks' mean)
//   load balance  = mean_r useful_r / max_r useful_r
//   communication = max_r useful_r                        (busy of the busiest rank / wall)
//     serialization = max_r busy_r / ideal wall           (waiting on dependencies)
//     transfer      = ideal wall / wall                   (the rest: the network's part)
//   parallel      = load balance x communication = mean_r useful_r
// The ideal wall is the simulator's run of the same items with free communication
// (simulate.hpp), as POP replays a trace on an ideal network. Pure: computed from a run's rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mpipe/records.hpp"

namespace mpipe {

struct run_efficiency {
  double wall_ms = 0.0;             // first item emitted to last completed (recorded items)
  double ideal_wall_ms = 0.0;       // given: the same with free communication
  std::vector<double> rank_useful;  // per rank, in [0, 1]
  std::vector<std::string> hosts;   // distinct hosts in first-rank order
  std::vector<double> host_useful;  // their ranks' mean
  double load_balance = 0.0, communication = 0.0, serialization = 0.0, transfer = 0.0;
  double parallel = 0.0;
  bool sampled = false;  // only some items were recorded (detail_items): busy times scaled
};

// ranks: the job's size; hosts_per_rank: one entry per rank; items_total: items of the run (the
// events cover items_recorded of them). ideal_wall_ms <= 0: serialization and transfer NaN.
run_efficiency compute_efficiency(const std::vector<event_row>& events,
                                  const std::vector<item_row>& items,
                                  const std::vector<std::string>& hosts_per_rank,
                                  std::uint64_t items_total, double ideal_wall_ms);

// The summary's block: four lines, e.g. "Efficiency (POP): parallel 0.42 = load balance 0.61 x
// communication 0.69 (serialization 0.93, transfer 0.74)" and the useful time per rank.
std::string efficiency_text(const run_efficiency& e);

}  // namespace mpipe
