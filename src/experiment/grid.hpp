// Sweep grid files (jobs/sweeps/*.yaml, `mpipe sweep --grid`), read without MPI so that the
// fuzzer and the unit tests reach them: settings and grid dimensions exactly as the file gives
// them. The CLI (src/cli/sweep.cpp) lays the command line over them, and them over the defaults.
// Internal to mpipe, not installed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mpipe {

struct grid_file {
  std::string dir;  // relative paths inside are relative to the file
  std::optional<std::string> spec, scenario, kernel, wait, objective;
  std::optional<std::uint64_t> items, inflight, seed;
  std::optional<int> repeat, warmup, cores_per_rank, max_repeat;
  std::optional<bool> serial_stages;
  std::optional<double> time_scale, target_ci;
  // The dimensions the file gives (named in `given`; the others are left empty), as
  // sweep_grid holds them: "" for none / spec, -1 payload bytes for the spec's own.
  std::vector<std::string> transport;
  std::vector<double> work_scale;
  std::vector<std::int64_t> payload_bytes;
  std::vector<std::string> placement, serialization, emulate_link, replicas;
  std::vector<int> threads;
  std::map<std::string, std::vector<std::string>> origin;  // dimension -> "file:line" per value
  std::set<std::string> given;
  std::map<double, double> reference;  // reference_slower_pct: work_scale -> percent
};

// Throws spec_error (file, line, field) for anything wrong, worded as a spec's (spec/yaml.hpp).
grid_file parse_grid_file(const std::string& text, const std::string& file);

// "64", "64K", "1M", "spec" (or "") -> bytes, -1 for the spec's own. where names the origin
// ("file:line", "<command line>") in the error.
std::int64_t parse_bytes(const std::string& text, const std::string& where);

}  // namespace mpipe
