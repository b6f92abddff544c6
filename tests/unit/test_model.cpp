// The throughput bound, checked against arithmetic done by hand for each of its three limits.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"

namespace {

using mpipe::compute_throughput_bound;
using mpipe::parse_spec;
using mpipe::resolve_placement;

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// All ranks on one host with `cores` cores.
mpipe::throughput_bound one_host(const mpipe::pipeline_spec& spec, const std::string& placement,
                                 int ranks, int cores) {
  const auto where = resolve_placement(spec, placement, ranks);
  return compute_throughput_bound(spec, where,
                                  std::vector<std::string>(static_cast<std::size_t>(ranks), "h"),
                                  std::vector<int>(static_cast<std::size_t>(ranks), cores));
}

TEST(Model, SeedSingleRequestIsWindowBound) {
  // One item in flight over a 700 ms critical path: 1000 / 700 = 1.4286 items/s, below the
  // 1000 / 300 = 3.333 items/s of C3, the slowest stage. Sleep: no core bound.
  const auto spec = mpipe::seed_spec();
  const auto b = one_host(spec, "spread", 4, 2);
  EXPECT_NEAR(b.window_bound_per_s, 1000.0 / 700.0, 1e-12);
  EXPECT_NEAR(b.stage_bound_per_s, 1000.0 / 300.0, 1e-12);
  EXPECT_EQ(b.limiting_stage, "C3");
  EXPECT_TRUE(std::isinf(b.core_bound_per_s));
  EXPECT_EQ(b.limiting_host, "");
  EXPECT_NEAR(b.items_per_s, 1000.0 / 700.0, 1e-12);
  EXPECT_TRUE(contains(b.explain, "window: 1 in flight / 700 ms critical path = 1.429 items/s"))
      << b.explain;
  EXPECT_TRUE(contains(b.explain, "stage 'C3'")) << b.explain;
}

TEST(Model, SeedStreamIsStageBoundUntilReplicated) {
  auto spec = mpipe::seed_spec();
  spec.inflight = 8;  // 8000 / 700 = 11.43 items/s: no longer the limit
  auto b = one_host(spec, "spread", 4, 2);
  EXPECT_NEAR(b.items_per_s, 1000.0 / 300.0, 1e-12);
  EXPECT_EQ(b.limiting_stage, "C3");
  EXPECT_TRUE(contains(b.explain, "set by stage 'C3': 1 replica x 1 item / 300 ms = 3.333 items/s"))
      << b.explain;
  // Two replicas of C3: 2000 / 300 = 6.67; now A and C2 (200 ms) bound at 5, A first in order.
  mpipe::apply_replicas(spec, "C3=2");
  b = one_host(spec, "spread", 4, 2);
  EXPECT_NEAR(b.items_per_s, 5.0, 1e-12);
  EXPECT_EQ(b.limiting_stage, "A");
  EXPECT_NEAR(b.window_bound_per_s, 8000.0 / 700.0, 1e-12);
}

TEST(Model, CoreBoundCountsSpinAndComputeOnEachHost) {
  // Main -> W (compute, 100 ms of one core) -> S (spin, 30 ms x 2 threads) -> Main, W x4.
  const auto spec = parse_spec(
      "source: Main\ninflight: 100\nstages:\n"
      "  - {name: Main, work_ms: 0}\n"
      "  - {name: W, work_ms: 100, kernel: compute, replicas: 4}\n"
      "  - {name: S, work_ms: 30, kernel: spin, threads: 2}\n"
      "  - {name: Z, work_ms: 500}\n"  // sleep: bounds the stage, costs no core
      "edges: [Main -> W, W -> S, S -> Main, Main -> Z, Z -> Main]\n",
      "t.yaml");
  // W#0..3 on ranks 1, 2, 1, 2 and S on rank 1; ranks 0, 1, 2 on hosts a, b, c of 2 cores each.
  const auto where = resolve_placement(spec, "W#0=1,W#1=2,W#2=1,W#3=2,S=1", 3);
  const auto b = compute_throughput_bound(spec, where, {"a", "b", "c"}, {2, 2, 2});
  // Host b: 2 replicas x 100 / 4 = 50 (W) + 30 x 2 (S) = 110 core-ms per item -> 2000 / 110 =
  // 18.18 items/s. Host c: 50 core-ms per item -> 40 items/s.
  EXPECT_NEAR(b.core_bound_per_s, 2000.0 / 110.0, 1e-9);
  EXPECT_EQ(b.limiting_host, "b");
  // Stages: W 4 x 1000 / 100 = 40, S 1000 / 30 = 33.3, Z 1000 / 500 = 2.
  EXPECT_NEAR(b.stage_bound_per_s, 2.0, 1e-12);
  EXPECT_EQ(b.limiting_stage, "Z");
  // Window: 100 / max(100 + 30, 500) ms = 200 items/s.
  EXPECT_NEAR(b.window_bound_per_s, 200.0, 1e-9);
  EXPECT_NEAR(b.items_per_s, 2.0, 1e-12);

  // Everything on one host of 2 cores: 100 + 60 = 160 core-ms -> 12.5 items/s; without Z the
  // cores limit.
  const auto spec2 = parse_spec(
      "source: Main\ninflight: 100\nstages:\n"
      "  - {name: Main, work_ms: 0}\n"
      "  - {name: W, work_ms: 100, kernel: compute, replicas: 4}\n"
      "  - {name: S, work_ms: 30, kernel: spin, threads: 2}\n"
      "edges: [Main -> W, W -> S, S -> Main]\n",
      "t.yaml");
  const auto packed = one_host(spec2, "pack", 1, 2);
  EXPECT_NEAR(packed.core_bound_per_s, 12.5, 1e-12);
  EXPECT_NEAR(packed.items_per_s, 12.5, 1e-12);
  EXPECT_EQ(packed.limiting_host, "h");
  EXPECT_TRUE(contains(packed.explain, "set by host 'h': 2 cores / 160 core-ms per item = 12.5"))
      << packed.explain;
}

TEST(Model, RanksOfOneHostShareItsCores) {
  // Two renderers of 1000 ms compute on two ranks of one 1-core host: 1000 / 1000 = 1 item/s,
  // though the stage alone would allow 2.
  const auto spec = parse_spec(
      "source: Main\ninflight: 8\nstages:\n  - Main\n"
      "  - {name: R, work_ms: 1000, kernel: compute, replicas: 2}\n"
      "edges: [Main -> R, R -> Main]\n",
      "t.yaml");
  const auto where = resolve_placement(spec, "spread", 3);  // R#0 on 1, R#1 on 2
  const auto shared = compute_throughput_bound(spec, where, {"x", "y", "y"}, {1, 1, 1});
  EXPECT_NEAR(shared.core_bound_per_s, 1.0, 1e-12);
  EXPECT_EQ(shared.limiting_host, "y");
  const auto apart = compute_throughput_bound(spec, where, {"x", "y", "z"}, {1, 1, 1});
  EXPECT_NEAR(apart.core_bound_per_s, 2.0, 1e-12);
  EXPECT_NEAR(apart.items_per_s, 2.0, 1e-12);
  EXPECT_TRUE(contains(apart.explain, "and equally by host 'y'")) << apart.explain;
}

TEST(Model, ComputeThreadsShortenServiceNotCoreTime) {
  // compute 200 ms of one core on 4 threads: 50 ms per item, still 200 core-ms.
  const auto spec = parse_spec(
      "source: Main\ninflight: 1\nstages:\n  - Main\n"
      "  - {name: P, work_ms: 200, kernel: compute, threads: 4}\n"
      "edges: [Main -> P, P -> Main]\n",
      "t.yaml");
  const auto b = one_host(spec, "pack", 1, 8);
  EXPECT_NEAR(b.stage_bound_per_s, 20.0, 1e-12);
  EXPECT_NEAR(b.window_bound_per_s, 20.0, 1e-12);
  EXPECT_NEAR(b.core_bound_per_s, 8000.0 / 200.0, 1e-12);
}

TEST(Model, ScenariosHaveTheArticlesNumbers) {
  // render-farm on the article's one machine of 8 cores, 8 renderers: 8 / 10 s = 0.8 frames/s,
  // 1000 frames in 1250 s; stage and core bound tie.
  auto farm = mpipe::scenario_spec("render-farm");
  mpipe::apply_replicas(farm, "Render=8");
  const auto b = one_host(farm, "spread", 9, 8);
  EXPECT_NEAR(b.items_per_s, 0.8, 1e-12);
  EXPECT_NEAR(static_cast<double>(farm.items) / b.items_per_s, 1250.0, 1e-9);
  EXPECT_NEAR(b.window_bound_per_s, 6.4, 1e-12);
  // api-calls: 10 callers of 50 ms, 10 in flight: 200 calls/s, 100 calls in 500 ms.
  const auto api = mpipe::scenario_spec("api-calls");
  const auto a = one_host(api, "pack", 1, 1);
  EXPECT_NEAR(a.items_per_s, 200.0, 1e-12);
  EXPECT_TRUE(std::isinf(a.core_bound_per_s));
}

TEST(Model, ZeroWorkIsUnbounded) {
  const auto spec =
      parse_spec("source: Main\nstages: [Main, A]\nedges: [Main -> A, A -> Main]\n", "t.yaml");
  const auto b = one_host(spec, "pack", 1, 1);
  EXPECT_TRUE(std::isinf(b.items_per_s));
  EXPECT_TRUE(std::isinf(b.stage_bound_per_s));
  EXPECT_TRUE(std::isinf(b.window_bound_per_s));
  EXPECT_EQ(b.limiting_stage, "");
  EXPECT_TRUE(contains(b.explain, "unbounded")) << b.explain;
}

// An emulated link is a link: 10 kB per item each way through 100 kB/s is 10 items/s, whatever
// the window; a farm's pairs split the edge's bytes; scope=cross-host leaves same-host pairs free.
TEST(Model, AnEmulatedLinkBoundsTheStream) {
  auto spec = parse_spec(
      "source: Main\ninflight: 8\ndefaults: {kernel: sleep, payload_bytes: 10000}\nstages:\n"
      "  - {name: Main, work_ms: 0}\n  - {name: A, work_ms: 1}\nedges: [Main -> A, A -> Main]\n",
      "t.yaml");
  mpipe::emulated_link link;
  link.bandwidth_bytes_per_s = 100'000.0;
  const auto where = resolve_placement(spec, "spread", 2);
  const auto b = compute_throughput_bound(spec, where, {"h", "h"}, {2, 2}, link);
  EXPECT_DOUBLE_EQ(b.link_bound_per_s, 10.0);
  EXPECT_DOUBLE_EQ(b.items_per_s, 10.0);
  EXPECT_EQ(b.limiting_link, "rank 0 -> rank 1");
  EXPECT_TRUE(contains(b.explain, "set by link rank 0 -> rank 1")) << b.explain;
  // Packed: no message crosses a rank, nothing to bound.
  const auto packed =
      compute_throughput_bound(spec, resolve_placement(spec, "pack", 2), {"h", "h"}, {2, 2}, link);
  EXPECT_TRUE(std::isinf(packed.link_bound_per_s));
  // A farm of 2 replicas, one per other rank: each link carries half the items.
  spec.stages[1].replicas = 2;
  const auto farm = resolve_placement(spec, "Main=0,A#0=1,A#1=2", 3);
  EXPECT_DOUBLE_EQ(
      compute_throughput_bound(spec, farm, {"h", "h", "h"}, {2, 2, 2}, link).link_bound_per_s,
      20.0);
  link.cross_host_only = true;  // ranks 0 and 1 share host a: only the pair to rank 2 counts
  EXPECT_DOUBLE_EQ(
      compute_throughput_bound(spec, farm, {"a", "a", "b"}, {2, 2, 2}, link).link_bound_per_s,
      20.0);
  EXPECT_TRUE(std::isinf(
      compute_throughput_bound(spec, farm, {"a", "a", "a"}, {2, 2, 2}, link).link_bound_per_s));
}

TEST(Model, RanksBeyondTheHostListThrow) {
  const auto spec = mpipe::seed_spec();
  const auto where = resolve_placement(spec, "spread", 4);
  EXPECT_THROW(compute_throughput_bound(spec, where, {"a"}, {1, 2}), mpipe::error);
  // Spin everywhere, so every instance is looked up: rank 3 is not in a 2-rank host list.
  auto spun = spec;
  for (auto& s : spun.stages) s.kernel = mpipe::kernel_kind::spin;
  EXPECT_THROW(compute_throughput_bound(spun, where, {"a", "b"}, {1, 1}), mpipe::error);
}

}  // namespace
