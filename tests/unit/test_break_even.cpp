// Break-even interpolation on synthetic curves with known crossings, its bootstrap CI on noisy
// repeats, and the model the sweep predicts with (cores shared by processor sharing).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "mpipe/graph.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/stats.hpp"
#include "mpipe/sweep.hpp"

namespace st = mpipe::stats;

TEST(SettledCrossing, ExactForCurvesLinearInLogX) {
  // y = 3 - log10(x): y = 1 at x = 100, between grid points 10 and 1000.
  const std::vector<double> x = {1, 10, 1000, 1e4};
  std::vector<double> y;
  for (double v : x) y.push_back(3 - std::log10(v));
  const auto c = st::settled_crossing(x, y, 1.0);
  EXPECT_EQ(c.status, st::crossing_status::found);
  EXPECT_NEAR(c.x, 100.0, 1e-9);
}

TEST(SettledCrossing, BelowRangeNoneAndTheLastOfSeveral) {
  EXPECT_EQ(st::settled_crossing({1, 2}, {0.5, 0.4}, 1.0).status, st::crossing_status::below_range);
  EXPECT_EQ(st::settled_crossing({1, 2}, {0.5, 0.4}, 1.0).x, 1.0);
  EXPECT_EQ(st::settled_crossing({1, 2, 3}, {3, 2, 1.5}, 1.0).status, st::crossing_status::none);
  // Noise at small x dips under the level and comes back: the crossing after which it stays
  // under (between 4 and 5) is the break-even, not the dip at 2..3.
  const auto c = st::settled_crossing({1, 2, 3, 4, 5}, {2, 2, 0, 2, 0}, 1.0);
  EXPECT_EQ(c.status, st::crossing_status::found);
  EXPECT_GT(c.x, 4.0);
  EXPECT_LT(c.x, 5.0);
  // Under the level at the small end only: never settled.
  EXPECT_EQ(st::settled_crossing({1, 2, 3}, {0.5, 2, 2}, 1.0).status, st::crossing_status::none);
}

// A distributed placement that costs a fixed c = 2 ms more per item but runs the work at 0.7 of
// the local time: distributed(w) = 0.7 w + 2, local(w) = w: equal at w = 2 / 0.3 = 6.667 ms.
// The ratio is not linear in log w, so a coarse grid's interpolation is only near; a fine one
// is within 1 %.
TEST(BreakEven, RecoversTheCrossingOfTwoSyntheticCurves) {
  for (int ppd : {2, 20}) {
    const auto x = st::log_grid(0.01, 10000, ppd);
    std::vector<std::vector<double>> dist, local;
    for (double w : x) {
      dist.push_back({0.7 * w + 2.0});
      local.push_back({w});
    }
    const auto be = st::break_even(x, dist, local, 1.0, 1, 200);
    ASSERT_EQ(be.point.status, st::crossing_status::found);
    EXPECT_NEAR(be.point.x / (2.0 / 0.3), 1.0, ppd == 2 ? 0.35 : 0.01) << ppd;
    // Exact repeats: every resample crosses at the same place.
    EXPECT_DOUBLE_EQ(be.ci.low, be.point.x);
    EXPECT_DOUBLE_EQ(be.ci.high, be.point.x);
    EXPECT_DOUBLE_EQ(be.found_fraction, 1.0);
    // Within 10 %: 0.7 w + 2 = 1.1 w at w = 5 ms.
    const auto ten = st::break_even(x, dist, local, 1.1, 1, 200);
    EXPECT_NEAR(ten.point.x / 5.0, 1.0, ppd == 2 ? 0.35 : 0.01);
  }
}

