// Kernels: each takes about the time it is given. Wide, ratio-based tolerances: CI has 2 noisy
// cores, and the point is "about right", not a benchmark.
#include <gtest/gtest.h>
#include <omp.h>

#include <thread>

#include "clock.hpp"
#include "mpipe/kernels.hpp"

namespace {

double timed_ms(mpipe::kernel_kind k, double ms, int threads) {
  const auto t0 = mpipe::now_ns();
  mpipe::run_kernel(k, ms, threads);
  return static_cast<double>(mpipe::now_ns() - t0) / 1e6;
}

TEST(Kernels, SleepTakesItsTime) {
  const double t = timed_ms(mpipe::kernel_kind::sleep, 30.0, 1);
  EXPECT_GE(t, 30.0);
  EXPECT_LT(t, 30.0 * 1.5 + 5.0);
}

TEST(Kernels, SpinTakesItsTime) {
  const double t = timed_ms(mpipe::kernel_kind::spin, 30.0, 1);
  EXPECT_GE(t, 30.0);
  EXPECT_LT(t, 30.0 * 1.5 + 5.0);
}

TEST(Kernels, ZeroWorkReturnsAtOnce) {
  EXPECT_LT(timed_ms(mpipe::kernel_kind::compute, 0.0, 4), 1.0);
}

TEST(Kernels, ComputeIsCalibratedToOneCore) {
  EXPECT_GT(mpipe::calibrate_compute(), 0.0);
  double best = 1e9;
  for (int i = 0; i < 3; ++i) best = std::min(best, timed_ms(mpipe::kernel_kind::compute, 40.0, 1));
  EXPECT_GT(best, 40.0 * 0.6);
  EXPECT_LT(best, 40.0 * 1.6);
}

// With two free cores, two threads share the same amount of work: clearly less wall time.
TEST(Kernels, ComputeSplitsAcrossThreads) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 cores";
  double one = 1e9, two = 1e9;
  for (int i = 0; i < 3; ++i) {
    one = std::min(one, timed_ms(mpipe::kernel_kind::compute, 60.0, 1));
    two = std::min(two, timed_ms(mpipe::kernel_kind::compute, 60.0, 2));
  }
  EXPECT_LT(two, one * 0.8) << "1 thread " << one << " ms, 2 threads " << two << " ms";
}

}  // namespace
