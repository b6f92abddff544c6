// Sweep grid files -> grid_file, through the reader every mpipe YAML file goes through
// (yaml.hpp), so a grid's mistakes are worded as a spec's: file, line, field, and what was
// expected against what was found.
#include "grid.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <utility>

#include "mpipe/error.hpp"
#include "spec/yaml.hpp"

namespace mpipe {

namespace {

using yaml_in::present;

const std::vector<std::string> top_keys = {"spec",
                                           "scenario",
                                           "items",
                                           "inflight",
                                           "repeat",
                                           "warmup",
                                           "seed",
                                           "kernel",
                                           "wait",
                                           "time_scale",
                                           "cores_per_rank",
                                           "serial_stages",
                                           "target_ci",
                                           "max_repeat",
                                           "objective",
                                           "grid",
                                           "reference_slower_pct"};
const std::vector<std::string> grid_keys = {"work_scale",    "payload_bytes", "placement",
                                            "serialization", "emulate_link",  "replicas",
                                            "threads",       "transport"};

class grid_reader {
 public:
  grid_reader(const std::string& text, const std::string& file) : text_(text), in_(file) {}

  grid_file run() {
    const YAML::Node root = in_.load_map(
        text_, "the grid file is empty; give sweep settings or 'grid: {dimension: [values]}'",
        top_keys);
    in_.check_keys(root, "", top_keys);
    grid_file g;
    g.dir = std::filesystem::path(in_.file()).parent_path().string();
    settings(root, g);
    if (const YAML::Node n = root["reference_slower_pct"]; present(n)) reference(n, g);
    if (const YAML::Node n = root["grid"]; present(n)) {
      in_.map(n, "grid", "a map of dimension: [values]");
      in_.check_keys(n, "grid", grid_keys, "dimension");
      for (const auto& d : n) dimension(d.first.Scalar(), d.second, g);
    }
    if (g.spec && g.scenario) {
      throw spec_error(in_.file(), 0, "spec", "give spec or scenario, not both");
    }
    return g;
  }

 private:
  const std::string& text_;
  const yaml_in::reader in_;

  // The scalar settings; null or absent ones stay unset.
  void settings(const YAML::Node& root, grid_file& g) const {
    text(root, "spec", g.spec);
    text(root, "scenario", g.scenario);
    text(root, "kernel", g.kernel);
    text(root, "wait", g.wait);
    text(root, "objective", g.objective);
    whole(root, "items", g.items, 1, 1e7);
    whole(root, "inflight", g.inflight, 1, 1e6);
    whole(root, "seed", g.seed, 0, 9e15);
    whole(root, "repeat", g.repeat, 1, 10000);
    whole(root, "warmup", g.warmup, 0, 10000);
    whole(root, "max_repeat", g.max_repeat, 1, 10000);
    whole(root, "cores_per_rank", g.cores_per_rank, 0, 4096);
    if (const YAML::Node n = root["time_scale"]; present(n)) {
      g.time_scale = in_.number(n, "time_scale");
    }
    if (const YAML::Node n = root["target_ci"]; present(n)) {
      g.target_ci = in_.number(n, "target_ci");
    }
    if (const YAML::Node n = root["serial_stages"]; present(n)) {
      g.serial_stages = in_.boolean(n, "serial_stages");
    }
  }

  void text(const YAML::Node& root, const char* key, std::optional<std::string>& into) const {
    if (const YAML::Node n = root[key]; present(n)) into = in_.string(n, key);
  }

  template <typename T>
  void whole(const YAML::Node& root, const char* key, std::optional<T>& into, double low,
             double high) const {
    if (const YAML::Node n = root[key]; present(n)) {
      into = static_cast<T>(in_.integer(n, key, low, high));
    }
  }

  void reference(const YAML::Node& n, grid_file& g) const {
    const std::string key = "reference_slower_pct";
    in_.map(n, key, "a map of work_scale: percent");
    for (const auto& r : n) {
      const double scale = in_.number(r.first, key + " key");
      g.reference[scale] = in_.number(r.second, key + "." + r.first.Scalar());
    }
  }

  // One dimension: a value or a list of them, replacing the default.
  void dimension(const std::string& dim, const YAML::Node& node, grid_file& g) const {
    const std::string field = "grid." + dim;
    std::vector<YAML::Node> values;
    if (node.IsSequence()) {
      in_.list(node, field, "a list of values", "give at least one value");
      for (const auto& x : node) values.push_back(x);
    } else if (node.IsMap()) {
      in_.fail(node, field, "expected a value or a list of values, got a map");
    } else {
      values.push_back(node);
    }
    auto& origin = g.origin[dim];
    g.given.insert(dim);
    for (const auto& x : values) {
      const std::string where = in_.file() + ":" + std::to_string(yaml_in::line_of(x));
      origin.push_back(where);
      const std::string s = x.IsNull() ? "" : in_.string(x, field, "a value");
      const std::string none = s == "none" || s == "spec" ? "" : s;
      if (dim == "work_scale") g.work_scale.push_back(in_.number(x, field));
      if (dim == "payload_bytes") g.payload_bytes.push_back(parse_bytes(s, where));
      if (dim == "placement") g.placement.push_back(none);
      if (dim == "serialization") g.serialization.push_back(none);
      if (dim == "emulate_link") g.emulate_link.push_back(none);
      if (dim == "replicas") g.replicas.push_back(none);
      if (dim == "threads") {
        g.threads.push_back(none.empty() ? 0 : static_cast<int>(in_.integer(x, field, 1, 1024)));
      }
      if (dim == "transport") g.transport.push_back(s);
    }
  }
};

}  // namespace

grid_file parse_grid_file(const std::string& text, const std::string& file) {
  try {
    return grid_reader(text, file).run();
  } catch (const YAML::Exception& e) {
    yaml_in::reader(file).rethrow(e);  // a safety net, as in parse_spec
  }
}

std::int64_t parse_bytes(const std::string& text, const std::string& where) {
  if (text == "spec" || text.empty()) return -1;
  std::int64_t unit = 1;
  std::string num = text;
  if (!num.empty() && (num.back() == 'K' || num.back() == 'M')) {
    unit = num.back() == 'K' ? 1024 : 1024 * 1024;
    num.pop_back();
  }
  char* end = nullptr;
  const long long v = std::strtoll(num.c_str(), &end, 10);
  if (num.empty() || *end != '\0' || v < 0)
    throw spec_error(where, 0, "payload_bytes",
                     "expected bytes like 64, 64K or 1M, got " + yaml_in::quoted(text));
  // Far beyond any payload limit, but it must not overflow on the way there.
  if (v > std::numeric_limits<std::int64_t>::max() / unit)
    throw spec_error(where, 0, "payload_bytes", yaml_in::quoted(text) + " bytes is too large");
  return v * unit;
}

}  // namespace mpipe
