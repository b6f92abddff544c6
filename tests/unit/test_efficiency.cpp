// POP-style efficiencies (efficiency.hpp) on hand-made runs with known answers.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mpipe/efficiency.hpp"

namespace {

constexpr std::int64_t ms = 1'000'000;

mpipe::event_row busy(int rank, double from_ms, double to_ms) {
  mpipe::event_row e;
  e.rank = rank;
  e.started_ns = static_cast<std::int64_t>(from_ms * ms);
  e.finished_ns = static_cast<std::int64_t>(to_ms * ms);
  return e;
}

mpipe::item_row item(double from_ms, double to_ms) {
  mpipe::item_row i;
  i.emitted_ns = static_cast<std::int64_t>(from_ms * ms);
  i.completed_ns = static_cast<std::int64_t>(to_ms * ms);
  return i;
}

}  // namespace

TEST(Efficiency, OneRankIdleHalfTheTime) {
  // 100 ms of wall; rank 0 works all of it, rank 1 half: load balance 0.75, communication 1.
  const auto e = mpipe::compute_efficiency({busy(0, 0, 100), busy(1, 0, 50)}, {item(0, 100)},
                                           {"h", "h"}, 1, 100.0);
  ASSERT_EQ(e.rank_useful.size(), 2u);
  EXPECT_NEAR(e.rank_useful[0], 1.0, 1e-12);
  EXPECT_NEAR(e.rank_useful[1], 0.5, 1e-12);
  EXPECT_NEAR(e.load_balance, 0.75, 1e-12);
  EXPECT_NEAR(e.communication, 1.0, 1e-12);
  EXPECT_NEAR(e.parallel, 0.75, 1e-12);
  EXPECT_NEAR(e.transfer, 1.0, 1e-12);
  ASSERT_EQ(e.hosts.size(), 1u);
  EXPECT_NEAR(e.host_useful[0], 0.75, 1e-12);
}

TEST(Efficiency, CommunicationSplitsIntoSerializationAndTransfer) {
  // Rank 0 busy 60 ms (two overlapping stages: 0-40 and 20-60), rank 1 30 ms, of 100 ms; an
  // ideal network would take 80 ms: serialization 0.6 x 100 / 80 = 0.75, transfer 0.8.
  const auto e = mpipe::compute_efficiency({busy(0, 0, 40), busy(0, 20, 60), busy(1, 60, 90)},
                                           {item(0, 100)}, {"a", "b"}, 1, 80.0);
  EXPECT_NEAR(e.rank_useful[0], 0.6, 1e-12);
  EXPECT_NEAR(e.load_balance, 0.45 / 0.6, 1e-12);
  EXPECT_NEAR(e.communication, 0.6, 1e-12);
  EXPECT_NEAR(e.serialization, 0.75, 1e-12);
  EXPECT_NEAR(e.transfer, 0.8, 1e-12);
  EXPECT_NEAR(e.serialization * e.transfer, e.communication, 1e-12);
  EXPECT_NE(mpipe::efficiency_text(e).find("parallel 0.45 = load balance 0.75"), std::string::npos);
}

TEST(Efficiency, SampledRowsScaleToEveryItem) {
  // Two of four items recorded, each 10 ms of rank 0's time over 80 ms: 4 x 10 / 80 = 0.5.
  const auto e = mpipe::compute_efficiency({busy(0, 0, 10), busy(0, 40, 50)},
                                           {item(0, 20), item(60, 80)}, {"h"}, 4, 0.0);
  EXPECT_TRUE(e.sampled);
  EXPECT_NEAR(e.rank_useful[0], 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(e.transfer));  // no ideal wall given
}
