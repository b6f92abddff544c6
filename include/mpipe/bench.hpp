// `mpipe bench`: what one hop costs on this job's own rank layout, per tier and serialization,
// next to a raw MPI baseline measured in the same run (OSU-style latency and bandwidth).
//
//   same-rank   two threads of one rank hand a payload over through a mutex + condition_variable
//               queue, the way the runtime's stages do: no MPI, no serialization ("in-memory");
//   same-host   rank 0 and the first other rank on rank 0's host (MPI_Get_processor_name);
//   cross-host  rank 0 and the first rank on another host.
//
// On an MPI tier every size is measured as raw-mpi (MPI_Send/MPI_Recv of `size` contiguous
// bytes, nothing else) and through the transport's three serializations (boost, datatype, raw):
// encode + send on one side, probe + receive + decode on the other, as the runtime pays it.
//
//   mpipe::bench_options opt;  opt.quick = true;
//   auto rows = mpipe::run_bench(world, opt);        // collective; rows on rank 0
//   if (world.rank() == 0) mpipe::print_bench(std::cout, rows);
#pragma once

#include <boost/mpi/communicator.hpp>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/records.hpp"

namespace mpipe {

struct bench_options {
  std::vector<std::uint64_t> sizes;  // bytes; empty: default_bench_sizes() / quick_bench_sizes()
  bool quick = false;                // CI: few sizes, few repetitions, a few seconds in all
  std::optional<int> reps;           // timed ping-pong round trips per size; default by size
  std::optional<int> warmup;         // untimed round trips before them; default reps / 10
  bool progress = true;              // a line per tier on stderr (never with quick)
  std::string command_line;          // stored with the run
};

// 0 B, then powers of 4 from 4 B to 64 MiB.
std::vector<std::uint64_t> default_bench_sizes();
// 0, 64 B, 1 KiB, 64 KiB, 1 MiB.
std::vector<std::uint64_t> quick_bench_sizes();
// "0,64,1K,4k,1M" (K = KiB, M = MiB) -> bytes. Throws spec_error naming --sizes for anything
// else, for an empty list, and for sizes above max_bench_size.
std::vector<std::uint64_t> parse_bench_sizes(const std::string& text);
inline constexpr std::uint64_t max_bench_size = std::uint64_t{1} << 30;
// "1 KiB", "64 MiB", "100 B": exact, for labels.
std::string size_label(std::uint64_t bytes);

// Collective over comm. Rows on rank 0 (tier, then method, then size); other ranks get none.
// Ranks outside the measured pair wait in a sleeping barrier, so they take no core from it.
// Throws spec_error (on every rank alike) for reps < 1, warmup < 0 or a size above the limit.
std::vector<bench_row> run_bench(const boost::mpi::communicator& comm,
                                 const bench_options& options);

// run_bench plus what a results file needs: the attributes of a bench run (kind = "bench",
// versions, transport, hosts, times, sizes, reps) and the rows as its `bench` dataset. Complete
// on rank 0 only.
run_record bench_run(const boost::mpi::communicator& comm, const bench_options& options);

// The table: tier, method, size, one-way latency (median, p95), bandwidth, ratios to raw-mpi,
// serialize / deserialize; units in the headers, "-" where a column does not apply.
void print_bench(std::ostream& out, const std::vector<bench_row>& rows);

}  // namespace mpipe
