// --emulate-link parsing: units read right, bad text refused with the field named.
#include <gtest/gtest.h>

#include "mpipe/error.hpp"
#include "mpipe/runtime.hpp"

TEST(EmulatedLink, ParsesUnits) {
  auto l = mpipe::parse_emulated_link("latency=5ms");
  EXPECT_DOUBLE_EQ(l.latency_ms, 5.0);
  EXPECT_EQ(l.bandwidth_bytes_per_s, 0.0);
  EXPECT_FALSE(l.cross_host_only);
  l = mpipe::parse_emulated_link("latency=250us,bandwidth=1Gbit/s,scope=cross-host");
  EXPECT_DOUBLE_EQ(l.latency_ms, 0.25);
  EXPECT_DOUBLE_EQ(l.bandwidth_bytes_per_s, 125e6);
  EXPECT_TRUE(l.cross_host_only);
  EXPECT_DOUBLE_EQ(mpipe::parse_emulated_link("latency=0.5s").latency_ms, 500.0);
  EXPECT_DOUBLE_EQ(mpipe::parse_emulated_link("bandwidth=125MB/s").bandwidth_bytes_per_s, 125e6);
}

TEST(EmulatedLink, RefusesBadText) {
  for (const char* bad :
       {"", "latency", "latency=fast", "latency=-1ms", "latency=5", "latency=5ms,colour=red",
        "bandwidth=0MB/s", "latency=5ms,scope=planet", "latency=2h"}) {
    try {
      mpipe::parse_emulated_link(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const mpipe::spec_error& e) {
      EXPECT_EQ(e.field(), "--emulate-link") << bad;
    }
  }
}
