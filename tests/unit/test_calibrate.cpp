// The calibration's arithmetic on synthetic data with known answers: a line is recovered
// exactly, weights make relative error count, and bench rows reduce to alpha and beta per
// (tier, method), with encode/decode costs where the method has them.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "mpipe/calibrate.hpp"

using mpipe::bench_row;
using mpipe::fit_bench;
using mpipe::fit_line;
using mpipe::print_calibration;

TEST(FitLine, RecoversAnExactLine) {
  const std::vector<double> x = {0, 1, 2, 10}, w(4, 1.0);
  std::vector<double> y;
  for (double v : x) y.push_back(3.0 + 0.5 * v);
  const auto f = fit_line(x, y, w);
  EXPECT_NEAR(f.intercept, 3.0, 1e-12);
  EXPECT_NEAR(f.slope, 0.5, 1e-12);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
  EXPECT_EQ(f.points, 4);
}

TEST(FitLine, HandComputedNoisyCase) {
  // x 0 1 2, y 1 2 4: slope = 1.5, intercept = 7/3 - 1.5 = 0.8333.., r2 = 1 - (1/6) / (14/3).
  const auto f = fit_line({0, 1, 2}, {1, 2, 4}, {1, 1, 1});
  EXPECT_NEAR(f.slope, 1.5, 1e-12);
  EXPECT_NEAR(f.intercept, 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(f.r2, 1.0 - (1.0 / 6.0) / (14.0 / 3.0), 1e-12);
}

TEST(FitLine, OnePointOrOneXHasNoSlope) {
  EXPECT_TRUE(std::isnan(fit_line({5}, {2}, {1}).slope));
  const auto f = fit_line({5, 5}, {2, 4}, {1, 1});
  EXPECT_TRUE(std::isnan(f.slope));
  EXPECT_DOUBLE_EQ(f.intercept, 3.0);
}

// A link of alpha 2 us and 10 GB/s (0.1 ns per byte), with +-1 % noise: alpha comes from the
// 0 B point (within 2 %), beta from the large sizes (within 2 %).
TEST(FitBench, RecoversAlphaAndBetaPerTierAndMethod) {
  std::vector<bench_row> rows;
  const double noise[] = {1.01, 0.99, 1.0, 1.01, 0.99, 1.0, 1.01, 0.99};
  int i = 0;
  for (double size : {0.0, 64.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0}) {
    bench_row r;
    r.tier = "same-host";
    r.method = "raw";
    r.size_bytes = static_cast<std::uint64_t>(size);
    r.latency_us = (2.0 + size * 0.1e-3) * noise[i++ % 8];
    r.serialize_us = 0.1 + size * 0.05e-3;  // encode: 0.1 us + 0.05 ns/B
    r.deserialize_us = 0.2;                 // decode: flat
    rows.push_back(r);
    bench_row m = r;
    m.method = "raw-mpi";
    m.latency_us = 1.0 + size * 0.1e-3;
    m.serialize_us = m.deserialize_us = std::numeric_limits<double>::quiet_NaN();
    rows.push_back(m);
  }
  const auto fits = fit_bench(rows);
  ASSERT_EQ(fits.size(), 2u);
  const auto& raw = fits[0];
  EXPECT_EQ(raw.tier, "same-host");
  EXPECT_EQ(raw.method, "raw");
  EXPECT_EQ(raw.points, 8);
  EXPECT_NEAR(raw.alpha_us, 2.0, 0.04);
  EXPECT_NEAR(raw.ns_per_byte, 0.1, 0.002);
  EXPECT_NEAR(raw.bandwidth_mb_s, 10000.0, 200.0);
  EXPECT_GT(raw.r2, 0.99);
  EXPECT_NEAR(raw.serialize_us, 0.1, 1e-9);
  EXPECT_NEAR(raw.serialize_ns_per_byte, 0.05, 1e-9);
  EXPECT_NEAR(raw.deserialize_us, 0.2, 1e-9);
  EXPECT_NEAR(raw.deserialize_ns_per_byte, 0.0, 1e-9);
  const auto& mpi = fits[1];
  EXPECT_EQ(mpi.method, "raw-mpi");
  EXPECT_NEAR(mpi.alpha_us, 1.0, 1e-9);
  EXPECT_NEAR(mpi.ns_per_byte, 0.1, 1e-9);
  EXPECT_TRUE(std::isnan(mpi.serialize_us));  // raw MPI encodes nothing
}

// A curve with a protocol step (flat 0.5 us up to 1 KiB, then 0.09 ns/B): alpha is the small
// messages' latency and beta the bandwidth regime's, not a compromise between them.
TEST(FitBench, AlphaAndBetaEachComeFromTheirOwnRegime) {
  std::vector<bench_row> rows;
  for (double size : {0.0, 64.0, 1024.0, 4096.0, 65536.0, 1048576.0}) {
    bench_row r;
    r.tier = "same-host";
    r.method = "raw-mpi";
    r.size_bytes = static_cast<std::uint64_t>(size);
    r.latency_us = size <= 1024 ? 0.5 : 1.0 + size * 0.09e-3;
    r.serialize_us = r.deserialize_us = std::numeric_limits<double>::quiet_NaN();
    rows.push_back(r);
  }
  const auto fits = fit_bench(rows);
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_DOUBLE_EQ(fits[0].alpha_us, 0.5);
  EXPECT_NEAR(fits[0].ns_per_byte, 0.09, 1e-9);
  EXPECT_LT(fits[0].r2, 1.0);
}

TEST(FitBench, SkipsNanRowsAndKeepsTheOrderSeen) {
  bench_row a;
  a.tier = "same-rank";
  a.method = "in-memory";
  a.size_bytes = 0;
  a.latency_us = 2.8;
  bench_row b = a;
  b.size_bytes = 1024;
  b.latency_us = std::numeric_limits<double>::quiet_NaN();
  const auto fits = fit_bench({a, b});
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].points, 1);
  EXPECT_DOUBLE_EQ(fits[0].alpha_us, 2.8);
  EXPECT_TRUE(std::isnan(fits[0].r2));
  EXPECT_TRUE(std::isnan(fits[0].ns_per_byte));
  EXPECT_TRUE(std::isnan(fits[0].bandwidth_mb_s));
}

