// Sweeps (sweep.hpp): the grid's points run in shuffled rounds through run_pipeline, their
// repeats summarized, and two placements over a range of work compared: where the distributed
// one pays, measured and predicted.
#include "mpipe/sweep.hpp"

#include <sched.h>

#include <algorithm>
#include <boost/mpi/collectives.hpp>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/simulate.hpp"
#include "mpipe/tolerance.hpp"
#include "runtime/layout.hpp"
#include "runtime/mpi_info.hpp"
#include "runtime/util.hpp"
#include "text/table.hpp"

namespace mpipe {

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

std::string number_text(double v) {
  std::ostringstream o;
  o << std::setprecision(6) << v;
  return o.str();
}

std::string fixed_text(double v, int digits) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

// Three significant digits for values spanning decades (work per stage from us to s).
std::string sig3(double v) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return "inf";
  std::ostringstream o;
  const double a = std::abs(v);
  const int digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a >= 0.1 ? 3 : a >= 0.01 ? 4 : 6;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string origin_of(const sweep_grid& g, const std::string& dim, std::size_t i) {
  const auto it = g.origin.find(dim);
  if (it != g.origin.end() && i < it->second.size()) return it->second[i];
  return "<command line>";
}

// Mean work of the stages that have work, and all stages' work (one after another). The work
// axis is what the sweep scales: with user code beside synthetic stages, the mean is over the
// synthetic stages with work only (user stages' work_ms is a fixed estimate, see scaled_spec).
std::pair<double, double> work_of(const pipeline_spec& spec) {
  double sum = 0.0, synthetic = 0.0;
  int with = 0, synthetic_with = 0;
  for (const auto& st : spec.stages) {
    sum += st.work_ms;
    if (st.work_ms > 0) ++with;
    if (st.work_ms > 0 && is_synthetic(st.kernel)) synthetic += st.work_ms, ++synthetic_with;
  }
  if (synthetic_with > 0 && synthetic_with < with) return {synthetic / synthetic_with, sum};
  return {with > 0 ? sum / with : 0.0, sum};
}

// The stages that run user code (kernel: NAME or exec), by name: what work_scale, --time-scale
// and --kernel cannot change (they run as fast as they run).
std::vector<std::string> user_stage_names(const pipeline_spec& spec) {
  std::vector<std::string> out;
  for (const auto& st : spec.stages)
    if (!is_synthetic(st.kernel)) out.push_back(st.name);
  return out;
}

// Whether any sleep/spin/compute stage has work: what work_scale, --time-scale and --kernel act on.
bool has_synthetic_work(const pipeline_spec& spec) {
  return std::any_of(spec.stages.begin(), spec.stages.end(), [](const stage_spec& st) {
    return is_synthetic(st.kernel) && st.work_ms > 0;
  });
}

std::string names_text(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Whether the run of a point will wait blocking, as the runtime resolves --wait for it: its hops
// then cost the platform's runtime_block_us.
bool waits_blocking(const run_options& run, const pipeline_spec& spec, const placement& where,
                    const std::vector<std::string>& hosts, int host_cores) {
  const std::vector<int> cores(hosts.size(), host_cores);
  return resolve_wait(run.wait, spec, where, hosts, cores).first == wait_policy::block;
}

run_options options_for(const sweep_point& p, const sweep_options& o) {
  run_options r;
  r.placement = p.placement;
  r.items = o.items;
  if (o.inflight) r.inflight = o.inflight;
  r.replicas = p.replicas;
  r.detail_items = 100;
  r.time_scale = p.work_scale * o.time_scale;
  r.kernel = o.kernel;
  r.wait = o.wait;
  if (p.payload_bytes >= 0) r.payload_bytes = static_cast<std::uint64_t>(p.payload_bytes);
  if (!p.serialization.empty()) {
    r.serialization = p.serialization == "raw"        ? serialization_kind::raw
                      : p.serialization == "datatype" ? serialization_kind::datatype
                                                      : serialization_kind::boost;
  }
  if (!p.emulate_link.empty()) r.emulate = parse_emulated_link(p.emulate_link);
  if (p.threads > 0) r.threads = p.threads;
  r.serial_stages = o.serial_stages;
  r.progress = false;
  return r;
}

// A point's spec as the sweep's model sees it: the overrides applied, but user stages keep the
// spec's work_ms (an estimate of code that work_scale and --time-scale do not speed up).
pipeline_spec scaled_spec(const pipeline_spec& spec, const run_options& r) {
  pipeline_spec s = apply_overrides(spec, r);
  for (std::size_t i = 0; i < s.stages.size() && i < spec.stages.size(); ++i)
    if (!is_synthetic(s.stages[i].kernel)) s.stages[i].work_ms = spec.stages[i].work_ms;
  return s;
}

}  // namespace

std::vector<sweep_point> expand_grid(const sweep_grid& g) {
  std::vector<sweep_point> out;
  const auto varies = [](std::size_t n) { return n > 1; };
  // Placement varies fastest, so the points that differ only in placement sit side by side.
  for (const auto& tr : g.transport)
    for (double ws : g.work_scale)
      for (auto pb : g.payload_bytes)
        for (const auto& se : g.serialization)
          for (const auto& em : g.emulate_link)
            for (const auto& re : g.replicas)
              for (int th : g.threads)
                for (const auto& pl : g.placement) {
                  sweep_point p{tr, ws, pb, pl, se, em, re, th, ""};
                  std::string l;
                  const auto add = [&](const std::string& k, const std::string& v) {
                    l += (l.empty() ? "" : " ") + k + "=" + (v.empty() ? "-" : v);
                  };
                  if (varies(g.transport.size())) add("transport", tr);
                  if (varies(g.work_scale.size())) add("work_scale", number_text(ws));
                  if (varies(g.payload_bytes.size()))
                    add("payload", pb < 0 ? "" : std::to_string(pb) + "B");
                  if (varies(g.placement.size())) add("placement", pl);
                  if (varies(g.serialization.size())) add("serialization", se);
                  if (varies(g.emulate_link.size())) add("link", em);
                  if (varies(g.replicas.size())) add("replicas", re);
                  if (varies(g.threads.size())) add("threads", th > 0 ? std::to_string(th) : "");
                  p.label = l.empty() ? "(one point)" : l;
                  out.push_back(std::move(p));
                }
  return out;
}

std::string current_transport() {
  // mpi_transport() names the BTLs asked for, e.g. "... btl='self,tcp'" for --mca btl self,tcp:
  // TCP between every pair of ranks only when shared memory (vader, sm) is not in that list.
  const std::string t = mpi_transport();
  const auto at = t.find("btl='");
  if (at == std::string::npos) return "shm";
  const auto end = t.find('\'', at + 5);
  const std::string list =
      t.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5);
  if (!list.empty() && list[0] != '^' && list.find("tcp") != std::string::npos &&
      list.find("vader") == std::string::npos && list.find("sm") == std::string::npos)
    return "tcp";
  return "shm";
}

