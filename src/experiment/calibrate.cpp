#include "mpipe/calibrate.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <boost/mpi/collectives.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <sstream>
#include <thread>

#include "mpipe/kernels.hpp"
#include "mpipe/runtime.hpp"
#include "runtime/clock.hpp"
#include "runtime/mpi_info.hpp"
#include "runtime/util.hpp"

namespace mpipe {

linear_fit fit_line(const std::vector<double>& x, const std::vector<double>& y,
                    const std::vector<double>& w) {
  linear_fit f;
  f.points = static_cast<int>(x.size());
  double sw = 0, sx = 0, sy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sw += w[i];
    sx += w[i] * x[i];
    sy += w[i] * y[i];
  }
  if (x.size() < 2 || sw <= 0) {
    f.slope = std::nan("");
    f.intercept = x.empty() ? std::nan("") : sy / sw;
    f.r2 = std::nan("");
    return f;
  }
  const double mx = sx / sw, my = sy / sw;
  double sxx = 0, sxy = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += w[i] * (x[i] - mx) * (x[i] - mx);
    sxy += w[i] * (x[i] - mx) * (y[i] - my);
    syy += w[i] * (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0) {  // every x the same: no slope to find
    f.slope = std::nan("");
    f.intercept = my;
    f.r2 = std::nan("");
    return f;
  }
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  double ss_res = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - (f.intercept + f.slope * x[i]);
    ss_res += w[i] * r * r;
  }
  f.r2 = syy > 0 ? 1.0 - ss_res / syy : 1.0;
  return f;
}

std::vector<calibration_row> fit_bench(const std::vector<bench_row>& rows) {
  struct series {
    std::vector<double> x, y, w, sx, sy, sw, dx, dy, dw;
  };
  std::map<std::pair<std::string, std::string>, series> by;
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& r : rows) {
    const auto key = std::make_pair(r.tier, r.method);
    if (!by.count(key)) order.push_back(key);
    auto& s = by[key];
    const auto bytes = static_cast<double>(r.size_bytes);
    if (std::isfinite(r.latency_us) && r.latency_us > 0) {
      s.x.push_back(bytes);
      s.y.push_back(r.latency_us);
      s.w.push_back(1.0 / (r.latency_us * r.latency_us));
    }
    if (std::isfinite(r.serialize_us) && r.serialize_us > 0) {
      s.sx.push_back(bytes);
      s.sy.push_back(r.serialize_us);
      s.sw.push_back(1.0 / (r.serialize_us * r.serialize_us));
    }
    if (std::isfinite(r.deserialize_us) && r.deserialize_us > 0) {
      s.dx.push_back(bytes);
      s.dy.push_back(r.deserialize_us);
      s.dw.push_back(1.0 / (r.deserialize_us * r.deserialize_us));
    }
  }
  std::vector<calibration_row> out;
  for (const auto& key : order) {
    const auto& s = by[key];
    calibration_row c;
    c.tier = key.first;
    c.method = key.second;
    c.points = static_cast<int>(s.x.size());
    // Hockney's model, each parameter where it shows: a real curve is not one line (0.5 us up to
    // 256 B, protocol steps at 4 KiB, then bandwidth), and one weighted fit over all of it gave
    // alpha 0.21 us where 0 B measures 0.46. So alpha = the mean at the smallest size, beta =
    // the slope over sizes >= 4 KiB (all sizes if fewer than two are that big).
    double alpha = std::nan("");
    if (!s.x.empty()) {
      const double smallest = *std::min_element(s.x.begin(), s.x.end());
      double sum = 0;
      int n = 0;
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (s.x[i] == smallest) sum += s.y[i], ++n;
      alpha = sum / n;
    }
    std::vector<double> bx, bys, bw;
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (s.x[i] >= 4096) bx.push_back(s.x[i]), bys.push_back(s.y[i]), bw.push_back(1.0);
    if (bx.size() < 2) bx = s.x, bys = s.y, bw.assign(s.x.size(), 1.0);
    const linear_fit slope = fit_line(bx, bys, bw);
    c.alpha_us = alpha;
    c.ns_per_byte = slope.slope * 1e3;  // us per byte -> ns per byte
    c.bandwidth_mb_s = c.ns_per_byte > 0 ? 1e3 / c.ns_per_byte : std::nan("");
    // How well alpha + bytes x beta describes every size, relative error weighted as before.
    if (s.x.size() >= 2 && std::isfinite(c.ns_per_byte)) {
      double mean = 0, sw = 0;
      for (std::size_t i = 0; i < s.x.size(); ++i) mean += s.w[i] * s.y[i], sw += s.w[i];
      mean /= sw;
      double res = 0, tot = 0;
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        const double r = s.y[i] - (alpha + s.x[i] * slope.slope);
        res += s.w[i] * r * r;
        tot += s.w[i] * (s.y[i] - mean) * (s.y[i] - mean);
      }
      c.r2 = tot > 0 ? 1.0 - res / tot : 1.0;
    } else {
      c.r2 = std::nan("");
    }
    const auto cost = [](const std::vector<double>& x, const std::vector<double>& y,
                         const std::vector<double>& w, double& us, double& ns_per_byte) {
      if (x.empty()) {
        us = ns_per_byte = std::nan("");
        return;
      }
      const linear_fit f = fit_line(x, y, w);
      us = f.intercept;
      ns_per_byte = std::isnan(f.slope) ? 0.0 : f.slope * 1e3;
    };
    cost(s.sx, s.sy, s.sw, c.serialize_us, c.serialize_ns_per_byte);
    cost(s.dx, s.dy, s.dw, c.deserialize_us, c.deserialize_ns_per_byte);
    out.push_back(c);
  }
  return out;
}

