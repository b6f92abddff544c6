// Sweeps: a grid of settings, each point run R times after W warm-ups in shuffled rounds inside
// one MPI job, summarized (median, IQR, p95, bootstrap CI of the median), and, for two
// placements over a range of work, the break-even point: the smallest work per item at which the
// distributed placement pays (stats.hpp does the arithmetic).
//
//   mpipe::sweep_options opt;
//   opt.grid.placement = {"pack", "spread"};
//   opt.grid.work_scale = {0.01, 0.1, 1.0};
//   mpipe::validate_sweep(spec, opt, world.size());           // throws spec_error, no MPI
//   auto r = mpipe::run_sweep(world, spec, opt);              // collective
//   if (world.rank() == 0) { mpipe::print_sweep(std::cout, r); mpipe::append_run(out, r.record); }
#pragma once

#include <boost/mpi/communicator.hpp>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/records.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stats.hpp"

namespace mpipe {

// The grid: every list is one dimension, the points are their cross product (in this order of
// dimensions, the last varying fastest). An empty string / -1 / 0 means "the spec's own".
struct sweep_grid {
  std::vector<std::string> transport{"shm"};  // shm | tcp: needs one MPI job per value
  std::vector<double> work_scale{1.0};        // multiplies every stage's work (x --time-scale)
  std::vector<std::int64_t> payload_bytes{-1};
  std::vector<std::string> placement{""};  // pack | spread | A=0,B=1 | "" (the spec's, else spread)
  std::vector<std::string> serialization{""};  // boost | datatype | raw
  std::vector<std::string> emulate_link{""};   // "latency=5ms,..."
  std::vector<std::string> replicas{""};       // "C3=2,B=2"
  std::vector<int> threads{0};                 // OpenMP threads of every stage
  // Where each value came from, for error messages: "file:line" per value, same shape as above
  // (may be left empty: then "<command line>").
  std::map<std::string, std::vector<std::string>> origin;
};

struct sweep_point {
  std::string transport = "shm";
  double work_scale = 1.0;
  std::int64_t payload_bytes = -1;
  std::string placement;
  std::string serialization;
  std::string emulate_link;
  std::string replicas;
  int threads = 0;
  // "placement=spread, work_scale=10": the settings that vary in the grid, for tables.
  std::string label;
};
std::vector<sweep_point> expand_grid(const sweep_grid& grid);

struct sweep_options {
  sweep_grid grid;
  std::uint64_t items = 3;     // per run
  std::uint64_t inflight = 0;  // 0: the spec's
  double time_scale = 1.0;     // on top of each point's work_scale
  std::optional<kernel_kind> kernel;
  wait_policy wait = wait_policy::automatic;
  // > 0: each rank's threads are confined to this many cores (rank r gets cores r*K .. r*K+K-1,
  // modulo the host's), as if every rank were a machine of K cores; 0: no confinement.
  int cores_per_rank = 0;
  // Each rank runs one stage's work at a time (run_options::serial_stages): a rank is a
  // single-threaded service process, so packing stages on one rank costs their parallelism.
  bool serial_stages = false;
  stats::repeat_plan plan;
  std::string objective = "latency";  // or "throughput": what break-even compares
  bool break_even = false;            // made by --break-even (work_scale over a log range)
  std::optional<platform> predict_with;
  std::string platform_note;  // where the platform came from
  bool keep_runs = false;     // append every repeat's full run to `out` as well
  std::string out;
  bool progress = true;
  std::string command_line;
  std::string grid_file, grid_text;
  // Article-style reference: per work_scale, the slowdown % the second placement is expected
  // to show against the first; printed beside the measurement.
  std::map<double, double> reference_slower_pct;
};

// "shm" or "tcp": what this job's MPI transport is (tcp when Open MPI was told btl self,tcp).
std::string current_transport();

// Checks every point against the spec and the world size (placement, overrides, emulated link)
// before anything runs: throws spec_error naming the grid value's origin and the point.
void validate_sweep(const pipeline_spec& spec, const sweep_options& options, int world_size);

struct sweep_result {
  std::vector<sweep_point> points;  // every point of the grid
  std::vector<bool> ran;            // false: needs another job (transport)
  run_record record;                // complete on rank 0 only
  std::string this_transport;
  int world_size = 1;
  std::vector<std::string> other_transports;  // need their own job
  double seconds = 0.0;
};

// Collective over comm: runs every point of this job's transport, in shuffled rounds.
sweep_result run_sweep(const boost::mpi::communicator& comm, const pipeline_spec& spec,
                       const sweep_options& options);

// The tables: points, the comparison of two placements and the break-even (rank 0).
void print_sweep(std::ostream& out, const sweep_result& result, const sweep_options& options);

// The model of sweep points with cores, predict_item_ms, is in model.hpp.

}  // namespace mpipe
