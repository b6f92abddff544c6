// Gathering a run's rows on rank 0 (internal, not installed). The rows can be large, a row per
// item and stage, so they travel as bytes, with no serialization. MPI's counts and displacements
// are int: one MPI_Gatherv of more than 2^31 - 1 bytes in all overflows them (about 38 M event
// rows), and rank 0 then writes out of bounds. So the sizes go as 64-bit numbers, and every
// rank's rows as point-to-point messages of at most `chunk_bytes` each.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <boost/mpi/communicator.hpp>
#include <climits>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "util.hpp"

namespace mpipe {

inline constexpr std::uint64_t gather_chunk_bytes = std::uint64_t{1} << 30;  // 1 GiB

// f(offset, length) over [0, n) in pieces of at most chunk bytes (an int count each).
template <class F>
void for_each_chunk(std::uint64_t n, std::uint64_t chunk, F&& f) {
  for (std::uint64_t off = 0; off < n; off += chunk)
    f(off, static_cast<int>(std::min(chunk, n - off)));
}

// Collective over comm: every rank's rows, in rank order, on rank 0 (empty elsewhere).
template <class T>
std::vector<T> gather_rows(const boost::mpi::communicator& comm, const std::vector<T>& mine,
                           std::uint64_t chunk_bytes = gather_chunk_bytes) {
  static_assert(std::is_trivially_copyable_v<T>);
  chunk_bytes = std::clamp<std::uint64_t>(chunk_bytes, 1, INT_MAX);
  const std::uint64_t bytes = mine.size() * sizeof(T);
  std::vector<std::uint64_t> sizes(static_cast<std::size_t>(comm.size()), 0);
  MPIPE_MPI_CHECK(MPI_Gather(&bytes, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, 0, comm));
  constexpr int tag = 0;  // callers pass a communicator that carries nothing else now
  if (comm.rank() != 0) {
    const auto* data = reinterpret_cast<const unsigned char*>(mine.data());
    for_each_chunk(bytes, chunk_bytes, [&](std::uint64_t off, int len) {
      MPIPE_MPI_CHECK(MPI_Send(data + off, len, MPI_BYTE, 0, tag, comm));
    });
    return {};
  }
  std::uint64_t total = 0;
  for (const auto s : sizes) total += s;
  std::vector<T> all(static_cast<std::size_t>(total / sizeof(T)));
  auto* out = reinterpret_cast<unsigned char*>(all.data());
  if (bytes > 0) std::memcpy(out, mine.data(), bytes);
  std::uint64_t at = sizes[0];
  for (int r = 1; r < comm.size(); ++r) {
    const std::uint64_t n = sizes[static_cast<std::size_t>(r)];
    for_each_chunk(n, chunk_bytes, [&](std::uint64_t off, int len) {
      MPIPE_MPI_CHECK(MPI_Recv(out + at + off, len, MPI_BYTE, r, tag, comm, MPI_STATUS_IGNORE));
    });
    at += n;
  }
  return all;
}

}  // namespace mpipe