std::vector<std::uint64_t> calibration_sizes() {
  return {0, 64, 1024, 4096, 16384, 65536, 262144, 1048576};
}

spread_value median_and_spread(std::vector<double> v) {
  spread_value s;
  if (v.empty()) return {std::nan(""), std::nan("")};
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.half_range = (v.back() - v.front()) / 2;
  return s;
}

compute_scaling_fit fit_compute_scaling(const std::vector<std::vector<double>>& speeds) {
  compute_scaling_fit f;
  std::vector<double> median(speeds.size(), std::nan(""));
  for (std::size_t k = 0; k < speeds.size(); ++k) {
    if (speeds[k].empty()) continue;
    const spread_value s = median_and_spread(speeds[k]);
    median[k] = s.median;
    if (s.median > 0) f.spread = std::max(f.spread, s.half_range / s.median);
  }
  if (median.empty() || !(median[0] > 0)) return {};
  // The ks not measured: a straight line between the measured ones on either side.
  std::size_t last = 0;
  for (std::size_t k = 1; k < median.size(); ++k) {
    if (std::isnan(median[k])) continue;
    for (std::size_t j = last + 1; j < k; ++j)
      median[j] = median[last] + (median[k] - median[last]) * static_cast<double>(j - last) /
                                     static_cast<double>(k - last);
    last = k;
  }
  median.resize(last + 1);
  for (const double m : median) f.scaling.push_back(m / median[0]);
  return f;
}

std::vector<int> scaling_core_counts(int cores) {
  std::vector<int> ks;
  for (int k = 1; k <= cores; ++k)
    if (k <= 8 || k == cores) {
      ks.push_back(k);
    } else {
      int p = 8;  // 12, 16, 24, 32, 48, ...: p and 1.5 p for each power of two p
      while (p * 2 <= k) p *= 2;
      if (k == p || k == p + p / 2) ks.push_back(k);
    }
  return ks;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

namespace {

// CPU time this thread has used, in ns: what the work cost the core, not the time the scheduler
// gave others (builds beside calibrate on a 2-core VM halved k = 2's wall-clock speed).
std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// k threads start together, each runs the compute kernel for work_ms on its own: the mean over
// them of work_ms / CPU ms, one busy core's speed with k busy.
double busy_core_speed(int k, double work_ms) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> speed(static_cast<std::size_t>(k), 0.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < k; ++t)
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const std::int64_t t0 = thread_cpu_ns();
      volatile double keep = run_kernel(kernel_kind::compute, work_ms, 1);
      (void)keep;
      const double cpu_ms = static_cast<double>(thread_cpu_ns() - t0) / 1e6;
      speed[static_cast<std::size_t>(t)] = work_ms / std::max(cpu_ms, 1e-6);
    });
  while (ready.load() < k) std::this_thread::yield();
  go.store(true);
  for (auto& th : threads) th.join();
  double sum = 0;
  for (const double s : speed) sum += s;
  return sum / k;
}

}  // namespace

