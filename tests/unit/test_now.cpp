// now_ns(): the runtime's stamps (src/runtime/now.hpp). Whatever it reads (the TSC scaled, or
// steady_clock), it must be nanoseconds at CLOCK_MONOTONIC's rate and never go back.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "now.hpp"

namespace {

// Each stamp paired with steady_clock as now.cpp's calibration pairs the TSC with it: a VM that
// deschedules the test between two bare reads (50 us seen on a loaded 2-core CI machine) would
// otherwise pass for a clock-rate error.
TEST(Now, RunsAtSteadyClocksRate) {
  const auto [a, sa] = mpipe::bracketed_by_steady(mpipe::now_ns);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto [b, sb] = mpipe::bracketed_by_steady(mpipe::now_ns);
  // Over 50 ms the two differ by the calibration's ppm and the reads' ~100 ns, not 0.1 %.
  EXPECT_NEAR(static_cast<double>(b - a), static_cast<double>(sb - sa), 5e-4 * 50e6 + 2000.0);
}

TEST(Now, NeverGoesBack) {
  std::int64_t last = mpipe::now_ns();
  for (int i = 0; i < 1'000'000; ++i) {
    const std::int64_t t = mpipe::now_ns();
    ASSERT_GE(t, last) << "at read " << i;
    last = t;
  }
}

TEST(Now, NamesItsClock) {
  const std::string name = mpipe::clock_name();
  if (mpipe::clock_scale().mult == 0) {
    EXPECT_EQ(name, "steady_clock (CLOCK_MONOTONIC)");
  } else {
    EXPECT_NE(name.find("tsc ("), std::string::npos) << name;
    EXPECT_NE(name.find(" MHz"), std::string::npos) << name;
  }
}

// Processes of one host share one scale (clock_sync takes same-host offsets to be 0): the file
// this process's scale came from holds exactly that scale.
TEST(Now, ScaleIsTheHostsSharedOne) {
  const mpipe::tsc_scale& s = mpipe::clock_scale();
  if (s.mult == 0) GTEST_SKIP() << "now_ns() is steady_clock here (" << mpipe::clock_name() << ")";
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(boot, id);
  std::ifstream in("/tmp/mpipe-tsc-" + id);
  std::string magic;
  int format = 0;
  mpipe::tsc_scale f;
  ASSERT_TRUE(in >> magic >> format >> f.tsc0 >> f.ns0 >> f.mult);
  EXPECT_EQ(magic, "mpipe-tsc");
  EXPECT_EQ(f.tsc0, s.tsc0);
  EXPECT_EQ(f.ns0, s.ns0);
  EXPECT_EQ(f.mult, s.mult);
}

}  // namespace
