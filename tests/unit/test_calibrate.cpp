// The calibration's arithmetic on synthetic data with known answers: a line is recovered
// exactly, weights make relative error count, and bench rows reduce to alpha and beta per
// (tier, method), with encode/decode costs where the method has them. Then compute scaling and
// the runtime's cost per hop (medians, spreads, the platform file calibrate writes and its trip
// through HDF5), and the platform keys that carry them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "mpipe/calibrate.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/platform.hpp"

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

// --- Compute scaling and the runtime's cost per hop (issue 17)
// ---------------------------------------------------------------------------------

TEST(MedianAndSpread, OddEvenAndEmpty) {
  const auto odd = mpipe::median_and_spread({3, 1, 2});
  EXPECT_DOUBLE_EQ(odd.median, 2.0);
  EXPECT_DOUBLE_EQ(odd.half_range, 1.0);
  const auto even = mpipe::median_and_spread({4, 1, 2, 3});
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_DOUBLE_EQ(even.half_range, 1.5);
  EXPECT_TRUE(std::isnan(mpipe::median_and_spread({}).median));
}

// Speeds at k = 1 and 2 busy cores: the medians 0.98 and 0.90 -> [1, 0.90 / 0.98]; the spread is
// the worst k's half range over its median: k = 2, (0.95 - 0.86) / 2 / 0.90 = 5 %.
TEST(ComputeScaling, MediansNormalisedToOneCore) {
  const auto f = mpipe::fit_compute_scaling({{0.97, 0.98, 0.99}, {0.86, 0.90, 0.95}});
  ASSERT_EQ(f.scaling.size(), 2u);
  EXPECT_DOUBLE_EQ(f.scaling[0], 1.0);
  EXPECT_NEAR(f.scaling[1], 0.90 / 0.98, 1e-12);
  EXPECT_NEAR(f.spread, 0.045 / 0.90, 1e-12);
}

// ks not measured (a big host measures 1-8, 12, 16, ...) lie on a line between their neighbours.
TEST(ComputeScaling, UnmeasuredKsInterpolated) {
  const auto f = mpipe::fit_compute_scaling({{1.0}, {}, {}, {0.7}});
  ASSERT_EQ(f.scaling.size(), 4u);
  EXPECT_NEAR(f.scaling[1], 0.9, 1e-12);
  EXPECT_NEAR(f.scaling[2], 0.8, 1e-12);
  EXPECT_NEAR(f.scaling[3], 0.7, 1e-12);
  EXPECT_DOUBLE_EQ(f.spread, 0.0);
  EXPECT_TRUE(mpipe::fit_compute_scaling({}).scaling.empty());
}

TEST(ComputeScaling, CoreCountsMeasured) {
  EXPECT_EQ(mpipe::scaling_core_counts(1), std::vector<int>({1}));
  EXPECT_EQ(mpipe::scaling_core_counts(2), std::vector<int>({1, 2}));
  EXPECT_EQ(mpipe::scaling_core_counts(20), std::vector<int>({1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20}));
  EXPECT_EQ(mpipe::scaling_core_counts(64).back(), 64);
  EXPECT_LE(mpipe::scaling_core_counts(128).size(), 20u);
  EXPECT_GE(mpipe::usable_cpus(), 1);
}

// Two idle cores' worth of the real kernel: short, so only its shape is checked here.
TEST(ComputeScaling, MeasuredOnThisMachine) {
  const auto speeds = mpipe::measure_compute_scaling(2, 2, 5.0);
  ASSERT_EQ(speeds.size(), 2u);
  for (const auto& k : speeds) {
    ASSERT_EQ(k.size(), 2u);
    for (const double s : k) EXPECT_GT(s, 0.0);
  }
}

// Blocks of 10 and 12 us per item over a wire of 4 us for two hops: (10 - 4) / 2 = 3 and 4 us
// per hop; a block below the wire counts 0, never less.
TEST(RuntimePerHop, LatencyBeyondTheWirePerHop) {
  const auto s = mpipe::runtime_per_hop_us({10, 12, 11}, 4.0, 2);
  EXPECT_DOUBLE_EQ(s.median, 3.5);
  EXPECT_DOUBLE_EQ(s.half_range, 0.5);
  EXPECT_DOUBLE_EQ(mpipe::runtime_per_hop_us({3, 3}, 4.0, 2).median, 0.0);
}