namespace {

// A bad value of the grid, pointing at the file and line it came from.
spec_error grid_error(const sweep_grid& g, const std::string& dim, std::size_t i,
                      const std::string& why) {
  const std::string where = origin_of(g, dim, i);
  const auto colon = where.rfind(':');
  int line = 0;
  std::string file = where;
  if (colon != std::string::npos && colon + 1 < where.size() &&
      std::all_of(where.begin() + static_cast<std::ptrdiff_t>(colon + 1), where.end(), ::isdigit)) {
    line = std::stoi(where.substr(colon + 1));
    file = where.substr(0, colon);
  }
  return spec_error(file, line, "grid." + dim, why);
}

// Each dimension's values on their own.
void validate_values(const sweep_options& o) {
  const auto& g = o.grid;
  const auto bad = [&](const std::string& dim, std::size_t i, const std::string& why) {
    return grid_error(g, dim, i, why);
  };
  const auto empty = [&](const char* dim, std::size_t n) {
    if (n == 0) throw bad(dim, 0, "needs at least one value");
  };
  empty("transport", g.transport.size());
  empty("work_scale", g.work_scale.size());
  empty("payload_bytes", g.payload_bytes.size());
  empty("placement", g.placement.size());
  empty("serialization", g.serialization.size());
  empty("emulate_link", g.emulate_link.size());
  empty("replicas", g.replicas.size());
  empty("threads", g.threads.size());
  for (std::size_t i = 0; i < g.transport.size(); ++i)
    if (g.transport[i] != "shm" && g.transport[i] != "tcp")
      throw bad("transport", i, "must be shm or tcp, got '" + g.transport[i] + "'");
  for (std::size_t i = 0; i < g.work_scale.size(); ++i) {
    const double t = g.work_scale[i] * o.time_scale;
    if (!std::isfinite(g.work_scale[i]) || !(g.work_scale[i] > 0) || !(t > 0) || t > 1000.0)
      throw bad(
          "work_scale", i,
          "must be > 0 and, times --time-scale, at most 1000; got " + number_text(g.work_scale[i]));
  }
  for (std::size_t i = 0; i < g.payload_bytes.size(); ++i)
    if (g.payload_bytes[i] < -1 || g.payload_bytes[i] > (std::int64_t{1} << 30))
      throw bad(
          "payload_bytes", i,
          "must be between 0 and 1073741824 bytes, got " + std::to_string(g.payload_bytes[i]));
  for (std::size_t i = 0; i < g.serialization.size(); ++i) {
    const auto& s = g.serialization[i];
    if (!s.empty() && s != "boost" && s != "datatype" && s != "raw")
      throw bad("serialization", i, "must be boost, datatype or raw, got '" + s + "'");
  }
  for (std::size_t i = 0; i < g.threads.size(); ++i)
    if (g.threads[i] < 0 || g.threads[i] > 1024)
      throw bad("threads", i, "must be between 1 and 1024, got " + std::to_string(g.threads[i]));
  for (std::size_t i = 0; i < g.emulate_link.size(); ++i) {
    try {
      if (!g.emulate_link[i].empty()) parse_emulated_link(g.emulate_link[i]);
    } catch (const spec_error& e) {
      throw bad("emulate_link", i, e.message());
    }
  }
}

// Every combination of placement and replicas (the only dimensions that interact) against
// the spec and this job's size, with one representative of the others.
void validate_combinations(const pipeline_spec& spec, const sweep_options& o, int world_size) {
  const auto& g = o.grid;
  const auto bad = [&](const std::string& dim, std::size_t i, const std::string& why) {
    return grid_error(g, dim, i, why);
  };
  for (std::size_t pi = 0; pi < g.placement.size(); ++pi) {
    for (std::size_t ri = 0; ri < g.replicas.size(); ++ri) {
      sweep_point p;
      p.placement = g.placement[pi];
      p.replicas = g.replicas[ri];
      p.work_scale = g.work_scale.front();
      run_options r = options_for(p, o);
      pipeline_spec s;
      try {
        s = apply_overrides(spec, r);
      } catch (const spec_error& e) {
        throw bad("replicas", ri, "'" + p.replicas + "': " + e.message());
      }
      try {
        resolve_placement(s, p.placement, world_size);
      } catch (const spec_error& e) {
        throw bad("placement", pi,
                  "'" + p.placement + "'" +
                      (p.replicas.empty() ? "" : " with replicas " + p.replicas) + " on " +
                      std::to_string(world_size) + " rank(s): " + e.message());
      }
    }
  }
  // User code: each serialization must be legal for the types its edges carry (stages.md), and
  // the plugins, functions and types must bind, before any point runs (else the first illegal
  // point would end the job halfway through the sweep).
  if (!user_stage_names(spec).empty()) {
    pipeline_spec as_given = spec;
    check_user_stages(as_given);  // the spec's own errors, as mpipe run would say them
    for (std::size_t i = 0; i < g.serialization.size(); ++i) {
      if (g.serialization[i].empty()) continue;
      sweep_point p;
      p.serialization = g.serialization[i];
      p.placement = g.placement.front();
      p.work_scale = g.work_scale.front();
      try {
        pipeline_spec s = apply_overrides(spec, options_for(p, o));
        check_user_stages(s);
      } catch (const spec_error& e) {
        throw bad("serialization", i, "'" + p.serialization + "': " + e.what());
      }
    }
  }
  for (std::size_t i = 0; i < g.threads.size(); ++i) {
    sweep_point p;
    p.threads = g.threads[i];
    p.placement = g.placement.front();
    try {
      apply_overrides(spec, options_for(p, o));
    } catch (const spec_error& e) {
      throw bad("threads", i, e.message());
    }
  }
}

// User code (kernel: NAME, exec) runs as fast as it runs: work_scale, --time-scale and --kernel
// change only sleep/spin/compute stages. A sweep that would scale nothing is refused; one that
// scales the synthetic stages beside user code runs (the CLI warns, naming the user stages).
void validate_user_code(const pipeline_spec& spec, const sweep_options& o) {
  const auto user = user_stage_names(spec);
  if (user.empty() || has_synthetic_work(spec)) return;
  const auto& g = o.grid;
  const std::string why =
      "stage(s) " + names_text(user) +
      " run user code (kernel: NAME or exec), which runs as fast as it runs, and no sleep, spin "
      "or compute stage has work_ms > 0: ";
  const std::string instead =
      "; sweep placement, replicas, serialization, threads, emulate_link or payload_bytes "
      "instead (docs/sweeps.md, User stages)";
  if (o.break_even)
    throw spec_error("<command line>", 0, "--break-even",
                     why + "--break-even's work grid would scale nothing" + instead);
  for (std::size_t i = 0; i < g.work_scale.size(); ++i)
    if (g.work_scale[i] != 1.0)
      throw grid_error(g, "work_scale", i,
                       why + "work_scale " + number_text(g.work_scale[i]) +
                           " would change only the model's estimates, not the runs" + instead);
  if (o.time_scale != 1.0)
    throw spec_error("<command line>", 0, "--time-scale",
                     why + "--time-scale " + number_text(o.time_scale) +
                         " would change only the model's estimates, not the runs" + instead);
  if (o.kernel)
    throw spec_error("<command line>", 0, "--kernel",
                     why + "--kernel " + std::string(to_string(*o.kernel)) +
                         " changes only synthetic stages, so it would change nothing" + instead);
}

}  // namespace

