// libFuzzer target over everything in mpipe that reads user text without MPI: a spec (YAML) goes
// through parse_spec, the graph, resolve_placement, apply_replicas and the model (throughput
// bound, predicted latency, Amdahl, one placement evaluation) as `mpipe validate` / `predict` /
// `run` use them; text that is no spec is tried as a platform file (parse_platform) and, if it
// is one, predicts the built-in seed pipeline on it. Every input is also read as a sweep grid
// file (parse_grid_file, what `mpipe sweep --grid` reads before any MPI work).
//
// Command-line options ride along as YAML comments at the top of an input, so one input format
// covers them and corpus files stay plain specs (bad_specs.sh and `mpipe run --spec` read them
// unchanged):
//   # fuzz-placement: A=1,C3#1=2     (--placement; also tried: "", pack, spread)
//   # fuzz-replicas: C3=4            (--replicas)
//   # fuzz-ranks: 3                  (world size, clamped to 1..64)
//   # fuzz-payload-bytes: 64K        (sweep --payload-bytes, one value)
//
// The contract: any input either works or throws an mpipe::error subclass (spec_error, ...).
// Anything else escaping -- std::out_of_range from yaml-cpp or std::stoi, YAML::Exception, an
// abort, an ASan/UBSan report, a timeout -- is a bug: libFuzzer reports the uncaught exception
// as a crash and saves the input.
//
// Built twice: with clang and -fsanitize=fuzzer (MPIPE_FUZZ=ON, scripts/fuzz.sh), and in every
// build with replay_main.cpp, which runs the seed corpus and tests/fuzz/regressions/ through the
// same function as a plain CTest test (fuzz.replay).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "experiment/grid.hpp"
#include "mpipe/advise.hpp"
#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/spec.hpp"

namespace {

// The value of a "# fuzz-KEY: VALUE" line among the leading comment lines, or "".
std::string header(std::string_view text, std::string_view key) {
  const std::string tag = "# fuzz-" + std::string(key) + ":";
  while (!text.empty() && text.front() == '#') {
    const auto eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    if (line.substr(0, tag.size()) == tag) {
      std::string_view value = line.substr(tag.size());
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == '\r' || value.back() == ' '))
        value.remove_suffix(1);
      return std::string(value);
    }
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  return {};
}

int ranks_from(const std::string& text) {
  int ranks = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') break;
    ranks = ranks * 10 + (c - '0');
    if (ranks > 64) return 64;  // the model is linear in ranks; 64 covers multi-host layouts
  }
  return ranks < 1 ? 1 : ranks;
}

const mpipe::platform& builtin_platform() {
  static const mpipe::platform plat = mpipe::parse_platform(
      "name: fuzz\n"
      "tiers:\n"
      "  same-rank: {alpha_us: 2}\n"
      "  same-host: {alpha_us: 0.5, bandwidth_mb_s: 12000}\n"
      "  cross-host: {alpha_us: 11, ns_per_byte: 0.8}\n"
      "serialization:\n"
      "  boost: {serialize_us: 1, serialize_ns_per_byte: 0.3, deserialize_us: 0.5}\n",
      "<fuzz platform>");
  return plat;
}

// What the CLI does with a parsed spec, under one placement setting and world size.
void model(const mpipe::pipeline_spec& spec, const std::string& setting, int ranks,
           const mpipe::platform& plat) {
  // `mpipe predict` without --ranks first places on a million ranks to find the highest used.
  (void)mpipe::resolve_placement(spec, setting, 1'000'000);
  const auto where = mpipe::resolve_placement(spec, setting, ranks);
  (void)where.to_string(spec);
  for (int r = 0; r < ranks; ++r) (void)where.instances_on(r);
  const int hosts = ranks >= 2 ? 2 : 1;
  const auto host_names = mpipe::block_hosts(ranks, hosts);
  const std::vector<int> cores(static_cast<std::size_t>(ranks), 2);
  (void)mpipe::compute_throughput_bound(spec, where, host_names, cores);
  (void)mpipe::predict_latency(spec, where, plat, host_names);
  mpipe::emulated_link emu;
  emu.latency_ms = 5;
  emu.bandwidth_bytes_per_s = 1.25e8;
  (void)mpipe::predict_latency(spec, where, plat, host_names, emu);
  const auto am = mpipe::pipeline_amdahl(spec, plat, emu);
  (void)mpipe::amdahl_table(am, {1, 2, 4, 8, 16, 32});
  (void)mpipe::evaluate_placement(spec, where, plat, host_names, cores, mpipe::objective::latency,
                                  emu);
}

// What `mpipe sweep` reads without MPI: the grid file and a --payload-bytes value.
void grid(const std::string& text) {
  try {
    const mpipe::grid_file g = mpipe::parse_grid_file(text, "<fuzz>/grid.yaml");
    (void)g.given.size();
  } catch (const mpipe::error&) {
  }
  if (const auto bytes = header(text, "payload-bytes"); !bytes.empty()) {
    try {
      (void)mpipe::parse_bytes(bytes, "<command line>");
    } catch (const mpipe::error&) {
    }
  }
}

void one_input(const std::string& text) {
  grid(text);
  mpipe::pipeline_spec spec;
  try {
    spec = mpipe::parse_spec(text, "<fuzz>");
  } catch (const mpipe::error&) {
    // Not a spec: perhaps a platform file. Predict the seed pipeline on it if it is one.
    try {
      const auto plat = mpipe::parse_platform(text, "<fuzz>");
      model(mpipe::seed_spec(), "spread", 4, plat);
    } catch (const mpipe::error&) {
    }
    return;
  }
  try {
    const mpipe::graph g(spec);
    (void)g.critical_path_ms();
    if (const auto replicas = header(text, "replicas"); !replicas.empty()) {
      mpipe::apply_replicas(spec, replicas);
      (void)mpipe::graph(spec);
    }
  } catch (const mpipe::error&) {
    return;
  }
  const int ranks = ranks_from(header(text, "ranks"));
  const std::string given = header(text, "placement");
  try {
    (void)mpipe::parse_placement_map(given);
  } catch (const mpipe::error&) {
  }
  for (const std::string& setting :
       {given, std::string(), std::string("pack"), std::string("spread")}) {
    try {
      model(spec, setting, ranks, builtin_platform());
    } catch (const mpipe::error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  one_input(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