namespace {

// A one-host calibration record as calibration_run leaves it on rank 0: in-memory and same-host
// fits, and the runtime and compute-scaling attributes.
mpipe::run_record one_host_calibration() {
  mpipe::run_record rec;
  rec.run_id = "test";
  rec.set("kind", std::string("calibration"));
  rec.set("hosts", std::string("vm"));
  mpipe::calibration_row mem;
  mem.tier = "same-rank";
  mem.method = "in-memory";
  mem.alpha_us = 2.8;
  mpipe::calibration_row wire;
  wire.tier = "same-host";
  wire.method = "raw-mpi";
  wire.alpha_us = 0.5;
  wire.ns_per_byte = 0.09;
  rec.calibration = {mem, wire};
  rec.set("compute_iterations_per_ms", 5.1e5);
  rec.set("compute_scaling", std::string("1.0000,0.9312"));
  rec.set("compute_scaling_spread", 0.04);
  rec.set("runtime_us_same_rank", 3.5);
  rec.set("runtime_us_same_rank_spread", 0.25);
  rec.set("runtime_us_same_host", 41.0);
  rec.set("runtime_us_same_host_spread", 2.0);
  return rec;
}

void expect_runtime_fields(const mpipe::platform& p) {
  using mpipe::tier;
  EXPECT_DOUBLE_EQ(p.link(tier::same_rank).runtime_us, 3.5);
  EXPECT_DOUBLE_EQ(p.link(tier::same_rank).runtime_us_spread, 0.25);
  EXPECT_DOUBLE_EQ(p.link(tier::same_host).runtime_us, 41.0);
  EXPECT_DOUBLE_EQ(p.link(tier::same_host).runtime_us_spread, 2.0);
  // cross-host was not measured: same-host's numbers stand in, the runtime's cost included.
  EXPECT_EQ(p.link(tier::cross_host).stand_in, "same-host");
  EXPECT_DOUBLE_EQ(p.link(tier::cross_host).runtime_us, 41.0);
  EXPECT_DOUBLE_EQ(p.link(tier::cross_host).runtime_us_spread, 2.0);
  ASSERT_EQ(p.compute_scaling.size(), 2u);
  EXPECT_DOUBLE_EQ(p.compute_scaling[0], 1.0);
  EXPECT_DOUBLE_EQ(p.compute_scaling[1], 0.9312);
  EXPECT_DOUBLE_EQ(p.compute_scaling_spread, 0.04);
}

}  // namespace

TEST(CalibrationPlatform, RuntimeAndScalingWritten) {
  const std::string yaml = mpipe::platform_yaml(one_host_calibration(), "calibrated-vm");
  EXPECT_NE(yaml.find("compute_scaling: [1.0000, 0.9312]"), std::string::npos) << yaml;
  // stand_in stays last in its tier (tests/cli/stand_in.sh reads it there).
  EXPECT_NE(yaml.find("runtime_us_spread: 2, stand_in: same-host}"), std::string::npos) << yaml;
  expect_runtime_fields(mpipe::parse_platform(yaml, "calibrated.yaml"));
}

// What `mpipe run` predicts with when given no --platform (newest_calibration): the run read
// back from HDF5, then its platform file. The new fields must survive the file.
TEST(CalibrationPlatform, RuntimeAndScalingRoundTripThroughHdf5) {
  const std::string path = ::testing::TempDir() + "/calibration_roundtrip.h5";
  std::remove(path.c_str());
  const std::string id = mpipe::append_run(path, one_host_calibration());
  const auto back = mpipe::read_run(path, id);
  expect_runtime_fields(
      mpipe::parse_platform(mpipe::platform_yaml(back, "calibration " + id), path));
  std::remove(path.c_str());
}