void validate_sweep(const pipeline_spec& spec, const sweep_options& o, int world_size) {
  const auto& g = o.grid;
  validate_user_code(spec, o);  // first: --break-even's grid may be out of range for them
  validate_values(o);
  validate_combinations(spec, o, world_size);
  if (o.cores_per_rank < 0 || o.cores_per_rank > 4096)
    throw spec_error(
        "<command line>", 0, "--cores-per-rank",
        "must be between 0 (no confinement) and 4096, got " + std::to_string(o.cores_per_rank));
  if (o.plan.repeat < 1 || o.plan.warmup < 0 || o.plan.max_repeat < 1 || o.plan.min_repeat < 1)
    throw spec_error("<command line>", 0, "--repeat",
                     "needs --repeat >= 1, --warmup >= 0, --max-repeat >= 1");
  if (o.objective != "latency" && o.objective != "throughput")
    throw spec_error("<command line>", 0, "--objective", "must be latency or throughput");
  if (o.break_even && g.placement.size() != 2)
    throw spec_error("<command line>", 0, "--placement",
                     "--break-even compares exactly two placements (local, distributed), got " +
                         std::to_string(g.placement.size()));
}

// --- Running ---------------------------------------------------------------------------------

namespace {

// The grid's points and the indices of those that this job runs (its transport's).
std::vector<std::size_t> select_points(sweep_result& res, const sweep_options& o, int world_size) {
  res.points = expand_grid(o.grid);
  res.this_transport = current_transport();
  res.world_size = world_size;
  std::vector<std::size_t> todo;  // indices into points that this job runs
  std::set<std::string> others;
  for (std::size_t i = 0; i < res.points.size(); ++i) {
    const bool mine = res.points[i].transport == res.this_transport;
    res.ran.push_back(mine);
    if (mine)
      todo.push_back(i);
    else
      others.insert(res.points[i].transport);
  }
  res.other_transports.assign(others.begin(), others.end());
  return todo;
}

// Confine this rank's threads (those run_pipeline starts inherit the mask) to its cores; saved
// gets the mask to restore. False: --cores-per-rank 0, nothing confined.
bool confine_to_cores(const sweep_options& o, const std::vector<std::string>& hosts, int host_cores,
                      int rank, cpu_set_t& saved) {
  CPU_ZERO(&saved);
  const bool confine = o.cores_per_rank > 0;
  if (confine) {
    sched_getaffinity(0, sizeof saved, &saved);
    const int first =
        first_cores(hosts, o.cores_per_rank, host_cores)[static_cast<std::size_t>(rank)];
    cpu_set_t mask;
    CPU_ZERO(&mask);
    for (int j = 0; j < std::min(o.cores_per_rank, host_cores); ++j)
      CPU_SET((first + j) % host_cores, &mask);
    if (sched_setaffinity(0, sizeof mask, &mask) != 0)
      throw error("--cores-per-rank: sched_setaffinity failed on rank " + std::to_string(rank));
  }
  return confine;
}

// What each point runs, with the model's view of it.
struct prepared {
  run_options run;
  pipeline_spec spec;
  placement where;
  double per_stage = 0, per_item = 0, predicted = nan_v, ideal = nan_v, weight = 0;
};

std::vector<prepared> prepare_points(const pipeline_spec& spec, const sweep_options& o,
                                     const std::vector<sweep_point>& points,
                                     const std::vector<std::size_t>& todo,
                                     const std::vector<std::string>& hosts, int host_cores,
                                     int world_size) {
  const platform free_platform;  // zero costs: for the ideal (free communication)
  std::vector<prepared> prep;
  for (std::size_t i : todo) {
    prepared p;
    p.run = options_for(points[i], o);
    p.spec = scaled_spec(spec, p.run);
    p.where = resolve_placement(p.spec, p.run.placement, world_size);
    std::tie(p.per_stage, p.per_item) = work_of(p.spec);
    const emulated_link emu = p.run.emulate.value_or(emulated_link{});
    p.ideal = predict_item_ms(p.spec, p.where, free_platform, hosts, emu, o.cores_per_rank,
                              host_cores, true, o.serial_stages);
    if (o.predict_with)
      p.predicted = predict_item_ms(p.spec, p.where, *o.predict_with, hosts, emu, o.cores_per_rank,
                                    host_cores, false, o.serial_stages,
                                    waits_blocking(p.run, p.spec, p.where, hosts, host_cores));
    // Expected seconds of one run, for the ETA: the items plus ~0.1 s of clock sync and set-up.
    const double per_item_ms = std::isnan(p.predicted) ? p.ideal : p.predicted;
    p.weight = 0.1 + static_cast<double>(p.spec.items) * per_item_ms / 1e3 /
                         static_cast<double>(std::max<std::uint64_t>(1, p.spec.inflight));
    prep.push_back(std::move(p));
  }
  return prep;
}

// What the runs gave, per point (in the order of todo), besides rank 0's repeat rows.
struct measured {
  std::vector<stats::scheduled_run> schedule;
  std::vector<double> seconds, thr_first;
  std::vector<std::vector<double>> throughput;
};

// Rank 0: one run's row in sweep_repeats (with --keep-runs the run itself in the file), and its
// numbers in v (latency mean, min, max; throughput).
void record_repeat(run_result& out, const stats::scheduled_run& r, std::size_t point, double t0,
                   double t1, const sweep_options& o, run_record& rec, double (&v)[4],
                   double& thr_first) {
  const auto num = [&](const char* name) {
    const auto* a = out.record.get(name);
    return a && std::holds_alternative<double>(*a) ? std::get<double>(*a) : nan_v;
  };
  v[0] = num("latency_mean_ms");
  v[1] = num("latency_min_ms");
  v[2] = num("latency_max_ms");
  v[3] = num("throughput_items_per_s");
  sweep_repeat_row row;
  row.point = static_cast<std::int32_t>(point);
  row.round = r.round;
  row.repeat = r.repeat;
  row.warmup = r.warmup ? 1 : 0;
  row.order = static_cast<std::int64_t>(r.order);
  row.latency_mean_ms = v[0];
  row.latency_min_ms = v[1];
  row.latency_max_ms = v[2];
  row.throughput_items_per_s = v[3];
  row.started_s = t0;
  row.duration_s = t1 - t0;
  if (o.keep_runs) row.run_id = append_run(o.out, std::move(out.record));
  rec.sweep_repeats.push_back(row);
  if (std::isnan(thr_first)) thr_first = out.bound_items_per_s;
}

// The repeats in shuffled rounds (stats::run_schedule, which stops a point early once its CI
// is narrow enough), with progress on rank 0.
measured measure_points(const boost::mpi::communicator& comm, const pipeline_spec& spec,
                        const sweep_options& o, const std::vector<std::size_t>& todo,
                        const std::vector<prepared>& prep, run_record& rec,
                        std::chrono::steady_clock::time_point t_start) {
  const int rank = comm.rank();
  const auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };
  const int per_point = o.plan.target_ci_pct > 0 ? o.plan.max_repeat : o.plan.repeat;
  double total_weight = 0.0;
  for (const auto& p : prep) total_weight += p.weight * (per_point + o.plan.warmup);
  const std::size_t total_runs = prep.size() * static_cast<std::size_t>(per_point + o.plan.warmup);
  double done_weight = 0.0, last_print = 0.0;
  std::size_t runs_done = 0;
  measured m;
  auto& seconds = m.seconds;
  auto& thr_first = m.thr_first;
  auto& throughput = m.throughput;
  seconds.assign(prep.size(), 0.0);
  thr_first.assign(prep.size(), nan_v);
  throughput.resize(prep.size());

