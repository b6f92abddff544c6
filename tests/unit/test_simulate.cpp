// The simulator (simulate.hpp) on cases computed by hand: processor sharing of cores, sleep
// holding none, compute scaling, the runtime's per-hop cost, streams, replicas and ordering.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/simulate.hpp"
#include "mpipe/spec.hpp"

namespace {

using mpipe::kernel_kind;

mpipe::pipeline_spec seed_with(kernel_kind k) {
  auto spec = mpipe::seed_spec();
  for (auto& s : spec.stages) s.kernel = k;
  return spec;
}

// Main -> {L, R} -> J -> Main, with L and R of `ms` each and J free.
mpipe::pipeline_spec fork(const std::string& kernel, double ms, int items = 1) {
  const std::string w = std::to_string(ms);
  return mpipe::parse_spec("name: fork\nsource: Main\nitems: " + std::to_string(items) +
                               "\ndefaults: {kernel: " + kernel +
                               ", payload_bytes: 64}\nstages:\n"
                               "  - {name: Main, work_ms: 0}\n"
                               "  - {name: L, work_ms: " +
                               w + "}\n  - {name: R, work_ms: " + w +
                               "}\n  - {name: J, work_ms: 0}\n"
                               "edges:\n  - {from: Main, to: [L, R]}\n  - {from: [L, R], to: J}\n"
                               "  - J -> Main\n",
                           "fork.yaml");
}

mpipe::platform free_platform() { return {}; }

mpipe::simulation_result run(const mpipe::pipeline_spec& spec, const std::string& where, int ranks,
                             int hosts, int cores, const mpipe::platform& plat = free_platform(),
                             const mpipe::emulated_link& link = {}) {
  const auto h = mpipe::block_hosts(ranks, hosts);
  return mpipe::simulate(spec, mpipe::resolve_placement(spec, where, ranks), plat, h,
                         mpipe::shared_host_cores(h, std::vector<int>(h.size(), cores)), link);
}

}  // namespace

TEST(Simulate, ReferencePipelinePackedSharesTwoCores) {
  // The issue's case: C1..C4 (150, 200, 300, 100 ms of compute) share 2 cores when packed.
  // All four at 1/2 until C4 ends (200 ms), three at 2/3 until C1 ends (+75 ms), then C2 and C3
  // alone (C3's last 150 ms): 425 ms, and 200 + 150 + 425 + 50 = 825 ms.
  const auto spec = seed_with(kernel_kind::compute);
  EXPECT_NEAR(run(spec, "pack", 1, 1, 2).mean_ms, 825.0, 1e-6);
  // Spread over four hosts of 2 cores each, no host is short of cores: the critical path.
  EXPECT_NEAR(run(spec, "spread", 4, 4, 2).mean_ms, 700.0, 1e-6);
  // Sleep holds no core: packed or not, the critical path.
  EXPECT_NEAR(run(seed_with(kernel_kind::sleep), "pack", 1, 1, 2).mean_ms, 700.0, 1e-6);
}

TEST(Simulate, ForkOnOneCoreAgainstTwoHosts) {
  // Two 60 ms compute stages on one 1-core host run at 1/2 each: 120 ms; on two hosts 60 ms.
  const auto spec = fork("compute", 60);
  EXPECT_NEAR(run(spec, "Main=0,L=0,R=0,J=0", 1, 1, 1).mean_ms, 120.0, 1e-6);
  EXPECT_NEAR(run(spec, "Main=0,L=0,R=1,J=0", 2, 2, 1).mean_ms, 60.0, 1e-6);
  // Two ranks of one host share its core: still 120 ms.
  EXPECT_NEAR(run(spec, "Main=0,L=0,R=1,J=0", 2, 1, 1).mean_ms, 120.0, 1e-6);
}

TEST(Simulate, ThreadsAndSpinShareCores) {
  // L spins 2 threads of 30 ms each, R computes 30 ms on 1 thread, 2 cores: three jobs at 2/3
  // until all three finish together at 45 ms.
  auto spec = fork("spin", 30);
  spec.stages[static_cast<std::size_t>(spec.stage_index("L"))].threads = 2;
  spec.stages[static_cast<std::size_t>(spec.stage_index("R"))].kernel = kernel_kind::compute;
  EXPECT_NEAR(run(spec, "pack", 1, 1, 2).mean_ms, 45.0, 1e-6);
  // Compute on 2 threads divides its work: 2 jobs of 15 ms beside R's 30 ms on 3 cores: 30 ms.
  auto c = fork("compute", 30);
  c.stages[static_cast<std::size_t>(c.stage_index("L"))].threads = 2;
  EXPECT_NEAR(run(c, "pack", 1, 1, 3).mean_ms, 30.0, 1e-6);
}

TEST(Simulate, ComputeScalingSlowsBusyCores) {
  // Two 40 ms compute stages on 2 cores, each core at 0.5 when both are busy: 80 ms. Spin counts
  // CPU time, not work, so scaling leaves it alone.
  auto plat = free_platform();
  plat.compute_scaling = {1.0, 0.5};
  EXPECT_NEAR(run(fork("compute", 40), "pack", 1, 1, 2, plat).mean_ms, 80.0, 1e-6);
  EXPECT_NEAR(run(fork("spin", 40), "pack", 1, 1, 2, plat).mean_ms, 40.0, 1e-6);
}