// An older calibration run (before issue 17) has no such attributes: the file leaves the keys
// out, so the platform's defaults hold (no runtime cost, scaling 1).
TEST(CalibrationPlatform, OlderRunsLeaveThemOut) {
  mpipe::run_record rec = one_host_calibration();
  rec.attributes.erase(std::remove_if(rec.attributes.begin(), rec.attributes.end(),
                                      [](const mpipe::attribute& a) {
                                        return a.first.rfind("runtime_", 0) == 0 ||
                                               a.first.rfind("compute_scaling", 0) == 0;
                                      }),
                       rec.attributes.end());
  const std::string yaml = mpipe::platform_yaml(rec, "old");
  EXPECT_EQ(yaml.find(", runtime_us:"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("\ncompute_scaling:"), std::string::npos) << yaml;
  const auto p = mpipe::parse_platform(yaml, "old.yaml");
  EXPECT_DOUBLE_EQ(p.link(mpipe::tier::same_host).runtime_us, 0.0);
  EXPECT_TRUE(p.compute_scaling.empty());
}

// --- Platform files: the runtime's cost per hop and compute scaling
// ---------------------------------------------------------------------------------

TEST(PlatformRuntimeKeys, Parsed) {
  const auto p = mpipe::parse_platform(
      "tiers:\n"
      "  same-rank: {alpha_us: 2.8, runtime_us: 3}\n"
      "  same-host: {alpha_us: 0.5, ns_per_byte: 0.09, runtime_us: 40, runtime_us_spread: 5}\n"
      "  cross-host: {alpha_us: 11}\n"
      "compute_scaling: [1.0, 0.93, 0.8]\n"
      "compute_scaling_spread: 0.04\n",
      "x.yaml");
  using mpipe::tier;
  EXPECT_DOUBLE_EQ(p.link(tier::same_rank).runtime_us, 3.0);
  EXPECT_DOUBLE_EQ(p.link(tier::same_rank).runtime_us_spread, 0.0);
  EXPECT_DOUBLE_EQ(p.link(tier::same_host).runtime_us, 40.0);
  EXPECT_DOUBLE_EQ(p.link(tier::same_host).runtime_us_spread, 5.0);
  EXPECT_DOUBLE_EQ(p.link(tier::cross_host).runtime_us, 0.0);  // default: none
  EXPECT_EQ(p.compute_scaling, std::vector<double>({1.0, 0.93, 0.8}));
  EXPECT_DOUBLE_EQ(p.compute_scaling_spread, 0.04);
  // The wire alone: message_ms leaves the runtime's cost to the simulator.
  EXPECT_NEAR(p.link(tier::same_host).ms(0), 0.0005, 1e-15);
  const auto q = mpipe::parse_platform(
      "tiers:\n  same-host: {alpha_us: 1}\n"
      "  cross-host: {alpha_us: 1}\n",
      "y.yaml");
  EXPECT_TRUE(q.compute_scaling.empty());
  EXPECT_DOUBLE_EQ(q.compute_scaling_spread, 0.0);
}

struct bad_runtime_platform {
  const char* text;
  const char* expected;  // substring of what()
};

class PlatformRuntimeErrors : public ::testing::TestWithParam<bad_runtime_platform> {};

TEST_P(PlatformRuntimeErrors, NameFileLineAndField) {
  try {
    mpipe::parse_platform(GetParam().text, "bad.yaml");
    FAIL() << "accepted:\n" << GetParam().text;
  } catch (const mpipe::spec_error& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().expected), std::string::npos)
        << "got: " << e.what();
  }
}