  const auto measure = [&](const stats::scheduled_run& r) -> double {
    auto& p = prep[r.point];
    run_options ro = p.run;
    ro.command_line = o.command_line + "  # sweep point " + std::to_string(todo[r.point]) +
                      (r.warmup ? " warm-up " : " repeat ") + std::to_string(r.repeat);
    const double t0 = since();
    auto out = run_pipeline(comm, spec, ro);
    const double t1 = since();
    double v[4] = {nan_v, nan_v, nan_v, nan_v};
    if (rank == 0) record_repeat(out, r, todo[r.point], t0, t1, o, rec, v, thr_first[r.point]);
    boost::mpi::broadcast(comm, v, 4, 0);
    seconds[r.point] += t1 - t0;
    if (!r.warmup && !std::isnan(v[3])) throughput[r.point].push_back(v[3]);
    ++runs_done;
    done_weight += p.weight;
    if (rank == 0 && o.progress && (since() - last_print >= 5.0 || runs_done == total_runs)) {
      last_print = since();
      const double eta =
          done_weight > 0 ? since() / done_weight * std::max(0.0, total_weight - done_weight) : 0;
      std::cout << "sweep: " << runs_done << "/" << total_runs << " runs"
                << (o.plan.target_ci_pct > 0 ? " (at most)" : "") << ", round " << r.round
                << ", elapsed " << fixed_text(since(), 0) << " s, ETA " << fixed_text(eta, 0)
                << " s" << std::endl;
    }
    return o.objective == "throughput" ? v[3] : v[0];
  };

  m.schedule = stats::run_schedule(prep.size(), o.plan, measure);
  return m;
}

// Per point (in the order of todo): the mean item latency of each counted repeat.
std::vector<std::vector<double>> counted_latency(const run_record& rec,
                                                 const std::vector<std::size_t>& todo) {
  std::vector<std::vector<double>> latency(todo.size());
  for (const auto& row : rec.sweep_repeats) {
    if (row.warmup) continue;
    const auto it = std::find(todo.begin(), todo.end(), static_cast<std::size_t>(row.point));
    latency[static_cast<std::size_t>(it - todo.begin())].push_back(row.latency_mean_ms);
  }
  return latency;
}

// Per point: the sweep_points row, latency and throughput statistics over the counted repeats.
void summarize_points(sweep_result& res, const sweep_options& o,
                      const std::vector<std::size_t>& todo, const std::vector<prepared>& prep,
                      const std::vector<std::vector<double>>& latency, const measured& m) {
  for (std::size_t k = 0; k < prep.size(); ++k) {
    const auto& pt = res.points[todo[k]];
    const auto& p = prep[k];
    const auto s = stats::summarize(latency[k], stats::derive_seed(o.plan.seed, 3000017ULL + k),
                                    o.plan.resamples, o.plan.confidence);
    const auto t =
        stats::summarize(m.throughput[k], stats::derive_seed(o.plan.seed, 4000037ULL + k),
                         o.plan.resamples, o.plan.confidence);
    sweep_point_row row;
    row.point = static_cast<std::int32_t>(todo[k]);
    row.transport = pt.transport;
    row.placement = pt.placement.empty() ? p.where.mode : pt.placement;
    row.placement_resolved = p.where.to_string(p.spec);
    row.work_scale = pt.work_scale;
    row.time_scale = p.run.time_scale;
    row.work_per_stage_ms = p.per_stage;
    row.work_per_item_ms = p.per_item;
    row.payload_bytes = pt.payload_bytes;
    row.serialization = pt.serialization;
    row.emulated_link = pt.emulate_link;
    row.replicas = pt.replicas;
    row.threads = pt.threads;
    row.repeats = static_cast<std::int32_t>(s.n);
    row.warmup = o.plan.warmup;
    row.stopped_early = o.plan.target_ci_pct > 0 && static_cast<int>(s.n) < o.plan.max_repeat;
    row.latency_median_ms = s.median;
    row.latency_mean_ms = s.mean;
    row.latency_q1_ms = s.q1;
    row.latency_q3_ms = s.q3;
    row.latency_iqr_ms = s.iqr;
    row.latency_p95_ms = s.p95;
    row.latency_min_ms = s.min;
    row.latency_max_ms = s.max;
    row.latency_ci_low_ms = s.ci.low;
    row.latency_ci_high_ms = s.ci.high;
    row.throughput_median_items_per_s = t.n ? t.median : nan_v;
    row.throughput_ci_low_items_per_s = t.ci.low;
    row.throughput_ci_high_items_per_s = t.ci.high;
    row.critical_path_ms = graph(p.spec).critical_path_ms();
    row.predicted_latency_ms = p.predicted;
    row.ideal_latency_ms = p.ideal;
    row.seconds = m.seconds[k];
    res.record.sweep_points.push_back(row);
  }
}

// The measured curves of a break-even: per work (sorted), the local and distributed values and
// the ideal; at holds each local point's index (k; the distributed one is k + 1).
struct curves {
  std::vector<std::size_t> at;
  std::vector<double> x, x_item, scales;
  std::vector<std::vector<double>> local, dist, ideal;
};

