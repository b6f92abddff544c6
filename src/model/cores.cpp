// The model with cores as a sweep confines ranks to them (model.hpp): a thin view of the one
// simulator (simulate.hpp), with the ranks pinned k cores each.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "mpipe/model.hpp"
#include "mpipe/simulate.hpp"

namespace mpipe {

// Rank r's first core when each rank gets K of the host's C: its index among the ranks of its
// host, times K, modulo C.
std::vector<int> first_cores(const std::vector<std::string>& hosts, int k, int host_cores) {
  std::map<std::string, int> seen;
  std::vector<int> out;
  for (const auto& h : hosts) out.push_back((seen[h]++ * k) % std::max(1, host_cores));
  return out;
}

double predict_item_ms(const pipeline_spec& spec, const placement& where, const platform& plat,
                       const std::vector<std::string>& hosts, const emulated_link& emulate,
                       int cores_per_rank, int host_cores, bool free_communication,
                       bool serial_stages, bool wait_block) {
  simulation_options o;
  o.wait_block = wait_block;
  o.free_communication = free_communication;
  o.serial_stages = serial_stages;
  return simulate(spec, where, plat, hosts, pinned_cores(hosts, cores_per_rank, host_cores),
                  emulate, o)
      .mean_ms;
}

}  // namespace mpipe
