// A tiny real sweep on real ranks: every point runs its warm-ups and repeats, the statistics
// match the repeats they summarize, the record survives the HDF5 round trip, and a bad grid
// fails on every rank alike before anything runs. Timing checks are ratios, and generous.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/mpi/communicator.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stats.hpp"
#include "mpipe/sweep.hpp"

namespace {

boost::mpi::communicator world;

// Main -> S -> Main, S sleeping 20 ms at work_scale 1.
mpipe::pipeline_spec call_spec() {
  return mpipe::parse_spec(R"(name: call
source: Main
items: 2
defaults: {kernel: sleep, payload_bytes: 64}
stages:
  - {name: Main, work_ms: 0}
  - {name: S, work_ms: 20}
edges:
  - Main -> S
  - S -> Main
)",
                           "<test call>");
}

mpipe::sweep_options tiny() {
  mpipe::sweep_options o;
  o.grid.work_scale = {0.25, 1.0};  // 5 ms and 20 ms of work
  o.grid.placement = {"pack", "spread"};
  o.items = 2;
  o.plan.repeat = 3;
  o.plan.warmup = 1;
  o.plan.seed = 77;
  o.plan.resamples = 500;
  o.progress = false;
  o.command_line = "test_sweep_mpi";
  return o;
}

}  // namespace

TEST(Sweep, TinySweepRunsEveryPointAndStoresIt) {
  const auto spec = call_spec();
  auto o = tiny();
  mpipe::validate_sweep(spec, o, world.size());
  auto r = mpipe::run_sweep(world, spec, o);
  ASSERT_EQ(r.points.size(), 4u);
  if (world.rank() != 0) {
    EXPECT_TRUE(r.record.sweep_points.empty()) << "records belong to rank 0";
    return;
  }
  const auto& rec = r.record;
  ASSERT_EQ(rec.sweep_points.size(), 4u);
  ASSERT_EQ(rec.sweep_repeats.size(), 4u * (3 + 1));
  std::map<int, std::vector<double>> counted;
  for (std::size_t i = 0; i < rec.sweep_repeats.size(); ++i) {
    const auto& row = rec.sweep_repeats[i];
    EXPECT_EQ(row.order, static_cast<std::int64_t>(i));
    EXPECT_EQ(row.warmup, i < 4 ? 1 : 0);
    EXPECT_GT(row.duration_s, 0.0);
    EXPECT_TRUE(row.run_id.empty());
    if (!row.warmup) counted[row.point].push_back(row.latency_mean_ms);
  }
  for (const auto& p : rec.sweep_points) {
    const auto& v = counted[p.point];
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(p.repeats, 3);
    EXPECT_DOUBLE_EQ(p.latency_median_ms, mpipe::stats::median(v));
    EXPECT_LE(p.latency_ci_low_ms, p.latency_median_ms);
    EXPECT_GE(p.latency_ci_high_ms, p.latency_median_ms);
    EXPECT_LE(p.latency_min_ms, p.latency_q1_ms);
    EXPECT_LE(p.latency_q3_ms, p.latency_max_ms);
    // Sleep kernels: an item takes at least its work, and on a loaded 2-core box not 3x more
    // plus 20 ms.
    const double work = 20.0 * p.work_scale;
    EXPECT_GE(p.latency_median_ms, work * 0.98) << p.point;
    EXPECT_LT(p.latency_median_ms, work * 3 + 20) << p.point;
    EXPECT_NEAR(p.work_per_stage_ms, work, 1e-9);
    EXPECT_NEAR(p.ideal_latency_ms, work, 1e-9);
  }
  // Placement varies fastest: (pack, spread) pairs at each work.
  EXPECT_EQ(rec.sweep_points[0].placement, "pack");
  EXPECT_EQ(rec.sweep_points[1].placement, "spread");
  // Two placements over a range of work: the break-even rows are there.
  ASSERT_EQ(rec.break_even.size(), 3u);
  EXPECT_EQ(rec.break_even[0].quantity, "latency equal");
  EXPECT_EQ(rec.break_even[0].local, "pack");
  EXPECT_EQ(rec.break_even[0].distributed, "spread");

  // Through the file and back.
  const std::string path = "/tmp/mpipe_test_sweep_" + std::to_string(getpid()) + ".h5";
  std::remove(path.c_str());
  const std::string id = mpipe::append_run(path, r.record);
  const auto back = mpipe::read_run(path, id);
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  ASSERT_EQ(back.sweep_points.size(), 4u);
  ASSERT_EQ(back.sweep_repeats.size(), 16u);
  ASSERT_EQ(back.break_even.size(), 3u);
  EXPECT_EQ(back.sweep_points[3].placement_resolved, rec.sweep_points[3].placement_resolved);
  EXPECT_DOUBLE_EQ(back.sweep_points[2].latency_median_ms, rec.sweep_points[2].latency_median_ms);
  const auto* kind = back.get("kind");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(std::get<std::string>(*kind), "sweep");
  EXPECT_EQ(std::get<std::int64_t>(*back.get("seed")), 77);
  EXPECT_TRUE(back.events.empty());
}

TEST(Sweep, BadGridFailsAlikeOnEveryRankBeforeRunning) {
  const auto spec = call_spec();
  auto o = tiny();
  o.grid.placement = {"pack", "S=" + std::to_string(world.size())};  // one rank too far
  o.grid.origin["placement"] = {"grid.yaml:4", "grid.yaml:5"};
  try {
    mpipe::validate_sweep(spec, o, world.size());
    FAIL() << "a placement beyond the job was accepted";
  } catch (const mpipe::spec_error& e) {
    EXPECT_EQ(e.file(), "grid.yaml");
    EXPECT_EQ(e.line(), 5);
    EXPECT_EQ(e.field(), "grid.placement");
  }
  o = tiny();
  o.grid.emulate_link = {"latency=5parsecs"};
  EXPECT_THROW(mpipe::validate_sweep(spec, o, world.size()), mpipe::spec_error);
}
