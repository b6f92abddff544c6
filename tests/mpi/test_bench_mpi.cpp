// `mpipe bench` on real ranks (1 and 2, on one host): the rows the layout calls for, sane
// numbers, the raw-mpi baseline as its own unit, and the run as the results file stores it.
// CI shares 2 noisy cores, so there are no absolute times and only generous ratios.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/mpi/communicator.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "mpipe/bench.hpp"
#include "mpipe/calibrate.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/platform.hpp"

namespace {

boost::mpi::communicator world;

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB;

mpipe::bench_options quick() {
  mpipe::bench_options opt;
  opt.quick = true;
  opt.progress = false;
  return opt;
}

// One quick benchmark for the tests that only look at its rows.
const std::vector<mpipe::bench_row>& quick_rows() {
  static const std::vector<mpipe::bench_row> rows = mpipe::run_bench(world, quick());
  return rows;
}

const mpipe::bench_row* find(const std::vector<mpipe::bench_row>& rows, const std::string& tier,
                             const std::string& method, std::uint64_t size) {
  for (const auto& r : rows)
    if (r.tier == tier && r.method == method && r.size_bytes == size) return &r;
  return nullptr;
}

TEST(Bench, RowsForEveryTierTheLayoutOffersAndNothingElse) {
  const auto& rows = quick_rows();
  if (world.rank() != 0) {
    EXPECT_TRUE(rows.empty()) << "rows belong to rank 0";
    return;
  }
  const auto sizes = mpipe::quick_bench_sizes();
  std::set<std::tuple<std::string, std::string, std::uint64_t>> expected, actual;
  for (const auto s : sizes) expected.insert({"same-rank", "in-memory", s});
  // Every rank of this test runs on one host: from 2 ranks on, the same-host pair is 0 and 1.
  if (world.size() > 1)
    for (const char* m : {"raw-mpi", "boost", "datatype", "raw"})
      for (const auto s : sizes) expected.insert({"same-host", m, s});
  for (const auto& r : rows)
    EXPECT_TRUE(actual.insert({r.tier, r.method, r.size_bytes}).second)
        << "twice: " << r.tier << " " << r.method << " " << r.size_bytes;
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(rows.size(), expected.size());
  // Ordered tier, then method, then size.
  EXPECT_EQ(rows.front().tier, "same-rank");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].tier == rows[i - 1].tier && rows[i].method == rows[i - 1].method) {
      EXPECT_LT(rows[i - 1].size_bytes, rows[i].size_bytes);
    }
  }
}

TEST(Bench, LatenciesArePositiveAndBandwidthFlows) {
  const auto& rows = quick_rows();
  if (world.rank() != 0) return;
  for (const auto& r : rows) {
    const std::string what = r.tier + " " + r.method + " " + std::to_string(r.size_bytes) + " B";
    EXPECT_GT(r.reps, 0) << what;
    EXPECT_GT(r.latency_us, 0.0) << what;
    EXPECT_GE(r.latency_p95_us, r.latency_us) << what;
    EXPECT_TRUE(std::isfinite(r.latency_us)) << what;
    if (r.size_bytes == 0) {
      EXPECT_EQ(r.bandwidth_mb_s, 0.0) << what;
    }
    if (r.size_bytes == MiB) {
      EXPECT_GT(r.bandwidth_mb_s, 0.0) << what;
    }
    const bool serialized = r.method == "boost" || r.method == "datatype" || r.method == "raw";
    EXPECT_EQ(std::isnan(r.serialize_us), !serialized) << what;
    EXPECT_EQ(std::isnan(r.deserialize_us), !serialized) << what;
    if (serialized) {
      EXPECT_GE(r.serialize_us, 0.0) << what;
      EXPECT_GE(r.deserialize_us, 0.0) << what;
    }
    if (r.tier == "same-rank") {
      EXPECT_TRUE(std::isnan(r.latency_ratio)) << what << ": no baseline in memory";
      EXPECT_TRUE(std::isnan(r.bandwidth_ratio)) << what;
    }
  }
}