curves curves_of(const sweep_result& res, const sweep_options& o,
                 const std::vector<std::size_t>& todo, const std::vector<prepared>& prep,
                 const std::vector<std::vector<double>>& latency, const measured& m) {
  curves c;
  auto& at = c.at;
  // Points in grid order: placement varies fastest, so (k, k+1) is (local, distributed) at
  // one work; sorted by work in case the grid was not.
  for (std::size_t k = 0; k + 1 < prep.size(); k += 2) at.push_back(k);
  std::sort(at.begin(), at.end(),
            [&](std::size_t a, std::size_t b) { return prep[a].per_stage < prep[b].per_stage; });
  for (std::size_t k : at) {
    c.x.push_back(prep[k].per_stage);
    c.x_item.push_back(prep[k].per_item);
    c.scales.push_back(res.points[todo[k]].work_scale);
    if (o.objective == "latency") {
      c.local.push_back(latency[k]);
      c.dist.push_back(latency[k + 1]);
      c.ideal.push_back({prep[k + 1].ideal});
    } else {
      c.local.push_back(m.throughput[k]);
      c.dist.push_back(m.throughput[k + 1]);
      c.ideal.push_back({m.thr_first[k + 1]});  // the distributed run's throughput bound
    }
  }
  return c;
}

// The model's curves of a break-even: at work per stage mx, distributed / local and
// distributed / ideal.
struct model_curves {
  std::vector<double> mx, m_ratio, m_eff;
};

// The model on a fine grid over the same range (20 points per decade), from the first pair of
// points (local a, distributed b) with their work scale changed.
model_curves model_curves_of(const pipeline_spec& spec, const sweep_options& o,
                             const sweep_point& first_a, const sweep_point& first_b,
                             const std::vector<double>& scales,
                             const std::vector<std::string>& hosts, int host_cores,
                             int world_size) {
  const platform free_platform;  // zero costs: for the ideal (free communication)
  model_curves mc;
  for (double s : stats::log_grid(scales.front(), scales.back(), 20)) {
    sweep_point a = first_a, b = first_b;
    a.work_scale = b.work_scale = s;
    const auto pa = options_for(a, o), pb = options_for(b, o);
    const auto sa = scaled_spec(spec, pa), sb = scaled_spec(spec, pb);
    const auto wa = resolve_placement(sa, pa.placement, world_size);
    const auto wb = resolve_placement(sb, pb.placement, world_size);
    const emulated_link emu = pa.emulate.value_or(emulated_link{});
    mc.mx.push_back(work_of(sa).first);
    const double ideal_b = predict_item_ms(sb, wb, free_platform, hosts, emu, o.cores_per_rank,
                                           host_cores, true, o.serial_stages);
    const double la =
        predict_item_ms(sa, wa, *o.predict_with, hosts, emu, o.cores_per_rank, host_cores, false,
                        o.serial_stages, waits_blocking(pa, sa, wa, hosts, host_cores));
    const double lb =
        predict_item_ms(sb, wb, *o.predict_with, hosts, emu, o.cores_per_rank, host_cores, false,
                        o.serial_stages, waits_blocking(pb, sb, wb, hosts, host_cores));
    mc.m_ratio.push_back(lb / la);
    mc.m_eff.push_back(lb / ideal_b);
  }
  return mc;
}

// The break-even rows from the curves, measured (with a bootstrap CI) and predicted.
void add_break_even(run_record& rec, const sweep_options& o, const curves& c,
                    const model_curves& mc) {
  const auto& g = o.grid;
  const auto& x = c.x;
  const auto &local = c.local, &dist = c.dist, &ideal = c.ideal;
  const auto &mx = mc.mx, &m_ratio = mc.m_ratio, &m_eff = mc.m_eff;
  const double item_per_stage = x.front() > 0 ? c.x_item.front() / x.front() : nan_v;
  const std::string lname = g.placement[0].empty() ? "spec" : g.placement[0];
  const std::string dname = g.placement[1].empty() ? "spec" : g.placement[1];
  // Each quantity: where median(num) / median(den) comes down to the level.
  //   latency:    equal: dist / local <= 1; efficiency: dist / ideal <= 2;
  //   throughput: equal: local / dist <= 1; efficiency: bound / dist <= 2.
  const bool lat = o.objective == "latency";
  struct want {
    const char* quantity;
    double level;
    const std::vector<std::vector<double>>* num;
    const std::vector<std::vector<double>>* den;
    const std::vector<double>* model;
  };
  const std::vector<want> wants = {
      {lat ? "latency equal" : "throughput equal", 1.0, lat ? &dist : &local, lat ? &local : &dist,
       &m_ratio},
      {"slowdown 10 %", 1.1, lat ? &dist : &local, lat ? &local : &dist, &m_ratio},
      {"efficiency 50 %", 2.0, lat ? &dist : &ideal, lat ? &ideal : &dist, &m_eff},
  };
  std::uint64_t k = 0;
  for (const auto& w : wants) {
    const auto be = stats::break_even(x, *w.num, *w.den, w.level,
                                      stats::derive_seed(o.plan.seed, 5000011ULL + k++),
                                      o.plan.resamples, o.plan.confidence);
    break_even_row row;
    row.quantity = w.quantity;
    row.local = lname;
    row.distributed = dname;
    row.status = stats::to_string(be.point.status);
    row.work_per_stage_ms = be.point.x;
    row.ci_low_ms = be.ci.low;
    row.ci_high_ms = be.ci.high;
    row.work_per_item_ms = be.point.x * item_per_stage;
    row.found_fraction = be.found_fraction;
    if (!w.model->empty()) {
      const auto cr = stats::settled_crossing(mx, *w.model, w.level);
      row.predicted_status = stats::to_string(cr.status);
      row.predicted_work_per_stage_ms = cr.x;
      row.predicted_work_per_item_ms = cr.x * item_per_stage;
    } else {
      row.predicted_status = lat ? "no platform" : "not modelled (the model predicts latency)";
      row.predicted_work_per_stage_ms = row.predicted_work_per_item_ms = nan_v;
    }
    rec.break_even.push_back(row);
  }
}

// --- Latency tolerance: a sweep over --emulate-link latencies checks tolerate_latency -----------

// A point's emulated link as a tolerance series reads it: the base (no link, or latency 0 without
// a bandwidth), a latency of one scope, or neither (a bandwidth is not a latency).
struct link_role {
  bool base = false, latency = false, cross_host = false;
  double ms = 0.0;
};

link_role role_of(const std::string& text) {
  link_role r;
  if (text.empty()) {
    r.base = true;
    return r;
  }
  const emulated_link l = parse_emulated_link(text);
  if (l.bandwidth_bytes_per_s > 0.0) return r;
  r.base = l.latency_ms == 0.0;
  r.latency = !r.base;
  r.cross_host = l.cross_host_only;
  r.ms = l.latency_ms;
  return r;
}

// Whether the grid varies the link over latencies: then the sweep prints the tolerance table.
bool varies_latency(const sweep_grid& g) {
  if (g.emulate_link.size() < 2) return false;
  return std::any_of(g.emulate_link.begin(), g.emulate_link.end(),
                     [](const std::string& t) { return role_of(t).latency; });
}