#define TIERS "tiers:\n  same-host: {alpha_us: 1}\n  cross-host: {alpha_us: 2}\n"
INSTANTIATE_TEST_SUITE_P(
    Cases, PlatformRuntimeErrors,
    ::testing::Values(
        bad_runtime_platform{"tiers:\n  same-host: {alpha_us: 1, runtime_us: -1}\n"
                             "  cross-host: {alpha_us: 2}\n",
                             "bad.yaml:2: field 'tiers.same-host.runtime_us': must be between 0 "
                             "and 1000000, got -1"},
        bad_runtime_platform{"tiers:\n  same-host: {alpha_us: 1}\n"
                             "  cross-host: {alpha_us: 2, runtime_us: 5e6}\n",
                             "bad.yaml:3: field 'tiers.cross-host.runtime_us': must be between 0 "
                             "and 1000000"},
        bad_runtime_platform{"tiers:\n  same-host: {alpha_us: 1, runtime_us: 40us}\n"
                             "  cross-host: {alpha_us: 2}\n",
                             "field 'tiers.same-host.runtime_us': expected a number, got '40us' "
                             "(no units"},
        bad_runtime_platform{"tiers:\n  same-rank: {alpha_us: 1, runtime_us_spread: .nan}\n"
                             "  same-host: {alpha_us: 1}\n  cross-host: {alpha_us: 2}\n",
                             "field 'tiers.same-rank.runtime_us_spread': must be a finite number"},
        bad_runtime_platform{"tiers:\n  same-host: {alpha_us: 1, runtime: 4}\n"
                             "  cross-host: {alpha_us: 2}\n",
                             "field 'tiers.same-host.runtime': unknown key 'runtime'"},
        bad_runtime_platform{TIERS "compute_scaling: []\n",
                             "bad.yaml:4: field 'compute_scaling': the list is empty"},
        bad_runtime_platform{TIERS "compute_scaling: 0.9\n",
                             "bad.yaml:4: field 'compute_scaling': expected a list of speeds"},
        bad_runtime_platform{TIERS "compute_scaling: [1.0, 0]\n",
                             "bad.yaml:4: field 'compute_scaling[1]': must be > 0"},
        bad_runtime_platform{TIERS "compute_scaling: [1.0, 2.5]\n",
                             "field 'compute_scaling[1]': must be between 0 and 2, got 2.5"},
        bad_runtime_platform{TIERS "compute_scaling: [1.0, -0.5]\n",
                             "field 'compute_scaling[1]': must be between 0 and 2"},
        bad_runtime_platform{TIERS "compute_scaling: [1.0, fast]\n",
                             "field 'compute_scaling[1]': expected a number, got 'fast'"},
        bad_runtime_platform{TIERS "compute_scaling:\n  - 1.0\n  - [0.9]\n",
                             "bad.yaml:6: field 'compute_scaling[1]': expected a number"},
        bad_runtime_platform{TIERS "compute_scaling_spread: 1.5\n",
                             "bad.yaml:4: field 'compute_scaling_spread': must be between 0 and 1"},
        bad_runtime_platform{TIERS "compute_scalling: [1]\n", "unknown key 'compute_scalling'"}));
#undef TIERS

// The table under the fits: a line per tier, "not measured" where the job had no such pair, a
// warning where the fitted wire is over twice the whole item, and nothing for an older run.
TEST(CalibrationPlatform, RuntimeTablePrinted) {
  mpipe::run_record rec = one_host_calibration();
  rec.set("runtime_latency_us_same_rank", 3.5);
  rec.set("runtime_wire_us_same_rank", 30.0);  // a bench hand-off 8x the runtime's whole item
  rec.set("runtime_latency_us_same_host", 14.0);
  rec.set("runtime_wire_us_same_host", 2.6);
  rec.set("runtime_wait_same_host", std::string("block"));
  rec.set("compute_scaling_cores", std::int64_t{1});
  rec.set("compute_scaling_host_cpus", std::int64_t{2});
  std::ostringstream out;
  mpipe::print_runtime_calibration(out, rec);
  const std::string t = out.str();
  EXPECT_NE(t.find("same-host   item    14.00 us = wire    2.60 us + 2 x   41.00 us (+- 2.00), "
                   "wait block"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("cross-host  not measured"), std::string::npos) << t;
  EXPECT_EQ(t.find("alpha is suspect"), t.rfind("alpha is suspect")) << t;  // once: same-rank
  EXPECT_LT(t.find("same-rank"), t.find("alpha is suspect")) << t;
  EXPECT_LT(t.find("alpha is suspect"), t.find("same-host")) << t;
  EXPECT_NE(t.find("k=1 1.000 k=2 0.931"), std::string::npos) << t;
  EXPECT_NE(t.find("--bind-to none"), std::string::npos) << t;

  std::ostringstream none;
  mpipe::run_record old;
  old.set("kind", std::string("calibration"));
  mpipe::print_runtime_calibration(none, old);
  EXPECT_EQ(none.str(), "");
}