std::vector<std::vector<double>> measure_compute_scaling(int max_cores, int repeats,
                                                         double work_ms) {
  calibrate_compute();
  const std::vector<int> ks = scaling_core_counts(std::max(1, max_cores));
  std::vector<std::vector<double>> speeds(static_cast<std::size_t>(ks.back()));
  // Rounds over every k rather than each k's repeats in a row: a burst of noise from elsewhere
  // then spreads over the ks instead of bending one of them.
  for (int r = 0; r < repeats; ++r)
    for (const int k : ks)
      speeds[static_cast<std::size_t>(k - 1)].push_back(busy_core_speed(k, work_ms));
  return speeds;
}

spread_value runtime_per_hop_us(const std::vector<double>& block_latency_us, double wire_us,
                                int hops) {
  std::vector<double> per_hop;
  for (const double l : block_latency_us)
    per_hop.push_back(std::max(0.0, (l - wire_us) / std::max(1, hops)));
  return median_and_spread(per_hop);
}

namespace {

// The runtime's own cost per hop: Main -> A -> Main, nothing to do, 64-byte items, one in
// flight, so an item's latency is two hops and what the runtime does around them.
constexpr int hop_items = 2000;
constexpr int hop_warmup = 100;  // the first items pay thread start-up and cold caches
constexpr int hop_blocks = 5;    // the rest in blocks, each block a repeat
constexpr int hop_count = 2;
constexpr std::uint64_t hop_bytes = 64;

// idle_ms: A's own work (a sleep), so that every hop finds its consumer's rank idle, as in a
// pipeline with work: a blocking wait then pays its wake-up on every hop.
constexpr double hop_idle_ms = 0.5;
constexpr int hop_idle_items = 600;

pipeline_spec hop_spec(double idle_ms = 0.0, int items = hop_items) {
  std::ostringstream a;
  a << idle_ms;
  std::string text = "name: calibrate-hop\nsource: Main\ninflight: 1\n";
  text += "items: " + std::to_string(items) + "\n";
  text += "defaults: {kernel: sleep, payload_bytes: " + std::to_string(hop_bytes) + "}\n";
  text += "stages:\n  - {name: Main, work_ms: 0}\n  - {name: A, work_ms: " + a.str() + "}\n";
  text += "edges:\n  - Main -> A\n  - A -> Main\n";
  return parse_spec(text, "<calibrate>");
}

// Rank 0: each block's mean item latency in us, the warm-up items left out.
std::vector<double> block_latencies_us(const run_record& rec) {
  std::vector<item_row> items = rec.items;
  std::sort(items.begin(), items.end(),
            [](const item_row& a, const item_row& b) { return a.item < b.item; });
  std::vector<double> blocks;
  if (items.size() <= static_cast<std::size_t>(hop_warmup)) return blocks;
  const std::size_t n = items.size() - hop_warmup, per = std::max<std::size_t>(1, n / hop_blocks);
  for (std::size_t b = 0; b + per <= n; b += per) {
    double sum = 0;
    for (std::size_t i = 0; i < per; ++i)
      sum += static_cast<double>(items[hop_warmup + b + i].latency_ns);
    blocks.push_back(sum / static_cast<double>(per) / 1e3);
  }
  return blocks;
}

std::vector<double> numbers_of(const std::string& list) {
  std::vector<double> v;
  std::istringstream in(list);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) v.push_back(std::stod(x));
  return v;
}

