// Why datatype and raw edges send a large payload as a second message (issue 18, row 6b): the
// three ways to put a 48 B header and a payload on the wire, streamed as osu_bw streams (a
// window of 64 non-blocking sends closed by a 1-byte ack), medians of 55 windows:
//   contig    the payload alone, receives pre-posted (raw MPI: the baseline of row 6b);
//   two       header message + payload message, received as the runtime does (matched probe,
//             receive the header, then the payload by its tag): what mpipe sends above 8 KiB;
//   hindexed  one message of both parts in place (MPI_Type_create_hindexed): one message, but
//             non-contiguous, so Open MPI cannot use its single-copy path.
// It needs nothing but MPI. The CMake build makes it (build/bench/split_message; ~10 s to run):
//   mpirun -np 2 --bind-to none build/bench/split_message
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "two_ranks.hpp"

namespace {

struct header {
  long words[6];
};
enum class way { contig, two, hindexed };
constexpr int kWindow = 64, kWindows = 60, kWarmup = 5;

// Both parts as one datatype at their own addresses (MPI_BOTTOM-relative).
MPI_Datatype both_parts(header* h, char* payload, int payload_bytes) {
  MPI_Aint at[2];
  MPI_Get_address(h, &at[0]);
  MPI_Get_address(payload, &at[1]);
  int lengths[2] = {static_cast<int>(sizeof(header)), payload_bytes};
  MPI_Datatype t;
  MPI_Type_create_hindexed(2, lengths, at, MPI_BYTE, &t);
  MPI_Type_commit(&t);
  return t;
}

void send_one(way w, header& h, std::vector<char>& payload, int peer, MPI_Request* r, int& n) {
  const int size = static_cast<int>(payload.size());
  if (w == way::contig) {
    MPI_Isend(payload.data(), size, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &r[n++]);
  } else if (w == way::two) {
    MPI_Isend(&h, sizeof h, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &r[n++]);
    MPI_Isend(payload.data(), size, MPI_BYTE, peer, 3, MPI_COMM_WORLD, &r[n++]);
  } else {
    MPI_Datatype t = both_parts(&h, payload.data(), size);
    MPI_Isend(MPI_BOTTOM, 1, t, peer, 4, MPI_COMM_WORLD, &r[n++]);
    MPI_Type_free(&t);
  }
}

void receive_one(way w, std::vector<char>& into, int peer, MPI_Request* r, int& n) {
  const int size = static_cast<int>(into.size());
  if (w == way::contig) {
    MPI_Irecv(into.data(), size, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &r[n++]);
    return;
  }
  MPI_Message m;
  MPI_Status st;
  header h;
  MPI_Mprobe(peer, w == way::two ? 2 : 4, MPI_COMM_WORLD, &m, &st);
  if (w == way::two) {
    MPI_Mrecv(&h, sizeof h, MPI_BYTE, &m, MPI_STATUS_IGNORE);
    MPI_Recv(into.data(), size, MPI_BYTE, peer, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return;
  }
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  MPI_Datatype t = both_parts(&h, into.data(), count - static_cast<int>(sizeof h));
  MPI_Mrecv(MPI_BOTTOM, 1, t, &m, MPI_STATUS_IGNORE);
  MPI_Type_free(&t);
}

// Median MB/s of the timed windows (rank 0's clock, from the first send to the ack).
double stream(way w, std::size_t size, int rank) {
  std::vector<char> payload(size, 1);
  header h{};
  const int peer = 1 - rank;
  std::vector<double> seconds;
  for (int i = 0; i < kWindows; ++i) {
    std::vector<MPI_Request> requests(2 * kWindow);
    int n = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int j = 0; j < kWindow; ++j) {
      if (rank == 0)
        send_one(w, h, payload, peer, requests.data(), n);
      else
        receive_one(w, payload, peer, requests.data(), n);
    }
    MPI_Waitall(n, requests.data(), MPI_STATUSES_IGNORE);
    char ack = 0;
    if (rank == 0)
      MPI_Recv(&ack, 1, MPI_BYTE, peer, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    else
      MPI_Send(&ack, 1, MPI_BYTE, peer, 9, MPI_COMM_WORLD);
    if (i >= kWarmup) seconds.push_back(MPI_Wtime() - t0);
  }
  std::sort(seconds.begin(), seconds.end());
  return static_cast<double>(size) * kWindow / seconds[seconds.size() / 2] / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const int rank = start_two_ranks(argc, argv, "split_message");
  if (rank == 0) std::printf("| payload | contig MB/s | two | ratio | hindexed | ratio |\n");
  for (std::size_t size : {16384ul, 65536ul, 262144ul, 1048576ul, 4194304ul}) {
    double mb_s[3];
    for (way w : {way::contig, way::two, way::hindexed})
      mb_s[static_cast<int>(w)] = stream(w, size, rank);
    if (rank == 0)
      std::printf("| %zu KiB | %.0f | %.0f | %.3f | %.0f | %.3f |\n", size / 1024, mb_s[0], mb_s[1],
                  mb_s[1] / mb_s[0], mb_s[2], mb_s[2] / mb_s[0]);
  }
  MPI_Finalize();
  return 0;
}
