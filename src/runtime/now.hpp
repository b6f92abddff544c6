// Every stamp the runtime takes. A stamp is on the hot path many times per item (~12 for a
// 3-stage chain), and CLOCK_MONOTONIC through the vDSO costs ~23 ns here against ~10 ns for the
// TSC itself, so where the TSC is invariant and is the kernel's own clocksource, now_ns() reads
// it and scales it to nanoseconds. Ranks of one host must still read one clock (clock_sync takes
// their offset to be 0), so the scale is calibrated once per host and boot against
// CLOCK_MONOTONIC and shared through /tmp/mpipe-tsc-<boot id> (the boot id names the machine,
// so a /tmp shared by nodes is safe, and network-namespace "hosts" of one machine, which share
// its TSC, share the file too); where that cannot be shared, or
// MPIPE_CLOCK=steady, now_ns() is steady_clock. Either way the stamps are nanoseconds on a
// monotonic clock; the TSC's may run a few ppm apart from CLOCK_MONOTONIC (NTP's slew, the
// calibration's error), which clock_sync's drift model absorbs across hosts.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace mpipe {

inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What `read()` returns (a TSC reading, a stamp) and the steady_clock time it was read at: the
// tightest of 16 brackets of steady_ns(), so that a deschedule between two reads (tens of us on
// a loaded VM) cannot pass for a difference between the clocks.
template <class Read>
auto bracketed_by_steady(Read read) {
  std::pair<decltype(read()), std::int64_t> best{};
  std::int64_t width = -1;
  for (int i = 0; i < 16; ++i) {
    const std::int64_t a = steady_ns();
    const auto value = read();
    const std::int64_t b = steady_ns();
    if (width < 0 || b - a < width) {
      width = b - a;
      best = {value, a + (b - a) / 2};
    }
  }
  return best;
}

__extension__ using int128 = __int128;  // a GCC/Clang type: the ticks x scale product

// ns = ns0 + (tsc - tsc0) x mult / 2^32; mult == 0: steady_clock.
struct tsc_scale {
  std::uint64_t tsc0 = 0;
  std::int64_t ns0 = 0;
  std::uint64_t mult = 0;
};

// The scale, found on first use (from the host's file, or by a 20 ms calibration that writes it).
tsc_scale find_tsc_scale();

inline const tsc_scale& clock_scale() {
  static const tsc_scale s = find_tsc_scale();
  return s;
}

inline std::int64_t now_ns() {
#if defined(__x86_64__)
  const tsc_scale& s = clock_scale();
  if (s.mult != 0) {
    const auto ticks = static_cast<int128>(__rdtsc()) - static_cast<int128>(s.tsc0);
    return s.ns0 + static_cast<std::int64_t>((ticks * static_cast<int128>(s.mult)) >> 32);
  }
#endif
  return steady_ns();
}

// What now_ns() reads, for the run's provenance: "tsc (2596.1 MHz, ...)" or "steady_clock ...".
std::string clock_name();

}  // namespace mpipe
