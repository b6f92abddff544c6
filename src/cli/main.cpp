// mpipe's command line: parse, set up MPI, call the library, report. No logic of its own.
#include <malloc.h>
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mpipe/bench.hpp"
#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/version.hpp"

namespace {

// Our rank before MPI_Init, from the launcher's environment: only rank 0 prints help and
// command-line errors, so `mpirun -np 16 mpipe --help` prints once.
int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

struct run_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  std::string out = "results/mpipe.h5";
  std::uint64_t items = 0;
  std::uint64_t inflight = 0;  // 0: the spec's
  std::string replicas;
  std::uint64_t detail_items = 10000;
  double time_scale = 1.0;
  std::string kernel;
  std::string wait = "auto";
  std::uint64_t payload_bytes = 0;
  bool payload_given = false;
  bool no_progress = false;
  bool dry_run = false;
  std::string serialization;
  bool verify = false;
  std::string emulate;
};

mpipe::kernel_kind parse_kernel(const std::string& k) {
  if (k == "sleep") return mpipe::kernel_kind::sleep;
  if (k == "spin") return mpipe::kernel_kind::spin;
  return mpipe::kernel_kind::compute;
}

mpipe::wait_policy parse_wait(const std::string& w) {
  if (w == "auto") return mpipe::wait_policy::automatic;
  if (w == "spin") return mpipe::wait_policy::spin;
  if (w == "yield") return mpipe::wait_policy::yield;
  return mpipe::wait_policy::block;
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

// The spec file's bytes, or an io_error naming the file and the reason.
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mpipe::io_error(path + ": cannot read spec: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Only rank 0 reads the file (a cluster without a shared file system still works, and an
// unreadable file is reported once); every rank parses the same text, so a bad spec fails
// identically everywhere and all ranks leave together, without a hang. A scenario is built in:
// every rank has its text already.
mpipe::pipeline_spec load_on_all(const boost::mpi::communicator& world, const std::string& file,
                                 const std::string& scenario) {
  if (!scenario.empty()) return mpipe::scenario_spec(scenario);
  std::string text, problem;
  if (world.rank() == 0) {
    try {
      text = file.empty() ? mpipe::seed_spec_text() : read_text(file);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  boost::mpi::broadcast(world, problem, 0);
  if (!problem.empty()) throw mpipe::io_error(problem);
  boost::mpi::broadcast(world, text, 0);
  return mpipe::parse_spec(text, file.empty() ? "<builtin seed>" : file);
}

// Rank 0 checks the results path (the only rank that writes it) and every rank learns the
// verdict, so a bad --out stops the whole job before any work, with one message.
void check_writable_on_all(const boost::mpi::communicator& world, const std::string& path) {
  std::string problem;
  if (world.rank() == 0) {
    try {
      mpipe::check_writable(path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  boost::mpi::broadcast(world, problem, 0);
  if (!problem.empty()) throw mpipe::io_error(problem);
}

int do_run(const run_args& a, int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rank = world.rank();
  if (env.thread_level() < boost::mpi::threading::funneled) {
    if (rank == 0)
      std::cerr << "mpipe: error: the MPI library does not provide MPI_THREAD_FUNNELED\n";
    return 2;
  }

  mpipe::run_options opt;
  opt.placement = a.placement;
  if (a.items) opt.items = a.items;
  if (a.inflight) opt.inflight = a.inflight;
  opt.replicas = a.replicas;
  opt.detail_items = a.detail_items;
  opt.time_scale = a.time_scale;
  if (!a.kernel.empty()) opt.kernel = parse_kernel(a.kernel);
  opt.wait = parse_wait(a.wait);
  opt.progress = !a.no_progress;
  opt.command_line = joined(argc, argv);
  if (!a.serialization.empty()) {
    opt.serialization = a.serialization == "raw"        ? mpipe::serialization_kind::raw
                        : a.serialization == "datatype" ? mpipe::serialization_kind::datatype
                                                        : mpipe::serialization_kind::boost;
  }
  opt.verify = a.verify;
  if (a.payload_given) opt.payload_bytes = a.payload_bytes;

  mpipe::pipeline_spec spec;
  try {
    // Everything that can be wrong with the input is found here, on every rank, before work.
    if (!a.emulate.empty()) opt.emulate = mpipe::parse_emulated_link(a.emulate);
    spec = load_on_all(world, a.spec_file, a.scenario);
    const auto effective = mpipe::apply_overrides(spec, opt);
    const auto where = mpipe::resolve_placement(effective, opt.placement, world.size());
    if (!a.dry_run) check_writable_on_all(world, a.out);  // it may create the directory
    if (rank == 0) {
      const mpipe::graph g(effective);
      std::cout << "mpipe " << mpipe::version << ": pipeline '" << effective.name << "' ("
                << effective.stages.size() << " stages, " << effective.items << " items"
                << (effective.inflight != 1
                        ? ", " + std::to_string(effective.inflight) + " in flight"
                        : std::string())
                << (a.time_scale != 1.0 ? ", time scale " + std::to_string(a.time_scale) : "")
                << ") on " << world.size() << " rank(s), placement " << where.mode << ": "
                << where.to_string(effective) << "\n"
                << "critical-path bound " << g.critical_path_ms() << " ms; results -> " << a.out
                << std::endl;
      if (opt.emulate)
        std::cout << "EMULATED LINK (what-if, not a measured network): " << opt.emulate->text
                  << std::endl;
    }
  } catch (const mpipe::error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }

  if (a.dry_run) {
    const std::string layout = mpipe::describe_layout(world, spec, opt);
    if (rank == 0) std::cout << layout << std::flush;
    return 0;
  }
  try {
    auto result = mpipe::run_pipeline(world, spec, opt);
    if (rank == 0) {
      mpipe::print_summary(std::cout, result);
      const std::string id = mpipe::append_run(a.out, std::move(result.record));
      std::cout << "\nAppended run " << id << " to " << a.out << std::endl;
    }
  } catch (const std::exception& e) {
    // Past validation, a failure may be on this rank alone: others could wait for it forever.
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return 0;
}

struct validate_args {
  std::string spec_file;
  std::string scenario;
  std::string placement;
  int ranks = 1;
  std::uint64_t inflight = 0;  // 0: the spec's
  std::string replicas;
  int cores = 0;  // 0: this machine's
};

// No MPI: every rank is taken to be on this host, with this machine's cores unless --cores says
// otherwise, so the core bound is the one a single-machine job would meet.
int do_validate(const validate_args& a) {
  auto spec = !a.scenario.empty()   ? mpipe::scenario_spec(a.scenario)
              : a.spec_file.empty() ? mpipe::seed_spec()
                                    : mpipe::load_spec(a.spec_file);
  if (a.inflight) spec.inflight = a.inflight;
  mpipe::apply_replicas(spec, a.replicas);
  const mpipe::graph g(spec);
  const auto where = mpipe::resolve_placement(spec, a.placement, a.ranks);
  std::cout << spec.file << ": pipeline '" << spec.name << "' is valid: " << spec.stages.size()
            << " stages, " << spec.edges.size() << " edges, " << spec.items << " items, "
            << spec.inflight << " in flight\n";
  std::cout << "critical-path bound " << g.critical_path_ms() << " ms:";
  for (int s : g.critical_path()) std::cout << ' ' << spec.stages[static_cast<std::size_t>(s)].name;
  std::cout << "\nplacement on " << a.ranks << " rank(s) (" << where.mode
            << "): " << where.to_string(spec) << "\n";
  const int cores =
      a.cores > 0 ? a.cores : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const auto b = mpipe::compute_throughput_bound(
      spec, where, std::vector<std::string>(static_cast<std::size_t>(a.ranks), "this host"),
      std::vector<int>(static_cast<std::size_t>(a.ranks), cores));
  std::cout << "throughput " << b.explain << "; all ranks on one host of " << cores << " cores\n";
  return 0;
}

// One line per built-in scenario: what it is and the numbers that set its bounds.
int do_scenarios() {
  std::cout << std::left << std::setw(13) << "scenario" << std::right << std::setw(7) << "stages"
            << std::setw(7) << "items" << std::setw(10) << "inflight" << std::setw(16)
            << "critical path"
            << "  summary\n";
  for (const auto& s : mpipe::scenarios()) {
    const auto spec = mpipe::scenario_spec(s.name);
    const mpipe::graph g(spec);
    std::ostringstream path;
    path << g.critical_path_ms() << " ms";
    std::cout << std::left << std::setw(13) << s.name << std::right << std::setw(7)
              << spec.stages.size() << std::setw(7) << spec.items << std::setw(10) << spec.inflight
              << std::setw(16) << path.str() << "  " << s.summary << "\n";
  }
  std::cout << "Run one: mpipe run --scenario NAME [--time-scale 0.01] [--items N] "
               "[--inflight K] [--replicas STAGE=R]; the files are jobs/pipelines/NAME.yaml\n";
  return 0;
}

struct bench_args {
  std::string sizes;
  bool quick = false;
  int reps = 0;     // 0: by size
  int warmup = -1;  // -1: reps / 10
  std::string out = "results/mpipe.h5";
  bool no_out = false;
  bool no_progress = false;
};

int do_bench(const bench_args& a, int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::funneled, false);
  boost::mpi::communicator world;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rank = world.rank();

  mpipe::bench_options opt;
  opt.quick = a.quick;
  if (a.reps > 0) opt.reps = a.reps;
  if (a.warmup >= 0) opt.warmup = a.warmup;
  opt.progress = !a.no_progress;
  opt.command_line = joined(argc, argv);
  try {
    // Every rank parses the same arguments, so a bad list fails everywhere alike, before work.
    if (!a.sizes.empty()) opt.sizes = mpipe::parse_bench_sizes(a.sizes);
    if (!a.no_out) check_writable_on_all(world, a.out);
  } catch (const mpipe::error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
  if (rank == 0)
    std::cout << "mpipe " << mpipe::version << ": communication benchmark on " << world.size()
              << " rank(s)" << (a.quick ? " (quick)" : "") << "; results -> "
              << (a.no_out ? std::string("(not stored)") : a.out) << std::endl;

  try {
    auto record = mpipe::bench_run(world, opt);
    if (rank == 0) {
      mpipe::print_bench(std::cout, record.bench);
      if (!a.no_out) {
        const std::string id = mpipe::append_run(a.out, std::move(record));
        std::cout << "\nAppended run " << id << " to " << a.out << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "[rank " << rank << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed payload buffers in the process: by default glibc maps every block above 128 KiB
  // afresh and unmaps it on free, and on a VM each new 4 KiB page then costs ~12 us to fault in
  // (measured: a 1 MiB allocation 3 ms vs 10 us with these settings). 32 MiB is glibc's ceiling
  // for the mmap threshold; larger payloads still map fresh memory.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  const bool printer = launcher_rank() == 0;
  CLI::App app{
      "mpipe: run a pipeline of stages on MPI ranks, time every hop, and record it in HDF5.\n"
      "Typical: mpirun -np 4 mpipe run --placement spread"};
  app.set_version_flag("--version",
                       std::string("mpipe ") + mpipe::version + " (" + mpipe::git_commit + ")");
  app.require_subcommand(1);

  run_args ra;
  auto* run = app.add_subcommand(
      "run", "Run a pipeline on the ranks of this MPI job and append the run to an HDF5 file");
  auto* run_spec = run->add_option(
      "--spec", ra.spec_file,
      "Pipeline spec (YAML); default: the built-in reference pipeline (jobs/pipelines/seed.yaml)");
  run->add_option("--scenario", ra.scenario,
                  "A built-in pipeline by name: seed, render-farm, api-calls (`mpipe scenarios` "
                  "lists them); instead of --spec")
      ->excludes(run_spec);
  run->add_option("--placement", ra.placement,
                  "pack | spread (instance i on rank i mod N) | map like 'A=0,B=1,C3#1=2' (C3: "
                  "every replica, C3#k: replica k; unnamed ones on rank 0); default: the spec's "
                  "map, else spread");
  run->add_option("--out", ra.out, "HDF5 results file; runs are appended, never overwritten")
      ->capture_default_str();
  run->add_option("--items", ra.items, "Number of items (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  run->add_option("--inflight", ra.inflight,
                  "Items the source keeps in the pipeline at once (overrides the spec's "
                  "inflight; 1 = one request at a time)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  run->add_option("--detail-items", ra.detail_items,
                  "Keep per-item rows (events, messages, items) for at most N items, evenly "
                  "spaced, so memory stays flat on long streams; latency and throughput still "
                  "cover every item")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
      ->capture_default_str();
  run->add_option("--replicas", ra.replicas,
                  "Replicate stages: 'Render=4,B=2' (overrides the spec's replicas, 1..256; a "
                  "stage with several inputs needs dispatch: round-robin in the spec)");
  run->add_option("--time-scale", ra.time_scale,
                  "Multiply every stage's work (e.g. 0.1 for a 10x faster run)")
      ->capture_default_str();
  run->add_option("--kernel", ra.kernel, "Override every stage's kernel")
      ->check(CLI::IsMember({"sleep", "spin", "compute"}));
  run->add_option("--wait", ra.wait,
                  "How idle ranks wait for messages: spin (lowest latency, burns a core), yield, "
                  "block (spin briefly, then sleep: leaves cores to compute), auto (spin when each "
                  "host has 2 cores per rank + 1 per busy stage thread, else block)")
      ->check(CLI::IsMember({"auto", "block", "yield", "spin"}))
      ->capture_default_str();
  run->add_flag("--no-progress", ra.no_progress, "No progress lines on long runs");
  run->add_flag("--dry-run", ra.dry_run,
                "Print stages -> ranks -> hosts (cores, threads) and every edge's tier, then stop");
  run->add_option("--serialization", ra.serialization,
                  "Override every edge's serialization: boost (Boost.Serialization), datatype (MPI "
                  "derived datatype header + bytes), raw (bytes in place)")
      ->check(CLI::IsMember({"boost", "datatype", "raw"}));
  run->add_option("--payload-bytes", ra.payload_bytes,
                  "Override every stage's payload size in bytes (e.g. 1048576 for 1 MiB per edge)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30));
  run->add_flag("--verify", ra.verify,
                "Receivers check a checksum of every payload (a mismatch aborts the run)");
  run->add_option("--emulate-link", ra.emulate,
                  "What-if link: 'latency=5ms[,bandwidth=1Gbit/s][,scope=cross-rank|cross-host]'; "
                  "each affected message is held until send time + latency + bytes/bandwidth; the "
                  "run is labelled emulated");

  validate_args va;
  auto* validate = app.add_subcommand(
      "validate",
      "Check a spec and a placement without running (no MPI needed); print the latency and "
      "throughput bounds");
  auto* validate_spec = validate->add_option(
      "--spec", va.spec_file, "Pipeline spec (YAML); default: the built-in reference pipeline");
  validate
      ->add_option("--scenario", va.scenario,
                   "A built-in pipeline by name (`mpipe scenarios`); instead of --spec")
      ->excludes(validate_spec);
  validate->add_option("--placement", va.placement, "pack | spread | map like 'A=0,B=1,C3#1=2'");
  validate->add_option("--ranks", va.ranks, "World size to resolve the placement for")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  validate->add_option("--inflight", va.inflight, "Items in flight (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  validate->add_option("--replicas", va.replicas,
                       "Replicate stages: 'Render=4,B=2' (overrides the spec's replicas)");
  validate
      ->add_option("--cores", va.cores,
                   "Cores of the one host all ranks are taken to share, for the core bound "
                   "(default: this machine's)")
      ->check(CLI::Range(1, 1'000'000));

  auto* scenarios = app.add_subcommand(
      "scenarios",
      "List the built-in scenarios (jobs/pipelines/*.yaml): stages, items, in flight, critical "
      "path");

  bench_args ba;
  auto* bench = app.add_subcommand(
      "bench",
      "Measure what one hop costs on this job's ranks (same-rank, same-host, cross-host) per "
      "serialization, next to raw MPI; append the table to an HDF5 file");
  bench->add_option("--sizes", ba.sizes,
                    "Message sizes, comma separated, K = KiB, M = MiB (e.g. 0,64,1K,1M); "
                    "default: 0 and powers of 4 from 4 B to 64 MiB");
  bench->add_flag("--quick", ba.quick,
                  "Sizes 0,64,1K,64K,1M with few repetitions: a few seconds (CI)");
  bench
      ->add_option("--reps", ba.reps,
                   "Timed ping-pong round trips per size (default: by size, up to 10000)")
      ->check(CLI::Range(1, 10'000'000));
  bench->add_option("--warmup", ba.warmup, "Untimed round trips before them (default: reps / 10)")
      ->check(CLI::Range(0, 10'000'000));
  auto* bench_out =
      bench->add_option("--out", ba.out, "HDF5 results file; the run is appended (kind=bench)")
          ->capture_default_str();
  bench->add_flag("--no-out", ba.no_out, "Print the table only; write no file")
      ->excludes(bench_out);
  bench->add_flag("--no-progress", ba.no_progress, "No progress lines");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return printer ? app.exit(e) : 0;  // --help, --version
    if (printer)
      std::cerr << "mpipe: error: " << e.what() << "\nRun 'mpipe --help' or 'mpipe run --help'.\n";
    return 2;
  }

  ra.payload_given = run->count("--payload-bytes") > 0;
  if (run->parsed()) return do_run(ra, argc, argv);
  if (bench->parsed()) return do_bench(ba, argc, argv);
  try {
    if (scenarios->parsed()) return do_scenarios();
    return do_validate(va);
  } catch (const mpipe::error& e) {
    std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }
}
