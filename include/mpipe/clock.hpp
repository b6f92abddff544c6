// One timeline for all ranks. Each rank stamps events with its own steady clock; the offset to
// rank 0, measured by ping-pong at start, maps every stamp onto rank 0's clock. On one host all
// ranks read the same kernel clock, so the measured offset should come out near 0 -- and its
// size is then its error.
#pragma once

#include <boost/mpi/communicator.hpp>
#include <chrono>
#include <cstdint>

namespace mpipe {

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct clock_sync {
  std::int64_t offset_ns = 0;  // my clock minus rank 0's clock
  std::int64_t rtt_ns = 0;     // round trip of the sample the offset came from (the best one)
};

// Collective. Rank 0 ping-pongs each other rank `rounds` times and keeps the exchange with the
// smallest round trip (its midpoint is the best offset estimate). Rank 0 gets {0, 0}.
clock_sync sync_clocks(const boost::mpi::communicator& comm, int rounds = 30);

}  // namespace mpipe
