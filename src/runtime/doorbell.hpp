// How an idle rank sleeps without missing its next message. MPI over shared memory cannot wake
// a sleeping process: a rank that sleeps in fixed slices sees a message only at the end of its
// slice (100 us here made every same-host hop cost ~160 us on an oversubscribed box), and one
// that busy-polls takes the core its peer needs (a message per scheduler tick, ~4 ms). So each
// rank has a doorbell, a futex word in a shared-memory segment of its host: a same-host peer
// rings it after posting a message, a thread of its own after queueing work for it, and the
// rank sleeps on it. Ranks on other hosts cannot ring, so the sleep is bounded: the caller says
// how long it may be (the cross-host polling interval, an emulated link's next release).
// Where the segment cannot be made (no /dev/shm), every rank keeps a private word: local rings
// still work and peers' messages are seen at the bound.
#pragma once

#include <boost/mpi/communicator.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace mpipe {

class doorbell {
 public:
  // Collective over comm: ranks with the same hosts[] entry share one segment. `heard`: whether
  // any rank will sleep on its doorbell (the job's wait policy is block). Where none will (spin,
  // yield), ring() does nothing: its atomic add on a line the peer reads cost every hop a
  // cache-line transfer for a wake-up that nobody waits for.
  doorbell(const boost::mpi::communicator& comm, const std::vector<std::string>& hosts,
           bool heard = true);
  doorbell(const doorbell&) = delete;
  doorbell& operator=(const doorbell&) = delete;
  ~doorbell();

  // Wakes `rank` if it sleeps on its doorbell (after a message to it was posted). A system call
  // only when it sleeps; a no-op for a rank on another host.
  void ring(int rank);
  // Wakes this rank's own sleep: from a thread that queued work for the engine thread.
  void ring_self() { ring(rank_); }
  // Call before looking for work; pass the result to sleep(). A ring after it ends the sleep at
  // once, so work that arrives between the look and the sleep is never slept through.
  std::uint32_t ticket() const;
  // Sleeps until rung after `ticket` or until `at_most` has passed; true if rung.
  bool sleep(std::uint32_t ticket, std::chrono::nanoseconds at_most);
  // Whether every other rank can ring this one (all on this host, the segment made).
  bool all_peers_ring() const { return all_peers_ring_; }

 private:
  struct alignas(64) slot;
  slot* slot_of(int rank) const;

  int rank_ = 0;
  std::vector<int> local_index_;  // per world rank: its slot in this host's segment, or -1
  slot* slots_ = nullptr;
  std::size_t bytes_ = 0;
  bool shared_ = false, all_peers_ring_ = false, heard_ = true;
};

}  // namespace mpipe
