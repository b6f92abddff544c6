// One timeline for all ranks. Each rank stamps events with its own steady clock; a model of that
// clock against rank 0's -- offset measured at the start and at the end of the run, drift in
// between -- maps every stamp onto rank 0's clock afterwards. Each offset is measured by
// min-round-trip ping-pong (the SKaMPI/ReproMPI "HCA" family's building block: the remote stamp
// lies inside the fastest round trip, so half that round trip bounds the estimate's error).
// On one host all ranks read the same kernel clock: the offset should come out near 0 and its
// size is then its error.
#pragma once

#include <boost/mpi/communicator.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "now.hpp"

namespace mpipe {

// One estimate of this rank's clock minus rank 0's, taken around local time `local_ns`.
struct clock_sample {
  std::int64_t local_ns = 0;
  std::int64_t offset_ns = 0;
  std::int64_t error_ns = 0;  // |true offset - offset_ns| <= error_ns (sum of half round trips)
  std::int64_t rtt_ns = 0;    // the fastest round trip behind it (the worst level's, if two)
};

// Start and end samples; linear drift between them, when the offset changed by more than the two
// samples' error bounds (a smaller change is no evidence of drift, and is taken as none).
struct clock_model {
  clock_sample start, end;
  double drift() const;  // ns of offset gained per ns of local time (1e-6 = 1 ppm)
  std::int64_t offset_at(std::int64_t local_ns) const;
  std::int64_t to_rank0(std::int64_t local_ns) const { return local_ns - offset_at(local_ns); }
  std::int64_t error_ns() const { return std::max(start.error_ns, end.error_ns); }
};

// Hierarchical, so that many ranks do not all queue on rank 0 and each hop is measured over
// the cheapest link: rank 0 syncs the first rank of every other host (the host leaders), then
// each leader syncs the ranks of its own host, all hosts at once. A rank's offset is then its
// offset to its leader plus its leader's to rank 0, and the error bounds add.
class clock_sync {
 public:
  // Collective. hosts[r] = host name of rank r (ranks with the same name share a host).
  clock_sync(const boost::mpi::communicator& comm, const std::vector<std::string>& hosts,
             int rounds = 30);
  // Collective: one sample for the calling rank ({now, 0, 0, 0} on rank 0).
  clock_sample measure() const;

 private:
  boost::mpi::communicator comm_, host_;
  std::optional<boost::mpi::communicator> leaders_;  // host leaders only
  int rounds_;
};

}  // namespace mpipe