TEST(Simulate, HopsCostTheirTierPlusTheRuntime) {
  // Spread over 4 ranks of one host: Main->L, Main->R, L->J, R->J, J->Main; L and R on ranks 1
  // and 2, J on 3, Main on 0. Path: 3 cross-rank hops of 1 ms + 0.1 ms of runtime each.
  auto plat = free_platform();
  plat.tiers[static_cast<std::size_t>(mpipe::tier::same_host)].alpha_us = 1000;
  plat.tiers[static_cast<std::size_t>(mpipe::tier::same_host)].runtime_us = 100;
  plat.tiers[static_cast<std::size_t>(mpipe::tier::same_rank)].runtime_us = 10;
  const auto spec = fork("sleep", 20);
  EXPECT_NEAR(run(spec, "spread", 4, 1, 2, plat).mean_ms, 20.0 + 3 * 1.1, 1e-9);
  // Packed: three in-memory hand-offs at 10 us each.
  EXPECT_NEAR(run(spec, "pack", 1, 1, 2, plat).mean_ms, 20.03, 1e-9);
  // Ranks waiting blocking pay the tier's runtime_block_us instead, where the platform has one.
  plat.tiers[static_cast<std::size_t>(mpipe::tier::same_host)].runtime_block_us = 200;
  const auto h = mpipe::block_hosts(4, 1);
  mpipe::simulation_options block;
  block.wait_block = true;
  EXPECT_NEAR(mpipe::simulate(spec, mpipe::resolve_placement(spec, "spread", 4), plat, h,
                              mpipe::shared_host_cores(h, {2, 2, 2, 2}), {}, block)
                  .mean_ms,
              20.0 + 3 * 1.2, 1e-9);
  EXPECT_NEAR(run(spec, "spread", 4, 1, 2, plat).mean_ms, 20.0 + 3 * 1.1, 1e-9);  // spinning
  // An emulated 5 ms link holds every cross-rank hop 5 ms (more than its 1 ms), + the runtime.
  mpipe::emulated_link link;
  link.latency_ms = 5.0;
  EXPECT_NEAR(run(spec, "spread", 4, 1, 2, plat, link).mean_ms, 20.0 + 3 * 5.1, 1e-9);
}

TEST(Simulate, StreamQueuesBehindTheSlowestStage) {
  // One 10 ms compute stage on 1 core, 8 in flight: it serves one item per 10 ms (100 items/s)
  // and in steady state every item waits for the 7 ahead of it: 80 ms.
  auto spec = mpipe::parse_spec(
      "name: one\nsource: Main\nitems: 400\ninflight: 8\ndefaults: {kernel: compute}\n"
      "stages:\n  - {name: Main, work_ms: 0}\n  - {name: S, work_ms: 10}\n"
      "edges:\n  - Main -> S\n  - S -> Main\n",
      "one.yaml");
  const auto r = run(spec, "pack", 1, 1, 1);
  EXPECT_EQ(r.items, 400u);
  EXPECT_NEAR(r.items_per_s, 100.0, 1e-6);
  EXPECT_NEAR(r.p95_ms, 80.0, 1e-6);
  EXPECT_NEAR(r.first_ms, 10.0, 1e-6);
  // Two replicas on two ranks of a 2-core host, on demand: twice the rate. Each replica holds
  // one credit (a queue slot), as the runtime's, so at most 2 served + 2 queued + 1 waiting at
  // the source for a credit are out: 5, not 8, and 5 / 200 items/s = 25 ms by Little's law; the
  // slowest wait 10 ms for a credit, 10 queued, 10 served (the runtime measured 124 ms against
  // 122 predicted for the render farm's 2 replicas of 50 ms, 8 in flight).
  spec.stages[1].replicas = 2;
  const auto f = run(spec, "spread", 3, 1, 2);
  EXPECT_NEAR(f.items_per_s, 200.0, 1e-6);
  EXPECT_NEAR(f.mean_ms, 25.0, 0.5);
  EXPECT_NEAR(f.p95_ms, 30.0, 1e-6);
  // Round-robin has no credits: the whole window queues, 8 / 200 items/s = 40 ms.
  spec.stages[1].dispatch = mpipe::dispatch_kind::round_robin;
  EXPECT_NEAR(run(spec, "spread", 3, 1, 2).p95_ms, 40.0, 1e-6);
}

TEST(Simulate, SerialStagesServeOneStageAtATime) {
  // Serial stages on one rank: the fork's two 60 ms sleeps one after the other.
  mpipe::simulation_options o;
  o.serial_stages = true;
  const auto spec = fork("sleep", 60);
  const auto h = mpipe::block_hosts(1, 1);
  EXPECT_NEAR(mpipe::simulate(spec, mpipe::resolve_placement(spec, "pack", 1), free_platform(), h,
                              mpipe::shared_host_cores(h, {2}), {}, o)
                  .mean_ms,
              120.0, 1e-6);
}

TEST(Simulate, RefusesARankBeyondTheJob) {
  const auto spec = fork("sleep", 1);
  const auto where = mpipe::resolve_placement(spec, "Main=0,L=1,R=0,J=0", 2);
  const std::vector<std::string> one = {"h"};
  EXPECT_THROW(
      mpipe::simulate(spec, where, free_platform(), one, mpipe::shared_host_cores(one, {1})),
      mpipe::error);
}