// Collective: the chain with A on rank `peer` (0: same-rank); rank 0 sets the run's raw numbers
// as attributes under `key` (same_rank, same_host, cross_host) for fit_runtime.
void measure_hops(const boost::mpi::communicator& comm, int peer, const std::string& key,
                  run_record& rec, wait_policy policy = wait_policy::automatic,
                  double idle_ms = 0.0) {
  run_options o;
  o.wait = policy;
  o.placement = "Main=0,A=" + std::to_string(peer);
  o.progress = false;
  o.command_line = "mpipe calibrate: runtime per hop";
  const run_result r =
      run_pipeline(comm, hop_spec(idle_ms, idle_ms > 0 ? hop_idle_items : hop_items), o);
  if (comm.rank() != 0) return;
  std::string blocks, wait;
  for (const double b : block_latencies_us(r.record))
    blocks += (blocks.empty() ? "" : ",") + std::to_string(b);
  if (const auto* w = r.record.get("wait"); w && std::holds_alternative<std::string>(*w))
    wait = std::get<std::string>(*w);
  // A's sleep is work, not the runtime's: taken out of every block here.
  if (idle_ms > 0) {
    std::string less;
    for (const double b : numbers_of(blocks))
      less += (less.empty() ? "" : ",") + std::to_string(b - idle_ms * 1e3);
    blocks = less;
  }
  rec.set("runtime_blocks_us_" + key, blocks);
  rec.set("runtime_wait_" + key, wait);
}

std::string attr_text(const run_record& rec, const std::string& key) {
  const auto* v = rec.get(key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : std::string();
}

// Rank 0, once the fits are in: per measured tier, what the wire gives for the chain's hops
// (the platform the fits make, as the model would price them) taken from each block's latency.
void fit_runtime(run_record& rec) {
  const platform wire = parse_platform(platform_yaml(rec, "wire"), "<calibration>");
  const std::pair<const char*, tier> tiers[] = {{"same_rank", tier::same_rank},
                                                {"same_host", tier::same_host},
                                                {"cross_host", tier::cross_host},
                                                {"same_host_block", tier::same_host},
                                                {"cross_host_block", tier::cross_host}};
  for (const auto& [key, t] : tiers) {
    const std::string blocks = attr_text(rec, std::string("runtime_blocks_us_") + key);
    if (blocks.empty()) continue;
    const std::vector<double> lat = numbers_of(blocks);
    const double wire_us =
        hop_count * wire.message_ms(t, serialization_kind::boost, hop_bytes) * 1e3;
    const spread_value s = runtime_per_hop_us(lat, wire_us, hop_count);
    if (std::isnan(s.median)) continue;
    rec.set(std::string("runtime_us_") + key, s.median);
    rec.set(std::string("runtime_us_") + key + "_spread", s.half_range);
    rec.set(std::string("runtime_latency_us_") + key, median_and_spread(lat).median);
    rec.set(std::string("runtime_wire_us_") + key, wire_us);
  }
  rec.set("runtime_items", static_cast<std::int64_t>(hop_items));
  rec.set("runtime_hops", static_cast<std::int64_t>(hop_count));
}

// Collective: rank 0's same-host and cross-host peers as bench_run chooses them (the first
// other rank on its host, the first on another host), -1 where there is none.
std::pair<int, int> peers(const boost::mpi::communicator& comm) {
  std::vector<std::string> hosts;
  boost::mpi::all_gather(comm, host_name(), hosts);
  return bench_peers(hosts);
}

// Rank 0 measures while the others sleep in a barrier: their cores must not be busy.
void measure_scaling(const boost::mpi::communicator& comm, run_record& rec) {
  if (comm.rank() == 0) {
    const int cores = usable_cpus();
    const auto fit = fit_compute_scaling(measure_compute_scaling(cores, 5, 30.0));
    std::string list;
    for (const double v : fit.scaling) {
      char buf[32];  // within what a platform file accepts, (0, 2], whatever the noise
      std::snprintf(buf, sizeof buf, "%.4f", std::clamp(v, 1e-4, 2.0));
      list += (list.empty() ? "" : ",") + std::string(buf);
    }
    rec.set("compute_scaling", list);
    rec.set("compute_scaling_spread", fit.spread);
    rec.set("compute_scaling_cores", static_cast<std::int64_t>(cores));
    rec.set("compute_scaling_host_cpus",
            static_cast<std::int64_t>(std::thread::hardware_concurrency()));
  }
  polite_barrier(comm);
}

}  // namespace

