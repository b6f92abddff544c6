#include "now.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace mpipe {
namespace {

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Invariant (constant and non-stop) TSC that the kernel itself keeps time with: then it ticks
// at one rate on every core and through idle states.
bool tsc_usable() {
#if defined(__x86_64__)
  if (first_line("/sys/devices/system/clocksource/clocksource0/current_clocksource") != "tsc")
    return false;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    bool constant = false, nonstop = false;
    for (std::string w; words >> w;) {
      constant |= w == "constant_tsc";
      nonstop |= w == "nonstop_tsc";
    }
    return constant && nonstop;
  }
#endif
  return false;
}

struct pair_sample {
  std::uint64_t tsc;
  std::int64_t ns;
};

// A TSC reading and the CLOCK_MONOTONIC time it was taken at.
pair_sample bracketed() {
  const auto [tsc, ns] = bracketed_by_steady([] {
#if defined(__x86_64__)
    return static_cast<std::uint64_t>(__rdtsc());
#else
    return std::uint64_t{0};
#endif
  });
  return {tsc, ns};
}

// ns per tick between 0.05 and 10 (20 GHz .. 100 MHz): anything else is not a TSC.
bool plausible(const tsc_scale& s) { return s.mult > (1ull << 32) / 20 && s.mult < (10ull << 32); }

tsc_scale calibrate() {
  const pair_sample a = bracketed();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const pair_sample b = bracketed();
  if (b.tsc <= a.tsc || b.ns <= a.ns) return {};
  const auto mult =
      static_cast<std::uint64_t>((static_cast<int128>(b.ns - a.ns) << 32) / (b.tsc - a.tsc));
  return {a.tsc, a.ns, mult};
}

std::string scale_path() {
  const std::string boot = first_line("/proc/sys/kernel/random/boot_id");
  if (boot.empty()) return {};
  return "/tmp/mpipe-tsc-" + boot;
}

bool read_scale(const std::string& path, tsc_scale& s) {
  std::ifstream in(path);
  std::string magic;
  int format = 0;
  if (!(in >> magic >> format >> s.tsc0 >> s.ns0 >> s.mult)) return false;
  return magic == "mpipe-tsc" && format == 1 && plausible(s);
}

// The first process of a host and boot to need a scale calibrates it and publishes it with
// link(), which fails if another got there first; everyone then reads the one that won.
tsc_scale shared_scale() {
  const std::string path = scale_path();
  tsc_scale s;
  if (path.empty()) return {};
  if (read_scale(path, s)) return s;
  const tsc_scale mine = calibrate();
  if (!plausible(mine)) return {};
  const std::string tmp = path + "." + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << "mpipe-tsc 1 " << mine.tsc0 << ' ' << mine.ns0 << ' ' << mine.mult << '\n';
    if (!out) return {};
  }
  const int linked = ::link(tmp.c_str(), path.c_str());
  ::unlink(tmp.c_str());
  (void)linked;  // EEXIST: another process published first; read what it wrote
  if (read_scale(path, s)) return s;
  return {};
}

// Found at load time, before main(): the first process of a host sleeps 20 ms to calibrate, and
// that must not happen inside the first timed exchange (clock_sync's ping-pong, a bench row).
[[maybe_unused]] const tsc_scale& g_found_at_load = clock_scale();

}  // namespace

tsc_scale find_tsc_scale() {
  const char* want = std::getenv("MPIPE_CLOCK");
  if (want && std::strcmp(want, "steady") == 0) return {};
  if (want && std::strcmp(want, "tsc") != 0 && *want != '\0')
    std::fprintf(stderr, "mpipe: warning: MPIPE_CLOCK=%s is not 'tsc' or 'steady'; using tsc\n",
                 want);
  if (!tsc_usable()) return {};
  return shared_scale();
}

std::string clock_name() {
  const tsc_scale& s = clock_scale();
  if (s.mult == 0) return "steady_clock (CLOCK_MONOTONIC)";
  char text[160];
  std::snprintf(text, sizeof text, "tsc (%.3f MHz, calibrated against CLOCK_MONOTONIC, %s)",
                4294967296.0 / static_cast<double>(s.mult) * 1e3, scale_path().c_str());
  return text;
}

}  // namespace mpipe
