// What pre-posted receives would buy the runtime (issue 18, rows 1-2): two ways for an engine to
// take small messages, timed on a relay with nothing else around them. Rank 0 keeps K messages of
// 112 B (a raw edge's 48 B header and 64 B payload) in flight to rank 1, which echoes each; both
// poll, as the engine does:
//   probe   a matched probe (MPI_Improbe) per poll, the message then received into a buffer
//           of its size (MPI_Mrecv): what the transport does today, since sizes are not known;
//   posted  a ring of receives posted ahead (MPI_Irecv, any source and tag), MPI_Test on the
//           oldest per poll, reposted once copied out: what a transport that knew every small
//           message's bound could do.
// K = 1 is row 1's ping-pong, K = 16 row 2's stream. Medians of 7 alternating rounds of 200 000
// items; the last column is what `posted` saves per item (one send and one receive per rank).
// It needs nothing but MPI. The CMake build makes it (build/bench/probe_or_post; ~15 s to run):
//   mpirun -np 2 --bind-to none build/bench/probe_or_post
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "two_ranks.hpp"

namespace {

constexpr int kBytes = 112, kRing = 32, kItems = 200000, kRounds = 7;
enum class way { probe, posted };

struct receiver {
  way how;
  std::vector<char> ring = std::vector<char>(kRing * kBytes);
  MPI_Request requests[kRing];
  int oldest = 0;

  explicit receiver(way w) : how(w) {
    if (how == way::posted)
      for (int i = 0; i < kRing; ++i) repost(i);
  }
  ~receiver() {
    if (how != way::posted) return;
    for (auto& r : requests) {
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
  }
  void repost(int i) {
    MPI_Irecv(&ring[static_cast<std::size_t>(i) * kBytes], kBytes, MPI_BYTE, MPI_ANY_SOURCE,
              MPI_ANY_TAG, MPI_COMM_WORLD, &requests[i]);
  }
  // One poll: copies a message into `out` if one came.
  bool poll(char* out) {
    int flag = 0;
    if (how == way::probe) {
      MPI_Message m;
      MPI_Status st;
      MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &m, &st);
      if (!flag) return false;
      int count = 0;
      MPI_Get_count(&st, MPI_BYTE, &count);
      std::vector<char> buffer(static_cast<std::size_t>(count));
      MPI_Mrecv(buffer.data(), count, MPI_BYTE, &m, MPI_STATUS_IGNORE);
      std::memcpy(out, buffer.data(), static_cast<std::size_t>(count));
      return true;
    }
    MPI_Test(&requests[oldest], &flag, MPI_STATUS_IGNORE);
    if (!flag) return false;
    std::memcpy(out, &ring[static_cast<std::size_t>(oldest) * kBytes], kBytes);
    repost(oldest);
    oldest = (oldest + 1) % kRing;
    return true;
  }
};

// A small send, as the transport's: posted, tested once, waited for only if still going.
void send(const char* bytes, int to) {
  MPI_Request r;
  MPI_Isend(bytes, kBytes, MPI_BYTE, to, 1, MPI_COMM_WORLD, &r);
  int done = 0;
  MPI_Test(&r, &done, MPI_STATUS_IGNORE);
  if (!done) MPI_Wait(&r, MPI_STATUS_IGNORE);
}

// Items per second on rank 0's clock (the other rank's value is meaningless).
double relay(way w, int in_flight, int rank) {
  receiver in(w);
  char item[kBytes];
  std::memset(item, 1, sizeof item);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  int sent = 0, got = 0;
  if (rank == 0)
    for (; sent < in_flight; ++sent) send(item, 1);
  while (got < kItems) {
    if (!in.poll(item)) continue;
    ++got;
    if (rank == 1) {
      send(item, 0);
    } else if (sent < kItems) {
      send(item, 1);
      ++sent;
    }
  }
  const double seconds = MPI_Wtime() - t0;
  MPI_Barrier(MPI_COMM_WORLD);  // every echo received before the receives are cancelled
  return kItems / seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rank = start_two_ranks(argc, argv, "probe_or_post");
  if (rank == 0)
    std::printf("| in flight | probe items/s | posted items/s | ratio | saved ns per item |\n");
  for (int k : {1, 16}) {
    std::vector<double> probe, posted;
    for (int r = 0; r < kRounds; ++r) {
      probe.push_back(relay(way::probe, k, rank));
      posted.push_back(relay(way::posted, k, rank));
    }
    const double a = median(probe), b = median(posted);
    if (rank == 0)
      std::printf("| %d | %.0f | %.0f | %.2f | %.0f |\n", k, a, b, b / a, (1 / a - 1 / b) * 1e9);
  }
  MPI_Finalize();
  return 0;
}