// A label with the named settings taken out ("work_scale=1 placement=pack link=..." -> ...).
std::string label_without(const std::string& label, const std::vector<std::string>& keys) {
  if (label == "(one point)") return "";
  std::istringstream in(label);
  std::string word, out;
  while (in >> word) {
    const bool drop = std::any_of(keys.begin(), keys.end(), [&](const std::string& k) {
      return word.compare(0, k.size() + 1, k + "=") == 0;
    });
    if (!drop) out += (out.empty() ? "" : " ") + word;
  }
  return out;
}

// The points (indices into todo) that differ only in their link, in grid order.
std::vector<std::vector<std::size_t>> link_series(const sweep_result& res,
                                                  const std::vector<std::size_t>& todo) {
  std::vector<std::string> keys;
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t k = 0; k < todo.size(); ++k) {
    const auto& p = res.points[todo[k]];
    const std::string key = p.transport + "|" + number_text(p.work_scale) + "|" +
                            std::to_string(p.payload_bytes) + "|" + p.placement + "|" +
                            p.serialization + "|" + p.replicas + "|" + std::to_string(p.threads);
    const auto at = std::find(keys.begin(), keys.end(), key);
    if (at == keys.end()) {
      keys.push_back(key);
      out.push_back({k});
    } else {
      out[static_cast<std::size_t>(at - keys.begin())].push_back(k);
    }
  }
  return out;
}

// What the model and the measurement of one series and scope are made of.
struct tolerance_inputs {
  std::vector<double> latency, median;  // the points with a link of this scope
  double base_ms = nan_v;               // the point without one; NaN when the grid has none
  std::size_t model_at = 0;             // the point whose spec and placement the model takes
};

// One row per slowdown (1 %, 10 %): predicted (tolerate_latency on the point's spec, placement,
// cores and waits) against measured (measure_tolerance over the latencies tried).
void add_tolerance_rows(run_record& rec, const sweep_options& o, const sweep_point& pt,
                        const prepared& p, bool cross_host, const tolerance_inputs& in,
                        const std::vector<std::string>& hosts, int host_cores) {
  simulation_options model;
  model.serial_stages = o.serial_stages;
  model.wait_block = waits_blocking(p.run, p.spec, p.where, hosts, host_cores);
  const auto layout = pinned_cores(hosts, o.cores_per_rank, host_cores);
  for (const double slowdown : {0.01, 0.10}) {
    latency_tolerance_row row;
    row.settings = label_without(pt.label, {"placement", "link"});
    row.placement = pt.placement.empty() ? p.where.mode : pt.placement;
    row.scope = cross_host ? "cross-host" : "cross-rank";
    row.slowdown_pct = 100.0 * slowdown;
    row.base_ms = in.base_ms;
    row.predicted_base_ms = row.predicted_ms = nan_v;
    if (o.predict_with) {
      const auto t = tolerate_latency(p.spec, p.where, *o.predict_with, hosts, layout, cross_host,
                                      slowdown, model);
      row.predicted_base_ms = t.base_ms;
      row.predicted_ms = t.latency_ms;
    }
    row.min_tried_ms = *std::min_element(in.latency.begin(), in.latency.end());
    row.max_tried_ms = *std::max_element(in.latency.begin(), in.latency.end());
    row.status = "no base";
    row.measured_ms = row.error_pct = nan_v;
    if (!std::isnan(in.base_ms)) {
      const auto m = measure_tolerance(in.latency, in.median, in.base_ms, slowdown);
      row.status = to_string(m.status);
      row.measured_ms = m.latency_ms;
      if (m.status == tolerance_status::found && std::isfinite(row.predicted_ms) &&
          m.latency_ms > 0.0)
        row.error_pct = 100.0 * (row.predicted_ms - m.latency_ms) / m.latency_ms;
    }
    rec.latency_tolerance.push_back(row);
  }
}

// Per series of points that differ only in their link, per scope its latencies have.
void add_tolerance(sweep_result& res, const sweep_options& o, const std::vector<std::size_t>& todo,
                   const std::vector<prepared>& prep, const std::vector<std::string>& hosts,
                   int host_cores) {
  for (const auto& series : link_series(res, todo)) {
    double base_ms = nan_v;
    for (std::size_t k : series)
      if (role_of(res.points[todo[k]].emulate_link).base && std::isnan(base_ms))
        base_ms = res.record.sweep_points[k].latency_median_ms;
    for (const bool cross_host : {false, true}) {
      tolerance_inputs in;
      in.base_ms = base_ms;
      in.model_at = series.front();
      for (std::size_t k : series) {
        const auto r = role_of(res.points[todo[k]].emulate_link);
        if (!r.latency || r.cross_host != cross_host) continue;
        in.latency.push_back(r.ms);
        in.median.push_back(res.record.sweep_points[k].latency_median_ms);
      }
      if (in.latency.empty()) continue;
      add_tolerance_rows(res.record, o, res.points[todo[in.model_at]], prep[in.model_at],
                         cross_host, in, hosts, host_cores);
    }
  }
}

// The grid as one line, e.g. "transport=shm; work_scale=0.1|1; ...".
std::string grid_line(const sweep_grid& g) {
  std::ostringstream grid;
  const auto list = [&](const char* name, const auto& v, auto show) {
    grid << (grid.tellp() > 0 ? "; " : "") << name << "=";
    for (std::size_t i = 0; i < v.size(); ++i) grid << (i ? "|" : "") << show(v[i]);
  };
  const auto str = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  list("transport", g.transport, str);
  list("work_scale", g.work_scale, [](double v) { return number_text(v); });
  list("payload_bytes", g.payload_bytes,
       [](std::int64_t v) { return v < 0 ? std::string("-") : std::to_string(v); });
  list("placement", g.placement, str);
  list("serialization", g.serialization, str);
  list("emulate_link", g.emulate_link, str);
  list("replicas", g.replicas, str);
  list("threads", g.threads, [](int v) { return v > 0 ? std::to_string(v) : std::string("-"); });
  return grid.str();
}