TEST(Bench, RawMpiIsItsOwnUnitAndTheSerializationsAreInItsLeague) {
  const auto& rows = quick_rows();
  if (world.rank() != 0 || world.size() < 2) return;
  for (const auto s : mpipe::quick_bench_sizes()) {
    const auto* base = find(rows, "same-host", "raw-mpi", s);
    ASSERT_NE(base, nullptr) << s;
    EXPECT_EQ(base->latency_ratio, 1.0) << s;
    if (s > 0) {
      EXPECT_EQ(base->bandwidth_ratio, 1.0) << s;
    } else {
      EXPECT_TRUE(std::isnan(base->bandwidth_ratio)) << "nothing to divide at 0 B";
    }
    for (const char* m : {"boost", "datatype", "raw"}) {
      const auto* r = find(rows, "same-host", m, s);
      ASSERT_NE(r, nullptr) << m << " " << s;
      EXPECT_DOUBLE_EQ(r->latency_ratio, r->latency_us / base->latency_us) << m << " " << s;
    }
  }
  // Generous: a hop that costs 20x the baseline would mean a broken path, not noise.
  for (const char* m : {"datatype", "raw"}) {
    EXPECT_LT(find(rows, "same-host", m, KiB)->latency_ratio, 20.0) << m;
    EXPECT_GT(find(rows, "same-host", m, MiB)->bandwidth_ratio, 0.05) << m;
  }
  EXPECT_LT(find(rows, "same-host", "boost", KiB)->latency_ratio, 50.0);
}

TEST(Bench, GivenRepsAreExactlyThoseAndSizesAsAsked) {
  auto opt = quick();
  opt.sizes = {0, 4 * KiB};
  opt.reps = 7;
  opt.warmup = 0;
  const auto rows = mpipe::run_bench(world, opt);
  if (world.rank() != 0) return;
  ASSERT_EQ(rows.size(), world.size() > 1 ? 10u : 2u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.reps, 7) << r.tier << " " << r.method << " " << r.size_bytes;
    EXPECT_TRUE(r.size_bytes == 0 || r.size_bytes == 4 * KiB);
  }
}

TEST(Bench, BadOptionsFailOnEveryRankBeforeAnyMessage) {
  auto opt = quick();
  opt.reps = 0;
  EXPECT_THROW(mpipe::run_bench(world, opt), mpipe::spec_error);
  opt = quick();
  opt.warmup = -1;
  EXPECT_THROW(mpipe::run_bench(world, opt), mpipe::spec_error);
  opt = quick();
  opt.sizes = {mpipe::max_bench_size + 1};
  EXPECT_THROW(mpipe::run_bench(world, opt), mpipe::spec_error);
  // The job is still usable: every rank failed alike, none is left waiting in a collective.
  world.barrier();
}

TEST(Bench, SizeListsParseWithBinarySuffixes) {
  EXPECT_EQ(mpipe::parse_bench_sizes("0,64,1K,4k,1M,3m"),
            (std::vector<std::uint64_t>{0, 64, KiB, 4 * KiB, MiB, 3 * MiB}));
  EXPECT_EQ(mpipe::parse_bench_sizes("1024M"), (std::vector<std::uint64_t>{1024 * MiB}));
  for (const char* bad :
       {"", ",", "1,", ",1", "1,,2", "K", "1G", "-1", "1.5K", " 1", "1025M", "99999999999"})
    EXPECT_THROW(mpipe::parse_bench_sizes(bad), mpipe::spec_error) << "'" << bad << "'";
  EXPECT_EQ(mpipe::size_label(0), "0 B");
  EXPECT_EQ(mpipe::size_label(64 * KiB), "64 KiB");
  EXPECT_EQ(mpipe::size_label(3 * MiB), "3 MiB");
  EXPECT_EQ(mpipe::size_label(1000), "1000 B");
}

