#include "mpipe/clock.hpp"

#include <mpi.h>

#include <limits>
#include <thread>

#include "util.hpp"

namespace mpipe {

clock_sync sync_clocks(const boost::mpi::communicator& comm, int rounds) {
  constexpr int kTag = 9001;
  clock_sync result;
  if (comm.size() == 1) return result;
  if (comm.rank() == 0) {
    for (int peer = 1; peer < comm.size(); ++peer) {
      std::int64_t best_rtt = std::numeric_limits<std::int64_t>::max();
      std::int64_t best_offset = 0;
      for (int i = 0; i < rounds; ++i) {
        const std::int64_t t0 = now_ns();
        comm.send(peer, kTag, t0);
        std::int64_t remote = 0;
        comm.recv(peer, kTag, remote);
        const std::int64_t t1 = now_ns();
        // The remote stamp was taken somewhere inside [t0, t1]; the midpoint is the best guess
        // and the shortest round trip bounds its error most tightly.
        if (t1 - t0 < best_rtt) {
          best_rtt = t1 - t0;
          best_offset = remote - (t0 + (t1 - t0) / 2);
        }
      }
      const std::int64_t reply[2] = {best_offset, best_rtt};
      comm.send(peer, kTag, reply, 2);
    }
  } else {
    // Rank 0 syncs ranks one after another. Until our turn, wait without spinning: ranks that
    // spin in MPI_Recv on an oversubscribed host (which Open MPI cannot always see, e.g. on
    // virtual hosts) push rank 0's ping-pongs out to the scheduler tick and ruin the estimate.
    std::int64_t ping = 0;
    MPI_Request first;
    MPIPE_MPI_CHECK(MPI_Irecv(&ping, 1, MPI_INT64_T, 0, kTag, comm, &first));
    wait_politely(first);
    comm.send(0, kTag, now_ns());
    for (int i = 1; i < rounds; ++i) {  // our turn: rank 0 now pings back to back
      comm.recv(0, kTag, ping);
      comm.send(0, kTag, now_ns());
    }
    std::int64_t reply[2] = {0, 0};
    comm.recv(0, kTag, reply, 2);
    result.offset_ns = reply[0];
    result.rtt_ns = reply[1];
  }
  // Ranks already synced must not spin in whatever collective comes next while later ranks
  // have their turn: same reason as above.
  polite_barrier(comm);
  return result;
}

}  // namespace mpipe