// The run's attributes.
void store_attributes(sweep_result& res, const pipeline_spec& spec, const sweep_options& o,
                      const std::vector<std::string>& hosts, const std::string& utc_start,
                      std::size_t points_run, std::size_t runs,
                      const std::vector<std::vector<double>>& latency) {
  run_record& rec = res.record;
  rec.set("kind", std::string("sweep"));
  set_provenance(rec, o.command_line, res.world_size, hosts, utc_start, utc_now_iso());
  rec.set("spec_name", spec.name);
  rec.set("spec_text", spec.text);
  rec.set("spec_file", spec.file);
  rec.set("grid_file", o.grid_file);
  rec.set("grid_text", o.grid_text);
  rec.set("grid", grid_line(o.grid));
  rec.set("points", static_cast<std::int64_t>(res.points.size()));
  rec.set("points_run", static_cast<std::int64_t>(points_run));
  rec.set("sweep_transport", res.this_transport);
  std::string other;
  for (const auto& t : res.other_transports) other += (other.empty() ? "" : ",") + t;
  rec.set("other_transports", other);
  rec.set("seed", static_cast<std::int64_t>(o.plan.seed));
  rec.set("shuffle", std::string("rounds: warm-ups first, then one repeat of every active point "
                                 "per round, each round a Fisher-Yates permutation on "
                                 "mt19937_64(splitmix64(seed, round))"));
  rec.set("repeat", static_cast<std::int64_t>(o.plan.repeat));
  rec.set("warmup", static_cast<std::int64_t>(o.plan.warmup));
  rec.set("target_ci_pct", o.plan.target_ci_pct > 0 ? o.plan.target_ci_pct : nan_v);
  rec.set("min_repeat", static_cast<std::int64_t>(o.plan.min_repeat));
  rec.set("max_repeat", static_cast<std::int64_t>(o.plan.max_repeat));
  rec.set("bootstrap_resamples", static_cast<std::int64_t>(o.plan.resamples));
  rec.set("confidence", o.plan.confidence);
  rec.set("items", static_cast<std::int64_t>(o.items));
  rec.set("inflight", static_cast<std::int64_t>(o.inflight));
  rec.set("time_scale", o.time_scale);
  rec.set("kernel_override", o.kernel ? std::string(to_string(*o.kernel)) : "");
  rec.set("wait", std::string(to_string(o.wait)));
  rec.set("cores_per_rank", static_cast<std::int64_t>(o.cores_per_rank));
  rec.set("serial_stages", o.serial_stages);
  rec.set("objective", o.objective);
  rec.set("break_even", o.break_even);
  rec.set("prediction_platform", o.platform_note);
  rec.set("runs", static_cast<std::int64_t>(runs));
  rec.set("noise_floor_pct", stats::noise_floor_pct(latency));
  rec.set("duration_s", res.seconds);
  rec.set("complete", true);
}

}  // namespace

sweep_result run_sweep(const boost::mpi::communicator& world, const pipeline_spec& given,
                       const sweep_options& o) {
  // `outputs:` is not written: every repeat of every point would write the same files, and
  // mpipe never overwrites one (docs/sweeps.md, User stages). The runs are measured as usual.
  pipeline_spec spec = given;
  spec.outputs.clear();
  const boost::mpi::communicator comm(world, boost::mpi::comm_duplicate);
  const int rank = comm.rank();
  sweep_result res;
  const std::vector<std::size_t> todo = select_points(res, o, comm.size());

  std::vector<std::string> hosts;
  boost::mpi::all_gather(comm, host_name(), hosts);
  const int host_cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  cpu_set_t saved;
  const bool confine = confine_to_cores(o, hosts, host_cores, rank, saved);
  const std::vector<prepared> prep =
      prepare_points(spec, o, res.points, todo, hosts, host_cores, comm.size());

  run_record& rec = res.record;
  const auto t_start = std::chrono::steady_clock::now();
  const std::string utc_start = utc_now_iso();
  measured m;
  try {
    m = measure_points(comm, spec, o, todo, prep, rec, t_start);
  } catch (...) {
    if (confine) sched_setaffinity(0, sizeof saved, &saved);
    throw;
  }
  if (confine) sched_setaffinity(0, sizeof saved, &saved);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (rank != 0) return res;

  // Per point: latency statistics over the counted repeats.
  const auto latency = counted_latency(rec, todo);
  summarize_points(res, o, todo, prep, latency, m);

  // Two placements, everything else fixed but the work: the break-even rows.
  const auto& g = o.grid;
  const bool curve = g.placement.size() == 2 && g.work_scale.size() >= 2 &&
                     g.payload_bytes.size() == 1 && g.serialization.size() == 1 &&
                     g.emulate_link.size() == 1 && g.replicas.size() == 1 &&
                     g.threads.size() == 1 && todo.size() == res.points.size();
  if (curve) {
    const curves c = curves_of(res, o, todo, prep, latency, m);
    model_curves mc;
    if (o.objective == "latency" && o.predict_with)
      mc = model_curves_of(spec, o, res.points[todo[c.at[0]]], res.points[todo[c.at[0] + 1]],
                           c.scales, hosts, host_cores, comm.size());
    add_break_even(rec, o, c, mc);
  }

  // Link latencies tried against a link-free point: the measured tolerance beside the model's.
  if (varies_latency(g)) add_tolerance(res, o, todo, prep, hosts, host_cores);

  store_attributes(res, spec, o, hosts, utc_start, todo.size(), m.schedule.size(), latency);
  return res;
}

// --- Printing ----------------------------------------------------------------------------------