TEST(Bench, RunRecordDescribesItselfAndRoundTripsThroughHdf5) {
  auto opt = quick();
  opt.sizes = {0, 64};
  opt.command_line = "mpipe bench --quick --sizes 0,64";
  auto rec = mpipe::bench_run(world, opt);
  if (world.rank() != 0) {
    EXPECT_TRUE(rec.attributes.empty());
    return;
  }
  const auto text = [&](const char* name) { return std::get<std::string>(*rec.get(name)); };
  EXPECT_EQ(text("kind"), "bench");
  EXPECT_EQ(text("sizes"), "0,64");
  EXPECT_EQ(text("command_line"), opt.command_line);
  EXPECT_LE(text("utc_start"), text("utc_end"));
  EXPECT_EQ(std::get<std::int64_t>(*rec.get("world_size")), world.size());
  EXPECT_EQ(std::get<std::int64_t>(*rec.get("reps")), 0);
  EXPECT_TRUE(std::get<bool>(*rec.get("complete")));
  EXPECT_TRUE(rec.events.empty() && rec.messages.empty() && rec.edges.empty());
  ASSERT_EQ(rec.bench.size(), world.size() > 1 ? 10u : 2u);

  char dir[] = "/tmp/mpipe-bench-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/b.h5";
  const auto id = mpipe::append_run(file, rec);
  const auto back = mpipe::read_run(file, id);
  ASSERT_EQ(back.bench.size(), rec.bench.size());
  for (std::size_t i = 0; i < rec.bench.size(); ++i) {
    EXPECT_EQ(back.bench[i].tier, rec.bench[i].tier);
    EXPECT_EQ(back.bench[i].method, rec.bench[i].method);
    EXPECT_EQ(back.bench[i].size_bytes, rec.bench[i].size_bytes);
    EXPECT_EQ(back.bench[i].latency_us, rec.bench[i].latency_us);
  }
  EXPECT_EQ(std::get<std::string>(*back.get("kind")), "bench");
  std::remove(file.c_str());
  std::remove((file + ".lock").c_str());
  rmdir(dir);
}

// calibrate's measurements through the machine (issue 17): the runtime's cost per hop on every
// tier this job has (same-rank always, same-host from 2 ranks on one host; none of cross-host
// here), compute scaling from rank 0's CPUs, and a platform file that carries both.
TEST(Calibration, RuntimePerHopAndComputeScalingOnEveryTierTheJobHas) {
  auto opt = quick();
  opt.sizes = {0, 4096, 16384};
  const auto rec = mpipe::calibration_run(world, opt);
  if (world.rank() != 0) return;
  const auto number = [&](const std::string& name) {
    const auto* v = rec.get(name);
    return v && std::holds_alternative<double>(*v) ? std::get<double>(*v) : std::nan("");
  };
  EXPECT_GE(number("runtime_us_same_rank"), 0.0);
  EXPECT_GT(number("runtime_latency_us_same_rank"), 0.0);
  EXPECT_LT(number("runtime_latency_us_same_rank"), 100'000.0);  // 2 in-memory hops, not 0.1 s
  EXPECT_EQ(std::isnan(number("runtime_us_same_host")), world.size() < 2);
  EXPECT_TRUE(std::isnan(number("runtime_us_cross_host")));  // one host
  const auto* scaling = rec.get("compute_scaling");
  ASSERT_NE(scaling, nullptr);
  EXPECT_EQ(std::get<std::string>(*scaling).rfind("1.0000", 0), 0u);
  EXPECT_LT(number("runtime_s") + number("compute_scaling_s"), 10.0);

  const auto p = mpipe::parse_platform(mpipe::platform_yaml(rec, "t"), "<calibrated>");
  // The file writes 6 significant digits.
  EXPECT_NEAR(p.link(mpipe::tier::same_rank).runtime_us, number("runtime_us_same_rank"), 1e-3);
  ASSERT_FALSE(p.compute_scaling.empty());
  EXPECT_DOUBLE_EQ(p.compute_scaling[0], 1.0);
  if (world.size() >= 2) {
    EXPECT_NEAR(p.link(mpipe::tier::same_host).runtime_us, number("runtime_us_same_host"), 1e-3);
    // cross-host is same-host's stand-in, its runtime cost included.
    EXPECT_EQ(p.link(mpipe::tier::cross_host).runtime_us,
              p.link(mpipe::tier::same_host).runtime_us);
  }
}

}  // namespace
