// Latency tolerance (tolerance.hpp) on a case computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/tolerance.hpp"

namespace {

// Main -> {L, R} (20 ms sleep each) -> J -> Main, one stage per rank on one host: the critical
// path crosses ranks three times (Main->L, L->J, J->Main).
mpipe::pipeline_spec fork_join() {
  return mpipe::parse_spec(
      "name: fork\nsource: Main\ndefaults: {kernel: sleep, payload_bytes: 64}\nstages:\n"
      "  - {name: Main, work_ms: 0}\n  - {name: L, work_ms: 20}\n  - {name: R, work_ms: 20}\n"
      "  - {name: J, work_ms: 0}\n"
      "edges:\n  - {from: Main, to: [L, R]}\n  - {from: [L, R], to: J}\n  - J -> Main\n",
      "fork.yaml");
}

}  // namespace

TEST(Tolerance, ThreeHopsOnThePathShareTheSlowdown) {
  const auto spec = fork_join();
  const auto hosts = mpipe::block_hosts(4, 1);
  const auto where = mpipe::resolve_placement(spec, "spread", 4);
  const auto cores = mpipe::shared_host_cores(hosts, {2, 2, 2, 2});
  const mpipe::platform free_platform;
  // 20 ms + 3 x L <= 22 ms (10 %): L = 0.667 ms; <= 20.2 ms (1 %): L = 0.0667 ms.
  const auto ten = mpipe::tolerate_latency(spec, where, free_platform, hosts, cores, false, 0.10);
  EXPECT_NEAR(ten.base_ms, 20.0, 1e-9);
  EXPECT_NEAR(ten.latency_ms, 2.0 / 3.0, 2e-3);
  const auto one = mpipe::tolerate_latency(spec, where, free_platform, hosts, cores, false, 0.01);
  EXPECT_NEAR(one.latency_ms, 0.2 / 3.0, 1e-3);
  // One host: no hop crosses hosts, so any cross-host latency is tolerated.
  EXPECT_TRUE(std::isinf(
      mpipe::tolerate_latency(spec, where, free_platform, hosts, cores, true, 0.01).latency_ms));
}

TEST(Tolerance, BandwidthWhereTransferOutweighsWork) {
  mpipe::edge_prediction e;
  e.bytes = 64;
  e.work_ms = 20;
  EXPECT_NEAR(mpipe::dominating_bandwidth(e), 3200.0, 1e-9);  // 64 B in 20 ms
  e.work_ms = 0;
  EXPECT_EQ(mpipe::dominating_bandwidth(e), 0.0);
}