run_record calibration_run(const boost::mpi::communicator& comm, bench_options options) {
  if (options.sizes.empty()) options.sizes = calibration_sizes();
  const double rate = calibrate_compute();  // before the bench: a quiet core
  run_record rec = bench_run(comm, options);
  const std::int64_t t0 = now_ns();
  const auto [same_host, cross_host] = peers(comm);
  measure_hops(comm, 0, "same_rank", rec);
  if (same_host > 0) measure_hops(comm, same_host, "same_host", rec);
  if (cross_host > 0) measure_hops(comm, cross_host, "cross_host", rec);
  // The same hops with the ranks waiting blocking, as `--wait auto` has them when a host has
  // more busy threads than cores and a stage there computes: the simulator takes these for such
  // runs (runtime_block_us).
  if (same_host > 0)
    measure_hops(comm, same_host, "same_host_block", rec, wait_policy::block, hop_idle_ms);
  if (cross_host > 0)
    measure_hops(comm, cross_host, "cross_host_block", rec, wait_policy::block, hop_idle_ms);
  // Last: run before the bench (rank 1 asleep in a barrier meanwhile), it made the same-host
  // ping-pong that followed take 4 ms per message (the scheduler's tick) instead of 0.4 us, on
  // every try on the 2-core VM under load. Nothing timed follows it here.
  const std::int64_t t1 = now_ns();
  measure_scaling(comm, rec);
  if (comm.rank() != 0) return rec;
  // What the two add to calibrate's time, for keeping it short (CI runs it).
  rec.set("runtime_s", static_cast<double>(t1 - t0) / 1e9);
  rec.set("compute_scaling_s", static_cast<double>(now_ns() - t1) / 1e9);
  rec.set("kind", std::string("calibration"));
  rec.set("compute_iterations_per_ms", rate);
  rec.calibration = fit_bench(rec.bench);
  fit_runtime(rec);
  return rec;
}

namespace {

double number_attr(const run_record& rec, const std::string& key) {
  const auto* v = rec.get(key);
  return v && std::holds_alternative<double>(*v) ? std::get<double>(*v) : std::nan("");
}

// One tier's line of the runtime table (and a warning line when its wire cannot be right).
void print_runtime_tier(std::ostream& out, const run_record& rec, const char* tier_name) {
  std::string key = tier_name;
  std::replace(key.begin(), key.end(), '-', '_');
  const double us = number_attr(rec, "runtime_us_" + key);
  char line[256];
  if (std::isnan(us)) {
    std::snprintf(line, sizeof line, "  %-10s  not measured (no such rank pair in this job)\n",
                  tier_name);
    out << line;
    return;
  }
  const double item = number_attr(rec, "runtime_latency_us_" + key);
  const double wire = number_attr(rec, "runtime_wire_us_" + key);
  std::snprintf(line, sizeof line,
                "  %-10s  item %8.2f us = wire %7.2f us + %d x %7.2f us (+- %.2f), wait %s\n",
                tier_name, item, wire, hop_count, us,
                number_attr(rec, "runtime_us_" + key + "_spread"),
                attr_text(rec, "runtime_wait_" + key).c_str());
  out << line;
  // A fitted wire far above the whole item (a bench ping-pong at the scheduler's 4 ms tick on
  // shared cores): the tier's alpha is what is wrong, and runtime_us = 0 says nothing.
  if (wire > 2 * item)
    out << "              <- the fitted wire is over twice the whole item: this tier's alpha is "
           "suspect; check its bench rows or rerun on a quieter machine\n";
}

}  // namespace

void print_runtime_calibration(std::ostream& out, const run_record& calibration) {
  if (!std::isnan(number_attr(calibration, "runtime_us_same_rank"))) {
    out << "Runtime per hop beyond the wire (Main -> A -> Main, 0 ms stages, " << hop_bytes
        << " B items, " << hop_items << " items, 1 in flight; median of " << hop_blocks
        << " blocks +- half their range):\n";
    for (const char* t : {"same-rank", "same-host", "cross-host"})
      print_runtime_tier(out, calibration, t);
    for (const char* t : {"same-host-block", "cross-host-block"})
      if (!std::isnan(number_attr(
              calibration,
              std::string("runtime_us_") + (t[0] == 's' ? "same_host" : "cross_host") + "_block")))
        print_runtime_tier(out, calibration, t);
  }
  const std::string scaling = attr_text(calibration, "compute_scaling");
  if (scaling.empty()) return;
  const auto whole = [&](const char* key) {
    const auto* v = calibration.get(key);
    return v && std::holds_alternative<std::int64_t>(*v) ? std::get<std::int64_t>(*v) : 0;
  };
  const std::int64_t cores = whole("compute_scaling_cores"),
                     cpus = whole("compute_scaling_host_cpus");
  char line[64];
  std::snprintf(line, sizeof line, "%.1f",
                number_attr(calibration, "compute_scaling_spread") * 100);
  out << "Compute kernel: one busy core's speed with k of rank 0's " << cores
      << " usable cores busy, relative to k = 1 (5 repeats of 30 ms; +- " << line << " %):\n ";
  int k = 1;
  for (const double v : numbers_of(scaling)) {
    std::snprintf(line, sizeof line, " k=%d %.3f", k++, v);
    out << line;
  }
  out << "\n";
  if (cores < cpus)
    out << "  (rank 0 may use " << cores << " of its host's " << cpus
        << " CPUs, so the list stops at k = " << cores
        << "; for all of them run with mpirun --bind-to none)\n";
}

