#include "clock.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <optional>

#include "ompi_internals.h"
#include "util.hpp"

namespace mpipe {
namespace {

constexpr int kTag = 9001;

// Alternate exchanges run with Open MPI's yield-when-idle off and as configured, and the fastest
// of all wins. Off: idle polls do not sched_yield(), which under mpirun
// --oversubscribe made round trips 11 us instead of 0.8 us when the pair has a core each. As
// configured: when the pair must share a core (other ranks or jobs are busy), a rank that does
// not yield makes its partner wait for the scheduler tick (4 ms round trips, measured), and the
// yield hands the core over at once. Restores the setting when it goes.
class yield_switch {
 public:
  yield_switch() : configured_(mpipe_ompi_set_yield_when_idle(0)) { set(false); }
  ~yield_switch() { set(true); }
  yield_switch(const yield_switch&) = delete;
  yield_switch& operator=(const yield_switch&) = delete;
  // Even rounds fast (no yield), odd rounds as configured.
  void for_round(int i) { set(i % 2 == 1); }

 private:
  void set(bool as_configured) {
    if (configured_ >= 0) mpipe_ompi_set_yield_when_idle(as_configured ? configured_ : 0);
  }
  int configured_;  // -1: cannot be switched
};

// Empty for ranks that pass MPI_UNDEFINED (a default-constructed Boost communicator would be
// MPI_COMM_WORLD, not "none").
std::optional<boost::mpi::communicator> split(const boost::mpi::communicator& comm, int color,
                                              int key) {
  MPI_Comm out = MPI_COMM_NULL;
  MPIPE_MPI_CHECK(MPI_Comm_split(comm, color, key, &out));
  if (out == MPI_COMM_NULL) return std::nullopt;
  return boost::mpi::communicator(out, boost::mpi::comm_take_ownership);
}

// Rank 0 of `comm` ping-pongs each other member in turn and keeps, per member, the exchange
// with the smallest round trip. It goes on until `rounds` exchanges in a row brought no faster
// one (at most 10 x rounds, or 50 ms once `rounds` are done; while the best is above 1 ms, up to
// 10 x rounds or 500 ms): on a loaded machine (measured:
// load 5 on 2 cores) a fixed 30 rounds all took 4-8 ms, and a fast one comes only now and then.
// Members get their sample; rank 0 gets {now, 0, 0, 0}.
clock_sample ping_pong(const boost::mpi::communicator& comm, int rounds) {
  constexpr std::int64_t kDone = -1;  // a ping that ends the exchanges
  constexpr std::int64_t kBudgetNs = 50'000'000;
  constexpr std::int64_t kPoorRttNs = 1'000'000;
  constexpr std::int64_t kPoorBudgetNs = 500'000'000;
  clock_sample result;
  result.local_ns = now_ns();
  if (comm.size() == 1) return result;
  if (comm.rank() == 0) {
    yield_switch yield;
    for (int peer = 1; peer < comm.size(); ++peer) {
      std::int64_t best[3] = {0, std::numeric_limits<std::int64_t>::max(), 0};  // offset rtt local
      const std::int64_t begin = now_ns();
      for (int i = 0, since_best = 0;; ++i, ++since_best) {
        // A best round trip still above 1 ms is a scheduler tick, not the link: the pair shared
        // a core with something busy (seen on the virtual cluster, about 1 sync in 10). Keep
        // trying, up to kPoorBudgetNs, for the moment it passes.
        const bool poor = best[1] > kPoorRttNs;
        const std::int64_t budget = poor ? kPoorBudgetNs : kBudgetNs;
        if (i >= rounds &&
            ((since_best >= rounds && !poor) || i >= 10 * rounds || now_ns() - begin > budget))
          break;
        yield.for_round(i);
        const std::int64_t t0 = now_ns();
        comm.send(peer, kTag, t0);
        std::int64_t remote = 0;
        comm.recv(peer, kTag, remote);
        const std::int64_t t1 = now_ns();
        // The remote stamp was taken somewhere inside [t0, t1]: the midpoint is the best
        // guess, off by at most half the round trip, so the fastest round trip wins.
        if (t1 - t0 < best[1]) {
          best[0] = remote - (t0 + (t1 - t0) / 2);
          best[1] = t1 - t0;
          best[2] = remote;
          since_best = -1;
        }
      }
      comm.send(peer, kTag, kDone);
      comm.send(peer, kTag, best, 3);
    }
  } else {
    // Rank 0 syncs members one after another. Until our turn, wait without spinning: members
    // that spin in MPI_Recv on an oversubscribed host (which Open MPI cannot always see, e.g.
    // on virtual hosts) push rank 0's ping-pongs out to the scheduler tick and ruin the estimate.
    std::int64_t ping = 0;
    MPI_Request first;
    MPIPE_MPI_CHECK(MPI_Irecv(&ping, 1, MPI_INT64_T, 0, kTag, comm, &first));
    wait_politely(first);
    yield_switch yield;
    comm.send(0, kTag, now_ns());
    for (int i = 1;; ++i) {  // our turn: rank 0 now pings back to back
      yield.for_round(i);
      comm.recv(0, kTag, ping);
      if (ping == kDone) break;
      comm.send(0, kTag, now_ns());
    }
    std::int64_t best[3] = {0, 0, 0};
    comm.recv(0, kTag, best, 3);
    result = {best[2], best[0], best[1] / 2 + 1, best[1]};  // +1: integer halving rounds down
  }
  return result;
}

}  // namespace

double clock_model::drift() const {
  const auto span = static_cast<double>(end.local_ns - start.local_ns);
  // A change of offset inside the two samples' error bounds is no evidence of drift: applying
  // it would stretch every duration mapped onto rank 0's clock (seen under load: a 1 ms change
  // over a 0.3 s run, 3000 ppm, between two ranks of one host, which share one kernel clock).
  const auto change = end.offset_ns - start.offset_ns;
  if (std::abs(change) <= start.error_ns + end.error_ns) return 0.0;
  return span > 0 ? static_cast<double>(change) / span : 0.0;
}

std::int64_t clock_model::offset_at(std::int64_t local_ns) const {
  return start.offset_ns +
         static_cast<std::int64_t>(drift() * static_cast<double>(local_ns - start.local_ns));
}

clock_sync::clock_sync(const boost::mpi::communicator& comm, const std::vector<std::string>& hosts,
                       int rounds)
    : comm_(comm), rounds_(rounds) {
  const auto me = static_cast<std::size_t>(comm.rank());
  const auto first = std::find(hosts.begin(), hosts.end(), hosts.at(me)) - hosts.begin();
  host_ = *split(comm, static_cast<int>(first), comm.rank());
  leaders_ = split(comm, host_.rank() == 0 ? 0 : MPI_UNDEFINED, comm.rank());
}

clock_sample clock_sync::measure() const {
  // Leaders first (rank 0 is the leader of its host and rank 0 of leaders_); the other ranks
  // meanwhile wait politely for their own leader's first ping.
  clock_sample to_leader, leader_to_root;
  if (leaders_) {
    leader_to_root = ping_pong(*leaders_, rounds_);
    // Hosts take turns, passing a token along the leaders: on a real cluster they could sync
    // at once, but where "hosts" share cores (virtual hosts, a loaded node) pairs running at
    // once steal each other's CPU and the round trips, hence the errors, grow. In turn it
    // costs ~30 round trips per rank: 10 000 ranks at 2 us, 0.6 s.
    constexpr int kTokenTag = kTag + 1;
    const int me = leaders_->rank(), n = leaders_->size();
    char token = 0;
    if (me > 0) {
      MPI_Request req;
      MPIPE_MPI_CHECK(MPI_Irecv(&token, 1, MPI_CHAR, me - 1, kTokenTag, *leaders_, &req));
      wait_politely(req);
    }
    to_leader = ping_pong(host_, rounds_);
    if (me + 1 < n) leaders_->send(me + 1, kTokenTag, token);
  } else {
    to_leader = ping_pong(host_, rounds_);
  }
  // Leaders hand their own offset to rank 0 down to their host.
  std::int64_t up[3] = {leader_to_root.offset_ns, leader_to_root.error_ns, leader_to_root.rtt_ns};
  MPI_Request req;
  MPIPE_MPI_CHECK(MPI_Ibcast(up, 3, MPI_INT64_T, 0, host_, &req));
  wait_politely(req);
  // Ranks of one host read one kernel clock (steady_clock is CLOCK_MONOTONIC): their offset to
  // their leader is 0 exactly, and taking the ping-pong's estimate instead only adds its error
  // (seen on a loaded 2-core VM: 0.7 ms off, error bound 4 ms, so cross-rank wire times came
  // out negative). The round trip is kept: it says how busy the host was.
  to_leader.offset_ns = 0;
  to_leader.error_ns = 0;
  clock_sample out = host_.rank() == 0 ? leader_to_root : to_leader;
  if (host_.rank() != 0) {
    out.offset_ns += up[0];
    out.error_ns += up[1];
    out.rtt_ns = std::max(out.rtt_ns, up[2]);
  }
  // Ranks already done must not spin in whatever collective comes next while later ranks have
  // their turn: same reason as above.
  polite_barrier(comm_);
  return out;
}

}  // namespace mpipe
