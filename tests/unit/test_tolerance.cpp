// Latency tolerance (tolerance.hpp) on a case computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
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

// The measured side, on hand-made points: median item latency per link latency tried.
TEST(MeasuredTolerance, InterpolatesLinearlyBetweenTheTwoPointsAroundTheLimit) {
  // Base 100 ms: 1 % is 101 ms, met halfway between 1 ms (100.5) and 2 ms (101.5).
  const auto one = mpipe::measure_tolerance({0, 1, 2, 5}, {100, 100.5, 101.5, 106}, 100, 0.01);
  EXPECT_EQ(one.status, mpipe::tolerance_status::found);
  EXPECT_NEAR(one.latency_ms, 1.5, 1e-12);
  // 10 % is 110 ms: never reached by 5 ms.
  const auto ten = mpipe::measure_tolerance({0, 1, 2, 5}, {100, 100.5, 101.5, 106}, 100, 0.10);
  EXPECT_EQ(ten.status, mpipe::tolerance_status::above_range);
  EXPECT_EQ(ten.latency_ms, 5.0);
  EXPECT_STREQ(mpipe::to_string(ten.status), "above range");
}

TEST(MeasuredTolerance, OrderOfPointsDoesNotMatterAndTheFirstCrossingCounts) {
  // Given out of order; above the limit at 2 ms, back under it at 3 ms (noise): the first
  // crossing, between 1 and 2 ms, is the tolerance. 101 = 100 + 0.25 * (104 - 100).
  const auto c = mpipe::measure_tolerance({3, 0, 2, 1}, {100.9, 100, 104, 100}, 100, 0.01);
  EXPECT_EQ(c.status, mpipe::tolerance_status::found);
  EXPECT_NEAR(c.latency_ms, 1.25, 1e-12);
}

TEST(MeasuredTolerance, AlreadyCrossedAtTheSmallestLatencyTried) {
  // No point without a link: at the smallest latency tried it is already 5 % slower.
  const auto c = mpipe::measure_tolerance({0.5, 1}, {105, 110}, 100, 0.01);
  EXPECT_EQ(c.status, mpipe::tolerance_status::below_range);
  EXPECT_EQ(c.latency_ms, 0.5);
  // Exactly at the limit is within it.
  EXPECT_EQ(mpipe::measure_tolerance({0, 1}, {100, 101}, 100, 0.01).status,
            mpipe::tolerance_status::above_range);
  EXPECT_THROW(mpipe::measure_tolerance({}, {}, 100, 0.01), mpipe::error);
  EXPECT_THROW(mpipe::measure_tolerance({1}, {1, 2}, 100, 0.01), mpipe::error);
}