std::string r2_note(double r2) {
  if (!(r2 < 0.0)) return "";  // NaN (one size) or a line at least as good as a constant
  return "r2 < 0: the line fits worse than a constant (the sizes' mean time): a noisy tier, or "
         "steps one line cannot follow; check its bench rows";
}

std::string calibration_explanation() {
  return "Fits per tier and method: one-way time = alpha + bytes x ns/byte\n"
         "  alpha = the mean latency at the smallest size; ns/byte = the least-squares slope "
         "over sizes >= 4 KiB (all sizes if fewer than two are)\n"
         "  r2 = how well that line fits every size, each size's error relative to its time "
         "(weights 1/time^2): 1 exact, 0 no better than a constant, below 0 worse\n"
         "  ser/deser = encode/decode per message and per byte: least squares over every size, "
         "weights 1/time^2\n";
}

void print_calibration(std::ostream& out, const std::vector<calibration_row>& rows) {
  const auto num = [](double v, const char* f) {
    if (std::isnan(v)) return std::string("-");
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return std::string(buf);
  };
  char line[256];
  std::snprintf(line, sizeof line,
                "  %-10s  %-9s  %6s  %9s  %11s  %10s  %6s  %8s  %10s  %8s  %10s\n", "tier",
                "method", "points", "alpha us", "ns/byte", "MB/s", "r2", "ser us", "ser ns/B",
                "deser us", "deser ns/B");
  out << line;
  for (const auto& r : rows) {
    std::snprintf(
        line, sizeof line, "  %-10s  %-9s  %6d  %9s  %11s  %10s  %6s  %8s  %10s  %8s  %10s",
        r.tier.c_str(), r.method.c_str(), r.points, num(r.alpha_us, "%.3f").c_str(),
        num(r.ns_per_byte, "%.5f").c_str(), num(r.bandwidth_mb_s, "%.0f").c_str(),
        num(r.r2, "%.3f").c_str(), num(r.serialize_us, "%.2f").c_str(),
        num(r.serialize_ns_per_byte, "%.4f").c_str(), num(r.deserialize_us, "%.2f").c_str(),
        num(r.deserialize_ns_per_byte, "%.4f").c_str());
    out << line;
    if (const std::string note = r2_note(r.r2); !note.empty()) out << "  <- " << note;
    out << '\n';
  }
}