namespace {

// One (tier, method) of raw-mpi bench rows over the calibration sizes, latency(size) given.
template <class F>
std::vector<bench_row> wire_rows(const char* tier, F latency) {
  std::vector<bench_row> rows;
  for (double size : {0.0, 64.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0}) {
    bench_row r;
    r.tier = tier;
    r.method = "raw-mpi";
    r.size_bytes = static_cast<std::uint64_t>(size);
    r.latency_us = latency(size);
    r.serialize_us = r.deserialize_us = std::numeric_limits<double>::quiet_NaN();
    rows.push_back(r);
  }
  return rows;
}

// The printed line of the row for `tier`, or "" when there is none.
std::string row_of(const std::string& table, const std::string& tier) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  " + tier + " ", 0) == 0) return line;
  return "";
}

}  // namespace

// A noisy tier: a spike at the smallest size (6 us where every other size takes ~1 us) sets
// alpha, so alpha + bytes x beta misses every other size by ~5x: the line fits worse than the
// sizes' mean would, r2 < 0 (mpipe calibrate once printed "r2 -0.408" without a word). The row
// must say what that means, and a row that fits must not.
TEST(Calibration, NegativeR2IsExplainedNextToItsRow) {
  const double noise[] = {1.0, 1.05, 0.95, 1.1, 0.9, 1.02, 0.98, 1.0};
  int i = 0;
  auto rows = wire_rows("cross-host", [&](double size) {
    const double n = noise[i++ % 8];
    return size == 0 ? 6.0 : (1.0 + size * 0.001e-3) * n;
  });
  const auto good = wire_rows("same-host", [](double size) { return 0.5 + size * 0.09e-3; });
  rows.insert(rows.end(), good.begin(), good.end());
  const auto fits = fit_bench(rows);
  ASSERT_EQ(fits.size(), 2u);
  ASSERT_LT(fits[0].r2, 0.0);
  EXPECT_GT(fits[1].r2, 0.99);

  std::ostringstream out;
  print_calibration(out, fits);
  const std::string noisy = row_of(out.str(), "cross-host");
  const std::string clean = row_of(out.str(), "same-host");
  ASSERT_FALSE(noisy.empty()) << out.str();
  ASSERT_FALSE(clean.empty()) << out.str();
  EXPECT_NE(noisy.find("r2 < 0: the line fits worse than a constant"), std::string::npos) << noisy;
  EXPECT_EQ(clean.find("r2 <"), std::string::npos) << clean;
  EXPECT_EQ(clean.find("<-"), std::string::npos) << clean;
}

TEST(Calibration, R2NoteOnlyBelowZero) {
  EXPECT_NE(mpipe::r2_note(-0.408).find("worse than a constant"), std::string::npos);
  EXPECT_EQ(mpipe::r2_note(0.0), "");
  EXPECT_EQ(mpipe::r2_note(0.7), "");
  EXPECT_EQ(mpipe::r2_note(std::numeric_limits<double>::quiet_NaN()), "");
}

// The header says how the fit is made, as fit_bench makes it: alpha is the smallest size's
// latency, not an intercept of a 1/time^2-weighted fit (the weights are r2's and the codecs').
TEST(Calibration, ExplanationSaysHowAlphaBetaAndR2AreFound) {
  const std::string e = mpipe::calibration_explanation();
  EXPECT_NE(e.find("alpha = the mean latency at the smallest size"), std::string::npos) << e;
  EXPECT_NE(e.find("slope over sizes >= 4 KiB"), std::string::npos) << e;
  EXPECT_NE(e.find("below 0 worse"), std::string::npos) << e;
}
