// `mpipe sweep`: a grid of settings run R times per point in shuffled rounds inside one MPI job,
// with statistics per point, and `--break-even`: the work per item at which a distributed
// placement pays. The grid comes from the command line or a YAML file (jobs/sweeps/, read by
// src/experiment/grid.cpp).
#include "mpipe/sweep.hpp"

#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "experiment/grid.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stats.hpp"
#include "mpipe/version.hpp"

namespace mpipe::cli {

namespace {

struct sweep_args {
  std::string grid_file;
  std::string spec_file, scenario;
  std::vector<double> work_scale;
  std::vector<std::string> payload_bytes;  // "64", "64K", "spec"
  std::vector<std::string> placement, serialization, emulate_link, replicas, transport;
  std::vector<int> threads;
  int repeat = 5, warmup = 1, max_repeat = 20, min_repeat = 3, resamples = 2000;
  double target_ci = 0.0;
  std::uint64_t seed = 0;
  std::uint64_t items = 3, inflight = 0;
  double time_scale = 1.0;
  std::string kernel, wait = "auto", objective = "latency";
  int cores_per_rank = 0;
  bool serial_stages = false, no_serial_stages = false;
  bool break_even = false;
  double work_min = 0.01, work_max = 10000.0;
  int points_per_decade = 2;
  std::string platform, out = "results/mpipe.h5";
  bool keep_runs = false, no_progress = false, dry_run = false;
};

bool given(const CLI::App& cmd, const char* name) { return cmd.count(name) > 0; }

// The file's dimensions replace the defaults (and the command line's replace them later).
void apply_grid_file(const grid_file& f, sweep_grid& g) {
  const auto take = [&](const char* dim, auto& into, const auto& from) {
    if (f.given.count(dim)) into = from;
  };
  take("work_scale", g.work_scale, f.work_scale);
  take("payload_bytes", g.payload_bytes, f.payload_bytes);
  take("placement", g.placement, f.placement);
  take("serialization", g.serialization, f.serialization);
  take("emulate_link", g.emulate_link, f.emulate_link);
  take("replicas", g.replicas, f.replicas);
  take("threads", g.threads, f.threads);
  take("transport", g.transport, f.transport);
  g.origin = f.origin;
}

// 1. The grid file: rank 0 reads, every rank parses the same text. Empty without --grid.
grid_file read_grid_on_all(const boost::mpi::communicator& world, const sweep_args& a,
                           sweep_options& o) {
  if (a.grid_file.empty()) return {};
  std::string text, problem;
  if (world.rank() == 0) {
    try {
      text = read_text(a.grid_file, "sweep grid file");
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  boost::mpi::broadcast(world, problem, 0);
  if (!problem.empty()) throw io_error(problem);
  boost::mpi::broadcast(world, text, 0);
  grid_file f = parse_grid_file(text, a.grid_file);
  apply_grid_file(f, o.grid);
  o.grid_file = a.grid_file;
  o.grid_text = text;
  o.reference_slower_pct = f.reference;
  return f;
}

// 3. Scalars: the command line wins over the file, the file over the defaults.
void settle_scalars(const boost::mpi::communicator& world, const sweep_args& a, const CLI::App& cmd,
                    const grid_file& f, sweep_options& o) {
  o.items = given(cmd, "--items") ? a.items : f.items.value_or(a.break_even ? 2 : a.items);
  o.inflight = given(cmd, "--inflight") ? a.inflight : f.inflight.value_or(a.inflight);
  o.time_scale = given(cmd, "--time-scale") ? a.time_scale : f.time_scale.value_or(a.time_scale);
  const std::string kernel = given(cmd, "--kernel") ? a.kernel : f.kernel.value_or("");
  if (!kernel.empty()) {
    if (kernel != "sleep" && kernel != "spin" && kernel != "compute")
      throw spec_error(a.grid_file, 0, "kernel",
                       "must be sleep, spin or compute, got '" + kernel + "'");
    o.kernel = parse_kernel(kernel);
  }
  const std::string wait = given(cmd, "--wait") ? a.wait : f.wait.value_or(a.wait);
  if (wait != "auto" && wait != "block" && wait != "yield" && wait != "spin")
    throw spec_error(a.grid_file, 0, "wait", "must be auto, block, yield or spin");
  o.wait = parse_wait(wait);
  o.objective = given(cmd, "--objective") ? a.objective : f.objective.value_or(a.objective);
  o.cores_per_rank =
      given(cmd, "--cores-per-rank") ? a.cores_per_rank : f.cores_per_rank.value_or(0);
  o.serial_stages =
      a.serial_stages || (!a.no_serial_stages && f.serial_stages.value_or(a.break_even));
  o.plan.repeat = given(cmd, "--repeat") ? a.repeat : f.repeat.value_or(a.repeat);
  o.plan.warmup = given(cmd, "--warmup") ? a.warmup : f.warmup.value_or(a.warmup);
  o.plan.max_repeat =
      given(cmd, "--max-repeat") ? a.max_repeat : f.max_repeat.value_or(a.max_repeat);
  o.plan.min_repeat = std::min(a.min_repeat, o.plan.max_repeat);
  o.plan.target_ci_pct = given(cmd, "--target-ci") ? a.target_ci : f.target_ci.value_or(0.0);
  o.plan.resamples = a.resamples;
  if (!(o.plan.target_ci_pct >= 0.0) || o.plan.target_ci_pct > 1000.0)
    throw spec_error("<command line>", 0, "--target-ci", "must be a percentage > 0");
  // The seed: given, else from the clock on rank 0; printed and stored either way.
  std::uint64_t seed = given(cmd, "--seed") ? a.seed : f.seed.value_or(0);
  if (!given(cmd, "--seed") && !f.seed)
    seed = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
           1'000'000'007ULL;
  boost::mpi::broadcast(world, seed, 0);
  o.plan.seed = seed;
}

// 4. Grid dimensions from the command line replace the file's.
void apply_grid_options(const sweep_args& a, const CLI::App& cmd, sweep_grid& g) {
  const auto strings = [](const std::vector<std::string>& v) {
    std::vector<std::string> out;
    for (const auto& s : v) out.push_back(s == "none" || s == "spec" ? "" : s);
    return out;
  };
  if (given(cmd, "--work-scale")) g.work_scale = a.work_scale, g.origin.erase("work_scale");
  if (given(cmd, "--payload-bytes")) {
    g.payload_bytes.clear();
    g.origin.erase("payload_bytes");
    for (const auto& s : a.payload_bytes)
      g.payload_bytes.push_back(parse_bytes(s, "<command line>"));
  }
  if (given(cmd, "--placement")) g.placement = strings(a.placement), g.origin.erase("placement");
  if (given(cmd, "--serialization"))
    g.serialization = strings(a.serialization), g.origin.erase("serialization");
  if (given(cmd, "--emulate-link"))
    g.emulate_link = strings(a.emulate_link), g.origin.erase("emulate_link");
  if (given(cmd, "--replicas")) g.replicas = strings(a.replicas), g.origin.erase("replicas");
  if (given(cmd, "--threads")) g.threads = a.threads, g.origin.erase("threads");
  if (given(cmd, "--transport")) g.transport = a.transport, g.origin.erase("transport");
}

// 5. --break-even: two placements (pack, spread unless given) over a log grid of work per
// stage, expressed as work scales of this spec.
void make_break_even(const sweep_args& a, const CLI::App& cmd, const grid_file& f,
                     const pipeline_spec& spec, sweep_options& o) {
  auto& g = o.grid;
  o.break_even = true;
  if (!given(cmd, "--placement") && !f.given.count("placement")) g.placement = {"pack", "spread"};
  if (given(cmd, "--work-scale") || f.given.count("work_scale"))
    throw spec_error("<command line>", 0, "--work-scale",
                     "--break-even makes the work grid itself (--work-min, --work-max, "
                     "--points-per-decade)");
  if (!(a.work_min > 0) || !(a.work_max > a.work_min))
    throw spec_error("<command line>", 0, "--work-min",
                     "need 0 < --work-min < --work-max (ms per stage)");
  // The unit is the mean work of the stages the work scale acts on: the synthetic ones (user
  // code keeps its speed); without any, every stage with work (validate_sweep then refuses
  // a pipeline whose work is all user code).
  double sum = 0.0, synthetic = 0.0;
  int with = 0, synthetic_with = 0;
  for (const auto& st : spec.stages) {
    if (st.work_ms > 0) sum += st.work_ms, ++with;
    if (st.work_ms > 0 && is_synthetic(st.kernel)) synthetic += st.work_ms, ++synthetic_with;
  }
  if (with == 0)
    throw spec_error(spec.file, 0, "stages", "--break-even needs stages with work_ms > 0");
  const double unit = synthetic_with > 0 ? synthetic / synthetic_with
                                         : sum / with;  // mean work per stage at scale 1
  g.work_scale.clear();
  for (double w : stats::log_grid(a.work_min, a.work_max, a.points_per_decade))
    g.work_scale.push_back(w / unit);
}

// 6. The platform the model predicts on: --platform, the newest calibration in --out, or the
// shipped laptop-shm.yaml (next to the working directory or the binary).
void choose_platform(const sweep_args& a, const char* argv0, sweep_options& o) {
  o.predict_with = model_platform(a.platform, a.out, argv0, o.platform_note);
}

// Everything read and checked (steps 1 to 7) before anything runs; throws error.
pipeline_spec prepare(const boost::mpi::communicator& world, const sweep_args& a,
                      const CLI::App& cmd, int argc, char** argv, sweep_options& o) {
  const grid_file f = read_grid_on_all(world, a, o);
  // 2. The spec: command line, else the file's (relative to it), else the built-in seed.
  std::string spec_file = a.spec_file, scenario = a.scenario;
  if (spec_file.empty() && scenario.empty()) {
    if (f.spec) spec_file = (std::filesystem::path(f.dir) / *f.spec).string();
    if (f.scenario) scenario = *f.scenario;
  }
  pipeline_spec spec = load_on_all(world, spec_file, scenario);
  settle_scalars(world, a, cmd, f, o);
  apply_grid_options(a, cmd, o.grid);
  if (a.break_even) make_break_even(a, cmd, f, spec, o);
  choose_platform(a, argv[0], o);
  o.items = o.items ? o.items : 3;
  o.keep_runs = a.keep_runs;
  o.out = a.out;
  o.progress = !a.no_progress;
  o.command_line = joined(argc, argv);
  // 7. Every point checked before anything runs.
  validate_sweep(spec, o, world.size());
  if (!a.dry_run) check_writable_on_all(world, a.out);
  return spec;
}

// User code in the spec (docs/sweeps.md, User stages): what the sweep does not scale, and the
// `outputs:` it does not write. (A sweep whose work is all user code and that would scale it
// was refused by validate_sweep.)
void print_user_code_notes(std::ostream& out, const pipeline_spec& spec, const sweep_options& o) {
  std::string user;
  bool synthetic_work = false;
  for (const auto& st : spec.stages) {
    if (!is_synthetic(st.kernel))
      user += (user.empty() ? "" : ", ") + st.name + " (" +
              (st.kernel == kernel_kind::exec ? std::string("exec") : st.function) + ")";
    else if (st.work_ms > 0)
      synthetic_work = true;
  }
  if (!user.empty()) {
    std::vector<std::string> scaling;  // what the sweep scales or replaces
    bool work = o.break_even;
    for (double w : o.grid.work_scale) work |= w != 1.0;
    if (work) scaling.push_back(o.break_even ? "--break-even's work grid" : "work_scale");
    if (o.time_scale != 1.0) scaling.push_back("--time-scale");
    if (o.kernel) scaling.push_back("--kernel");
    std::string what;
    for (const auto& s : scaling) what += (what.empty() ? "" : " and ") + s;
    out << "user stages: " << user << ": they run as fast as they run";
    if (synthetic_work && !what.empty())
      out << "\nmpipe: warning: " << what
          << " change only the sleep/spin/compute stages, not the user stages " << user
          << " (the model keeps their work_ms as given)";
    else
      out << " (work_scale, --time-scale and --kernel would not change them)";
    out << "\n";
  }
  if (!spec.outputs.empty())
    out << "outputs: " << spec.outputs
        << " is not written by a sweep (every repeat would write the same files, and mpipe "
           "never overwrites them); check outputs with mpipe run\n";
}

// What is about to run, on rank 0: the plan, the settings, and the points when few.
void print_plan(std::ostream& out, const boost::mpi::communicator& world, const sweep_args& a,
                const pipeline_spec& spec, const sweep_options& o,
                const std::vector<sweep_point>& points, const std::string& here, std::size_t mine) {
  out << "mpipe " << version << ": sweep of pipeline '" << spec.name << "' (" << spec.file
      << ") on " << world.size() << " rank(s), transport " << here << ": " << points.size()
      << " point(s), " << mine << " in this job; "
      << (o.plan.target_ci_pct > 0
              ? "repeats until the CI half-width is <= " + fixed(o.plan.target_ci_pct, 2) + " % (" +
                    std::to_string(o.plan.min_repeat) + ".." + std::to_string(o.plan.max_repeat) +
                    ")"
              : std::to_string(o.plan.repeat) + " repeats")
      << " after " << o.plan.warmup << " warm-up(s), " << o.items
      << " item(s) per run, shuffled with seed " << o.plan.seed << "; results -> "
      << (a.dry_run ? std::string("(dry run)") : a.out) << "\n";
  if (o.kernel) out << "kernel " << to_string(*o.kernel) << " for every stage; ";
  if (o.serial_stages)
    out << "serial stages (each rank works on one stage at a time: a single-threaded "
           "service process per rank); ";
  out << "cores: "
      << (o.cores_per_rank > 0
              ? std::to_string(o.cores_per_rank) +
                    " per rank (each rank's threads confined, as if each rank were a "
                    "machine of that many cores)"
              : std::string("not confined"))
      << "; time scale " << o.time_scale
      << "; model platform: " << (o.predict_with ? o.platform_note : std::string("none"))
      << std::endl;
  print_user_code_notes(out, spec, o);
  for (std::size_t i = 0; i < points.size(); ++i)
    if (a.dry_run || points.size() <= 12)
      out << "  point " << i << ": " << points[i].label
          << (points[i].transport == here ? "" : "  (needs its own job)") << "\n";
}

// Runs the sweep (collective); rank 0 prints the tables and appends the run to --out. A
// failure past this point leaves ranks out of step, so it aborts the job.
void run_and_store(const boost::mpi::communicator& world, const sweep_args& a,
                   const pipeline_spec& spec, const sweep_options& o) {
  try {
    auto r = run_sweep(world, spec, o);
    if (world.rank() == 0) {
      print_sweep(std::cout, r, o);
      std::cout << "\nSweep took " << fixed(r.seconds, 1) << " s (" << r.record.sweep_repeats.size()
                << " runs)" << std::endl;
      const std::string id = append_run(a.out, std::move(r.record));
      std::cout << "Appended sweep " << id << " to " << a.out << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "[rank " << world.rank() << "] mpipe: error: " << e.what() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
}

int do_sweep(const sweep_args& a, const CLI::App& cmd, int argc, char** argv) {
  const auto env = start_funneled_mpi(argc, argv);
  if (!env) return 2;
  boost::mpi::communicator world;
  const int rank = world.rank();
  sweep_options o;
  pipeline_spec spec;
  try {
    spec = prepare(world, a, cmd, argc, argv, o);
  } catch (const error& e) {
    if (rank == 0) std::cerr << "mpipe: error: " << e.what() << std::endl;
    return 2;
  }

  const auto points = expand_grid(o.grid);
  const std::string here = current_transport();
  std::size_t mine = 0;
  for (const auto& p : points) mine += p.transport == here;
  if (rank == 0) print_plan(std::cout, world, a, spec, o, points, here, mine);
  if (mine == 0) {
    if (rank == 0)
      std::cerr << "mpipe: error: no point of this grid uses this job's transport (" << here
                << "); start it with MPIPE_TRANSPORT=<transport> scripts/mpirun.sh or use "
                   "jobs/sweep-transports.sh"
                << std::endl;
    return 2;
  }
  if (a.dry_run) return 0;
  run_and_store(world, a, spec, o);
  return 0;
}

}  // namespace

}  // namespace mpipe::cli

CLI::App* add_sweep_command(CLI::App& app, mpipe::cli::command_action& action) {
  auto args = std::make_shared<mpipe::cli::sweep_args>();
  auto* c = app.add_subcommand(
      "sweep",
      "Run a grid of settings R times per point (shuffled rounds, one MPI job) with median, IQR, "
      "p95 and a bootstrap CI per point; --break-even: the work per item at which a distributed "
      "placement pays, measured and predicted");
  auto& a = *args;
  c->add_option("--grid", a.grid_file,
                "Sweep file (YAML, see jobs/sweeps/): spec, settings and grid: {dimension: "
                "[values]}; options given here override it");
  mpipe::cli::add_spec_options(*c, a.spec_file, a.scenario,
                               "the grid file's, else the built-in reference pipeline");
  c->add_option("--work-scale", a.work_scale,
                "Grid: factors on every stage's work (times --time-scale), e.g. 0.1 1 10")
      ->expected(1, -1);
  c->add_option("--payload-bytes", a.payload_bytes,
                "Grid: bytes every stage sends, e.g. 64 64K 1M ('spec': the spec's)")
      ->expected(1, -1);
  c->add_option("--placement", a.placement,
                "Grid: placements, e.g. pack spread 'A=0,B=1' ('spec': the spec's map, else "
                "spread); with --break-even the first is local, the second distributed "
                "(default pack spread)")
      ->expected(1, -1);
  c->add_option("--serialization", a.serialization, "Grid: boost datatype raw ('spec')")
      ->expected(1, -1);
  c->add_option("--emulate-link", a.emulate_link,
                "Grid: emulated links, e.g. none 'latency=5ms' 'latency=1ms,bandwidth=1Gbit/s'")
      ->expected(1, -1);
  c->add_option("--replicas", a.replicas, "Grid: replicas, e.g. none 'C3=2' 'C3=2,B=2'")
      ->expected(1, -1);
  c->add_option("--threads", a.threads, "Grid: OpenMP threads of every stage, e.g. 1 2")
      ->expected(1, -1)
      ->check(CLI::Range(1, 1024));
  c->add_option("--transport", a.transport,
                "Grid: shm tcp. One MPI job has one transport: it runs the points of its own "
                "(tcp under MPIPE_TRANSPORT=tcp scripts/mpirun.sh) and lists the others; "
                "jobs/sweep-transports.sh runs one job per transport")
      ->expected(1, -1)
      ->check(CLI::IsMember({"shm", "tcp"}));
  c->add_option("--repeat", a.repeat, "Counted runs per point")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  c->add_option("--warmup", a.warmup,
                "Warm-up runs per point, before the counted ones (not counted)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  c->add_option("--target-ci", a.target_ci,
                "Repeat each point until its median's CI half-width is <= P % of the median (at "
                "least 3 runs, at most --max-repeat); replaces --repeat")
      ->check(CLI::PositiveNumber);
  c->add_option("--max-repeat", a.max_repeat, "Cap on runs per point with --target-ci")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  c->add_option("--seed", a.seed,
                "Seed of the shuffled order and the bootstrap (default: from the clock; printed "
                "and stored, give it to repeat a sweep's order)");
  c->add_option("--resamples", a.resamples, "Bootstrap resamples per CI")
      ->check(CLI::Range(100, 1000000))
      ->capture_default_str();
  c->add_option("--items", a.items,
                "Items per run (each run's value is its mean item latency; default 3, 2 with "
                "--break-even)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  c->add_option("--inflight", a.inflight, "Items in flight (overrides the spec)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  c->add_option("--time-scale", a.time_scale,
                "Multiply every point's work (and --break-even's grid), e.g. 0.01")
      ->capture_default_str();
  c->add_option("--kernel", a.kernel, "Override every stage's kernel (default: the spec's)")
      ->check(CLI::IsMember({"sleep", "spin", "compute"}));
  c->add_option("--wait", a.wait, "How idle ranks wait: auto block yield spin (as mpipe run)")
      ->check(CLI::IsMember({"auto", "block", "yield", "spin"}))
      ->capture_default_str();
  c->add_option("--cores-per-rank", a.cores_per_rank,
                "Confine each rank's threads to K cores (rank i of a host gets cores i*K.., "
                "modulo the host's), as if each rank were a machine of K cores (for spin/compute "
                "kernels); 0: no confinement")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  auto* serial = c->add_flag(
      "--serial-stages", a.serial_stages,
      "Each rank works on one stage at a time (the others queue): a rank is a single-threaded "
      "service process, so packing stages on one rank costs their parallelism (default with "
      "--break-even)");
  c->add_flag("--no-serial-stages", a.no_serial_stages,
              "Stages of a rank run side by side, each in its own thread (as mpipe run)")
      ->excludes(serial);
  c->add_option("--objective", a.objective, "What --break-even compares: latency or throughput")
      ->check(CLI::IsMember({"latency", "throughput"}))
      ->capture_default_str();
  c->add_flag("--break-even", a.break_even,
              "Vary the work per stage over a log grid (--work-min .. --work-max, times "
              "--time-scale) for two placements and report the work at which the distributed "
              "one's latency equals the local one's, is within 10 %, and reaches 50 % efficiency, "
              "with CIs, beside the model's prediction");
  c->add_option("--work-min", a.work_min, "--break-even: smallest work per stage, ms")
      ->capture_default_str();
  c->add_option("--work-max", a.work_max, "--break-even: largest work per stage, ms")
      ->capture_default_str();
  c->add_option("--points-per-decade", a.points_per_decade, "--break-even: grid density")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  c->add_option("--platform", a.platform,
                "Platform file for the model's predictions; default: the newest calibration in "
                "--out, else jobs/platforms/laptop-shm.yaml");
  c->add_option("--out", a.out,
                "HDF5 results file: the sweep is appended as one run (kind = sweep)")
      ->capture_default_str();
  c->add_flag("--keep-runs", a.keep_runs,
              "Also append every repeat's full run to --out (sweep_repeats.run_id names it)");
  c->add_flag("--no-progress", a.no_progress, "No progress lines");
  c->add_flag("--dry-run", a.dry_run, "Check the grid and print its points; run nothing");
  action = [args, c](int argc, char** argv) { return mpipe::cli::do_sweep(*args, *c, argc, argv); };
  return c;
}
