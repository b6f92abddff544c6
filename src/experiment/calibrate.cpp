#include "mpipe/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <sstream>

#include "mpipe/kernels.hpp"

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

run_record calibration_run(const boost::mpi::communicator& comm, bench_options options) {
  if (options.sizes.empty()) options.sizes = calibration_sizes();
  const double rate = calibrate_compute();  // before the bench: a quiet core
  run_record rec = bench_run(comm, options);
  if (comm.rank() != 0) return rec;
  rec.set("kind", std::string("calibration"));
  rec.set("compute_iterations_per_ms", rate);
  rec.calibration = fit_bench(rec.bench);
  return rec;
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
  std::ostringstream y;
  y << "# Written by `mpipe calibrate` from run " << calibration.run_id << " (" << attr("utc_start")
    << ", hosts " << attr("hosts") << ", " << attr("transport") << ").\n"
    << "# Wire per tier: the raw-mpi fit (alpha + bytes x ns_per_byte); encode/decode per\n"
    << "# serialization: its own fits. Edit freely to ask what-if questions.\n";
  y << "name: " << name << "\n";
  y << "description: measured by mpipe calibrate on " << attr("hosts") << "\n";
  y << "tiers:\n";
  if (const auto* m = find("same-rank", "in-memory"))
    y << "  same-rank: {alpha_us: " << num(m->alpha_us) << "}\n";
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
      << ", ns_per_byte: " << num(r->ns_per_byte) << mark << "}\n";
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
  return y.str();
}

}  // namespace mpipe