std::string platform_yaml(const run_record& calibration, const std::string& name) {
  const auto find = [&](const std::string& tier, const std::string& method) {
    for (const auto& r : calibration.calibration)
      if (r.tier == tier && r.method == method) return &r;
    return static_cast<const calibration_row*>(nullptr);
  };
  const auto attr = [&](const char* key) {
    const auto* v = calibration.get(key);
    return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : std::string();
  };
  // Non-negative numbers only: a fit can dip below 0 from noise, and the platform rejects that.
  const auto num = [](double v) {
    std::ostringstream o;
    o.precision(6);
    o << (std::isfinite(v) && v > 0 ? v : 0.0);
    return o.str();
  };
  // ", runtime_us: R, runtime_us_spread: S" where the run measured tier's runtime cost, else "".
  const auto runtime = [&](std::string tier) {
    std::replace(tier.begin(), tier.end(), '-', '_');
    const auto* v = calibration.get("runtime_us_" + tier);
    const auto* sp = calibration.get("runtime_us_" + tier + "_spread");
    if (v == nullptr || !std::holds_alternative<double>(*v)) return std::string();
    std::string out = ", runtime_us: " + num(std::get<double>(*v));
    if (sp != nullptr && std::holds_alternative<double>(*sp))
      out += ", runtime_us_spread: " + num(std::get<double>(*sp));
    if (const auto* b = calibration.get("runtime_us_" + tier + "_block");
        b != nullptr && std::holds_alternative<double>(*b))
      out += ", runtime_block_us: " + num(std::get<double>(*b));
    return out;
  };
  std::ostringstream y;
  y << "# Written by `mpipe calibrate` from run " << calibration.run_id << " (" << attr("utc_start")
    << ", hosts " << attr("hosts") << ", " << attr("transport") << ").\n"
    << "# Wire per tier: the raw-mpi fit (alpha + bytes x ns_per_byte); encode/decode per\n"
    << "# serialization: its own fits; runtime_us: the runtime's own cost per hop beyond the\n"
    << "# wire (a zero-work chain through mpipe's runtime); compute_scaling: one busy core's "
       "speed\n"
    << "# with 1, 2, ... cores busy. Edit freely to ask what-if questions.\n";
  y << "name: " << name << "\n";
  y << "description: measured by mpipe calibrate on " << attr("hosts") << "\n";
  y << "tiers:\n";
  if (const auto* m = find("same-rank", "in-memory"))
    y << "  same-rank: {alpha_us: " << num(m->alpha_us) << runtime("same-rank") << "}\n";
  const calibration_row* host = find("same-host", "raw-mpi");
  const calibration_row* cross = find("cross-host", "raw-mpi");
  // A tier the job could not measure gets the other's numbers, marked stand_in, so predict,
  // run and advise can warn when a placement leans on them.
  const auto wire = [&](const char* tier, const calibration_row* r, const calibration_row* alt,
                        const char* alt_name) {
    if (r == nullptr && alt == nullptr) return;
    std::string mark;
    if (r == nullptr) {
      y << "  # " << tier << ": not measured in this job; " << alt_name << "'s numbers stand in\n";
      r = alt;
      mark = std::string(", stand_in: ") + alt_name;
    }
    y << "  " << tier << ": {alpha_us: " << num(r->alpha_us)
      << ", ns_per_byte: " << num(r->ns_per_byte) << runtime(r->tier) << mark << "}\n";
  };
  wire("same-host", host, cross, "cross-host");
  wire("cross-host", cross, host, "same-host");
  if (host == nullptr && cross == nullptr) {
    y << "  # no MPI tier measured (one rank): run calibrate on 2 or more ranks\n"
      << "  same-host: {alpha_us: 0, stand_in: nothing measured}\n"
      << "  cross-host: {alpha_us: 0, stand_in: nothing measured}\n";
  }
  y << "serialization:\n";
  for (const char* method : {"boost", "datatype", "raw"}) {
    const calibration_row* r = cross ? find("cross-host", method) : nullptr;
    if (r == nullptr) r = find("same-host", method);
    if (r == nullptr) continue;
    y << "  " << method << ": {serialize_us: " << num(r->serialize_us)
      << ", serialize_ns_per_byte: " << num(r->serialize_ns_per_byte)
      << ", deserialize_us: " << num(r->deserialize_us)
      << ", deserialize_ns_per_byte: " << num(r->deserialize_ns_per_byte) << "}\n";
  }
  if (const auto* v = calibration.get("compute_iterations_per_ms"))
    if (const auto* d = std::get_if<double>(v)) y << "compute_rate: " << num(*d) << "\n";
  if (const std::string list = attr("compute_scaling"); !list.empty()) {
    y << "compute_scaling: [";
    std::istringstream in(list);
    std::string v, sep;
    while (std::getline(in, v, ',')) y << sep << v, sep = ", ";
    y << "]\n";
    if (const auto* v2 = calibration.get("compute_scaling_spread"))
      if (const auto* d = std::get_if<double>(v2))
        y << "compute_scaling_spread: " << num(std::min(*d, 1.0)) << "\n";
  }
  return y.str();
}

}  // namespace mpipe