namespace {

// The points' table and the noise floor; returns each point's counted latencies.
std::vector<std::vector<double>> print_points(std::ostream& out, const sweep_result& r,
                                              const sweep_options& o, int pct) {
  const auto& rec = r.record;
  out << "\nPoints (per run: its mean item latency over " << o.items << " item(s); median [" << pct
      << " % bootstrap CI] over the repeats)\n";
  text_table points({"#", "settings", "work/stage", "n", "median ms", "CI ms", "IQR ms", "p95 ms",
                     "min ms", "max ms", "items/s", "model ms"},
                    {false, true});
  for (const auto& p : rec.sweep_points) {
    const auto& pt = r.points[static_cast<std::size_t>(p.point)];
    points.add({std::to_string(p.point), pt.label.empty() ? "-" : pt.label,
                sig3(p.work_per_stage_ms) + " ms", std::to_string(p.repeats),
                sig3(p.latency_median_ms),
                "[" + sig3(p.latency_ci_low_ms) + ", " + sig3(p.latency_ci_high_ms) + "]",
                sig3(p.latency_iqr_ms), sig3(p.latency_p95_ms), sig3(p.latency_min_ms),
                sig3(p.latency_max_ms), sig3(p.throughput_median_items_per_s),
                sig3(p.predicted_latency_ms)});
  }
  points.print(out);
  std::vector<std::vector<double>> per_point;
  for (const auto& p : rec.sweep_points) {
    per_point.emplace_back();
    for (const auto& row : rec.sweep_repeats)
      if (!row.warmup && row.point == p.point) per_point.back().push_back(row.latency_mean_ms);
  }
  out << "Noise floor: identical repeats scatter by a median IQR of "
      << fixed_text(stats::noise_floor_pct(per_point), 2)
      << " % of their median; smaller differences are not resolved here\n";
  return per_point;
}

// Two placements: the second against the first, point by point.
void print_versus(std::ostream& out, const sweep_result& r, const sweep_options& o,
                  const std::vector<std::vector<double>>& per_point, int pct) {
  const auto& rec = r.record;
  const auto& g = o.grid;
  if (!(g.placement.size() == 2 && rec.sweep_points.size() >= 2)) return;
  const std::string a = g.placement[0].empty() ? "spec" : g.placement[0];
  const std::string b = g.placement[1].empty() ? "spec" : g.placement[1];
  out << "\n"
      << b << " against " << a << " (latency: median " << b << " / median " << a << " - 1; " << pct
      << " % bootstrap CI)\n";
  const bool ref = !o.reference_slower_pct.empty();
  std::vector<std::string> header = {"settings", "work/stage", a + " ms",
                                     b + " ms",  "slower %",   "CI %"};
  if (ref) header.insert(header.end(), {"reference %", "diff pp"});
  text_table versus(header, {true});
  for (std::size_t k = 0; k + 1 < rec.sweep_points.size(); k += 2) {
    const auto& pa = rec.sweep_points[k];
    const auto& pb = rec.sweep_points[k + 1];
    const auto ratio = stats::median_ratio(per_point[k + 1], per_point[k],
                                           stats::derive_seed(o.plan.seed, 6000001ULL + k),
                                           o.plan.resamples, o.plan.confidence);
    std::string label = r.points[static_cast<std::size_t>(pa.point)].label;
    if (const auto at = label.find("placement="); at != std::string::npos) {
      const auto end = label.find(' ', at);
      label.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
    }
    while (!label.empty() && label.back() == ' ') label.pop_back();
    const double slower = 100.0 * (ratio.ratio - 1.0);
    std::vector<std::string> row = {label.empty() ? "-" : label,
                                    sig3(pa.work_per_stage_ms) + " ms",
                                    sig3(pa.latency_median_ms),
                                    sig3(pb.latency_median_ms),
                                    fixed_text(slower, 2),
                                    "[" + fixed_text(100.0 * (ratio.ci.low - 1.0), 2) + ", " +
                                        fixed_text(100.0 * (ratio.ci.high - 1.0), 2) + "]"};
    if (ref) {
      const auto it = o.reference_slower_pct.find(pa.work_scale);
      if (it != o.reference_slower_pct.end())
        row.insert(row.end(), {fixed_text(it->second, 2), fixed_text(slower - it->second, 2)});
      else
        row.insert(row.end(), {"-", "-"});
    }
    versus.add(row);
  }
  versus.print(out);
}

// The break-even rows, when the sweep has them.
void print_break_even(std::ostream& out, const run_record& rec, const sweep_options& o, int pct) {
  if (rec.break_even.empty()) return;
  const auto& first = rec.break_even.front();
  out << "\nBreak-even: " << first.distributed << " (distributed) against " << first.local
      << " (local), " << o.objective << "; work per stage = the mean work of the stages that "
      << "have work (work per item = all stages' work, one after another)\n";
  for (const auto& b : rec.break_even) {
    out << "  " << std::left << std::setw(17) << b.quantity << std::right;
    if (b.status == "found") {
      out << sig3(b.work_per_stage_ms) << " ms per stage (" << sig3(b.work_per_item_ms)
          << " ms per item), " << pct << " % CI [" << sig3(b.ci_low_ms) << ", "
          << sig3(b.ci_high_ms) << "] ms per stage (crossed inside the grid in "
          << fixed_text(100.0 * b.found_fraction, 0) << " % of resamples)";
    } else if (b.status == "below range") {
      out << "at or below the smallest work measured (" << sig3(b.work_per_stage_ms)
          << " ms per stage)";
    } else {
      out << "not reached within the grid";
    }
    out << "; model: ";
    if (b.predicted_status == "found")
      out << sig3(b.predicted_work_per_stage_ms) << " ms per stage ("
          << sig3(b.predicted_work_per_item_ms) << " ms per item)";
    else if (b.predicted_status == "below range")
      out << "at or below " << sig3(b.predicted_work_per_stage_ms) << " ms per stage";
    else
      out << b.predicted_status;
    out << "\n";
  }
  out << "  (latency equal: " << first.distributed << "'s median latency comes down to "
      << first.local << "'s; slowdown 10 %: to within 10 % of it, the article's rule of "
      << "thumb; efficiency 50 %: the model's free-communication latency on these cores / "
      << "measured reaches 1/2, Task Bench's METG)\n";
}

// The tolerance rows, two per line (1 %, 10 %), when the sweep varied the link's latency.
void print_tolerance(std::ostream& out, const run_record& rec, const sweep_options& o) {
  if (rec.latency_tolerance.empty()) return;
  out << "\nLatency tolerance: the largest emulated link latency with the median item latency "
         "within 1 % / 10 % of its value without a link (base); predicted by the simulator on "
      << (o.predict_with ? o.platform_note : std::string("no platform"))
      << " (as mpipe predict), measured where the medians cross, linearly between the "
         "latencies tried; error = predicted / measured - 1\n";
  const auto predicted_text = [](double v) {
    if (std::isnan(v)) return std::string("no platform");
    return std::isinf(v) ? std::string("unbounded (no such hop)") : fixed_text(v, 3);
  };
  const auto measured_text = [](const latency_tolerance_row& r) {
    if (r.status == "found") return fixed_text(r.measured_ms, 3);
    if (r.status == "above range") return "> " + fixed_text(r.max_tried_ms, 3) + " (max tried)";
    if (r.status == "below range") return "< " + fixed_text(r.min_tried_ms, 3) + " (min tried)";
    return std::string("no base (add none)");
  };
  text_table t({"settings", "placement", "scope", "base ms", "model base ms", "1 % model ms",
                "1 % measured ms", "error %", "10 % model ms", "10 % measured ms", "error %"},
               {true, true, true});
  const auto& rows = rec.latency_tolerance;
  for (std::size_t k = 0; k + 1 < rows.size(); k += 2) {
    const auto &a = rows[k], &b = rows[k + 1];
    t.add({a.settings.empty() ? "-" : a.settings, a.placement, a.scope, sig3(a.base_ms),
           sig3(a.predicted_base_ms), predicted_text(a.predicted_ms), measured_text(a),
           fixed_text(a.error_pct, 1), predicted_text(b.predicted_ms), measured_text(b),
           fixed_text(b.error_pct, 1)});
  }
  t.print(out);
}

// The points left to a job of another transport, and how to run them.
void print_other_transports(std::ostream& out, const sweep_result& r) {
  if (r.other_transports.empty()) return;
  out << "\nNot run in this job (transport " << r.this_transport << "): the points with transport";
  for (const auto& t : r.other_transports) out << " " << t;
  out << ". Run them in their own job, e.g.\n";
  for (const auto& t : r.other_transports)
    out << "  MPIPE_TRANSPORT=" << t << " scripts/mpirun.sh -np " << r.world_size
        << " ... sweep <same options> --transport " << t << "\n";
  out << "or all at once with jobs/sweep-transports.sh\n";
}

}  // namespace

void print_sweep(std::ostream& out, const sweep_result& r, const sweep_options& o) {
  const auto pct = static_cast<int>(std::lround(o.plan.confidence * 100));
  const auto per_point = print_points(out, r, o, pct);
  print_versus(out, r, o, per_point, pct);
  print_break_even(out, r.record, o, pct);
  print_tolerance(out, r.record, o);
  print_other_transports(out, r);
}

}  // namespace mpipe