TEST(BreakEven, CiFromNoisyRepeatsContainsTheTruthAndNarrowsWithRepeats) {
  const auto x = st::log_grid(0.1, 1000, 10);
  const double truth = 2.0 / 0.3;
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> noise(0.0, 0.05);  // 5 % multiplicative
  double width[2] = {0, 0};
  int k = 0;
  for (int repeats : {5, 40}) {
    std::vector<std::vector<double>> dist(x.size()), local(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
      for (int r = 0; r < repeats; ++r) {
        dist[i].push_back((0.7 * x[i] + 2.0) * noise(rng));
        local[i].push_back(x[i] * noise(rng));
      }
    const auto be = st::break_even(x, dist, local, 1.0, 9, 1000);
    ASSERT_EQ(be.point.status, st::crossing_status::found);
    EXPECT_LT(be.ci.low, truth * 1.05) << repeats;
    EXPECT_GT(be.ci.high, truth * 0.95) << repeats;
    EXPECT_LE(be.ci.low, be.point.x);
    EXPECT_GE(be.ci.high, be.point.x);
    EXPECT_GT(be.found_fraction, 0.95);
    width[k++] = be.ci.high / be.ci.low;
  }
  EXPECT_LT(width[1], width[0]) << "more repeats, narrower CI";
}

TEST(BreakEven, NoCrossingGivesAnInfiniteUpperBound) {
  // Distributed always 10 % slower: it never pays.
  const std::vector<double> x = {1, 10, 100};
  const std::vector<std::vector<double>> dist = {{1.1, 1.11}, {11, 11.1}, {110, 111}};
  const std::vector<std::vector<double>> local = {{1, 1.01}, {10, 10.1}, {100, 101}};
  const auto be = st::break_even(x, dist, local, 1.0, 2, 300);
  EXPECT_EQ(be.point.status, st::crossing_status::none);
  EXPECT_TRUE(std::isinf(be.ci.high));
  EXPECT_EQ(be.found_fraction, 0.0);
}

TEST(MedianRatio, OfTwoSamplesWithCi) {
  const auto r = st::median_ratio({15, 15.1, 14.9}, {10, 10.05, 9.95}, 4, 500);
  EXPECT_NEAR(r.ratio, 1.5, 1e-12);
  EXPECT_LE(r.ci.low, r.ratio);
  EXPECT_GE(r.ci.high, r.ratio);
  EXPECT_GT(r.ci.low, 1.45);
  EXPECT_LT(r.ci.high, 1.55);
}

// --- The sweep's model ---------------------------------------------------------------------------

namespace {

mpipe::pipeline_spec seed_with(mpipe::kernel_kind k) {
  auto spec = mpipe::seed_spec();
  for (auto& s : spec.stages) s.kernel = k;
  spec.items = 1;
  return spec;
}

mpipe::platform article_lan() {
  mpipe::platform p;
  p.name = "5 ms";
  for (auto t : {mpipe::tier::same_host, mpipe::tier::cross_host}) {
    auto& l = p.tiers[static_cast<std::size_t>(t)];
    l.given = true;
    l.alpha_us = 5000;
  }
  return p;
}

}  // namespace

TEST(PredictItem, SleepKernelsGiveTheModelsCriticalPath) {
  // Sleep needs no core: the simulation must agree with predict_latency exactly.
  const auto spec = seed_with(mpipe::kernel_kind::sleep);
  const std::vector<std::string> hosts(4, "h");
  for (const char* p : {"pack", "spread"}) {
    const auto where = mpipe::resolve_placement(spec, p, 4);
    const auto plat = article_lan();
    const double model = mpipe::predict_latency(spec, where, plat, hosts).item_ms;
    EXPECT_NEAR(mpipe::predict_item_ms(spec, where, plat, hosts, {}, 1, 2, false), model, 1e-9)
        << p;
    EXPECT_NEAR(mpipe::predict_item_ms(spec, where, plat, hosts, {}, 1, 2, true), 700.0, 1e-9) << p;
  }
}

TEST(PredictItem, SharedCoresSerializeSpinStages) {
  // Spin, one core per rank, 2 cores: pack runs every stage on rank 0's one core, 1150 ms in
  // all; spread (Main0 A1 B2 C3 C1-0 C2-1 C3-2 C4-3 D0; ranks 0,2 on core 0, 1,3 on core 1)
  // shares core 0 between C1 and C3 (450 ms) and core 1 between C2 and C4 (300 ms):
  // 200 + 150 + 450 + 50 = 850 ms with free communication, + 5 ms per hop on the path
  // (Main->A, A->B, B->C, C->C3, C3->D cross ranks; D->Main is on rank 0) = 875 ms.
  const auto spec = seed_with(mpipe::kernel_kind::spin);
  const std::vector<std::string> hosts(4, "h");
  const auto plat = article_lan();
  const auto pack = mpipe::resolve_placement(spec, "pack", 4);
  const auto spread = mpipe::resolve_placement(spec, "spread", 4);
  EXPECT_NEAR(mpipe::predict_item_ms(spec, pack, plat, hosts, {}, 1, 2, true), 1150.0, 1e-6);
  EXPECT_NEAR(mpipe::predict_item_ms(spec, spread, plat, hosts, {}, 1, 2, true), 850.0, 1e-6);
  EXPECT_NEAR(mpipe::predict_item_ms(spec, spread, plat, hosts, {}, 1, 2, false), 875.0, 1e-6);
  // Unconfined, the 2 cores are shared by all: pack's C1..C4 run at 1/2 until C4 is done
  // (200 ms), at 2/3 until C1 is (+75), then C2 and C3 alone (C3's last 150 ms): 425 ms, and
  // 200 + 150 + 425 + 50 = 825 ms.
  EXPECT_NEAR(mpipe::predict_item_ms(spec, pack, plat, hosts, {}, 0, 2, true), 825.0, 1e-6);
}

TEST(PredictItem, SerialStagesMakeARankOneWorker) {
  // Sleep, but each rank works on one stage at a time: pack does all 1150 ms of work one stage
  // after another; spread has C1..C4 on four ranks, side by side: 700 ms, + 5 hops x 5 ms.
  const auto spec = seed_with(mpipe::kernel_kind::sleep);
  const std::vector<std::string> hosts(4, "h");
  const auto plat = article_lan();
  const auto pack = mpipe::resolve_placement(spec, "pack", 4);
  const auto spread = mpipe::resolve_placement(spec, "spread", 4);
  EXPECT_NEAR(mpipe::predict_item_ms(spec, pack, plat, hosts, {}, 0, 2, true, true), 1150.0, 1e-6);
  EXPECT_NEAR(mpipe::predict_item_ms(spec, spread, plat, hosts, {}, 0, 2, true, true), 700.0, 1e-6);
  EXPECT_NEAR(mpipe::predict_item_ms(spec, spread, plat, hosts, {}, 0, 2, false, true), 725.0,
              1e-6);
  // On 2 ranks spread puts C1, C3 on rank 0 (with Main, D) and C2, C4 on rank 1: 450 ms there.
  const auto two = mpipe::resolve_placement(spec, "spread", 2);
  const std::vector<std::string> hosts2(2, "h");
  EXPECT_NEAR(mpipe::predict_item_ms(spec, two, plat, hosts2, {}, 0, 2, true, true), 850.0, 1e-6);
}
