// Platform files -> platform. Like spec.cpp, and through the same reader (spec/yaml.hpp): every
// mistake a hand-written file can hold is an error naming file, line and field, worded as a
// spec's, found before any prediction is printed.
#include "mpipe/platform.hpp"

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "../spec/yaml.hpp"  // mpipe_spec's internal reader; src/ is not on this target's path
#include "mpipe/error.hpp"

namespace mpipe {

const char* to_string(tier t) {
  switch (t) {
    case tier::same_rank:
      return "same-rank";
    case tier::same_host:
      return "same-host";
    case tier::cross_host:
      return "cross-host";
  }
  return "?";
}

double link_cost::ms(std::uint64_t bytes) const {
  return alpha_us * 1e-3 + static_cast<double>(bytes) * ns_per_byte * 1e-6;
}

std::string stand_in_text(const platform& p, tier t) {
  const std::string& what = p.link(t).stand_in;
  if (what.empty()) return "";
  for (const tier other : {tier::same_rank, tier::same_host, tier::cross_host})
    if (what == to_string(other)) return what + "'s numbers stand in";
  return "stand-in: " + what;
}

double serialization_cost::ms(std::uint64_t bytes) const {
  const double b = static_cast<double>(bytes);
  return (serialize_us + deserialize_us) * 1e-3 +
         (serialize_ns_per_byte + deserialize_ns_per_byte) * b * 1e-6;
}

double platform::message_ms(tier t, serialization_kind s, std::uint64_t bytes) const {
  const double wire = link(t).ms(bytes);
  return t == tier::same_rank ? wire : wire + codec(s).ms(bytes);
}

namespace {

const std::vector<std::string> top_keys = {"name",
                                           "description",
                                           "tiers",
                                           "serialization",
                                           "compute_rate",
                                           "compute_scaling",
                                           "compute_scaling_spread"};
const std::vector<std::string> tier_names = {"same-rank", "same-host", "cross-host"};
const std::vector<std::string> link_keys = {"alpha_us",   "bandwidth_mb_s",    "ns_per_byte",
                                            "runtime_us", "runtime_us_spread", "runtime_block_us",
                                            "stand_in"};
const std::vector<std::string> codec_names = {"boost", "datatype", "raw"};
const std::vector<std::string> codec_keys = {"serialize_us", "serialize_ns_per_byte",
                                             "deserialize_us", "deserialize_ns_per_byte"};

// Generous limits: they catch a stray digit or a unit mix-up (5 ms written as 5e9), not a slow
// network. 1e8 us is 100 s per message; 1e6 ns per byte is 1 kB/s.
constexpr double max_us = 1e8;
constexpr double max_ns_per_byte = 1e6;
constexpr double max_mb_s = 1e9;  // 1 PB/s
// The runtime's own cost per hop: thread hand-offs and wake-ups are us to ms (an oversubscribed
// host's scheduler tick is ~4 ms); 1 s per hop is a slip, not a slow machine.
constexpr double max_runtime_us = 1e6;
// One busy core's speed with k cores busy, relative to one alone: below 1 when SMT siblings or
// shared caches slow it, a little above from turbo noise; 2 would be a unit slip.
constexpr double max_scaling = 2.0;

using yaml_in::join;
using yaml_in::present;

class parser {
 public:
  parser(const std::string& text, const std::string& file) : text_(text), in_(file) {}

  platform run() {
    const YAML::Node root =
        in_.load_map(text_, "the platform file is empty; it needs at least 'tiers'", top_keys);
    in_.check_keys(root, "", top_keys);

    platform p;
    p.file = in_.file();
    if (const auto n = root["name"]; present(n)) p.name = in_.string(n, "name");
    if (const auto n = root["description"]; present(n)) {
      p.description = in_.string(n, "description");
    }
    if (const auto n = root["compute_rate"]; present(n)) {
      p.compute_rate = number(n, "compute_rate", 1e15);
      if (*p.compute_rate <= 0.0) in_.fail(n, "compute_rate", "must be > 0 (iterations per ms)");
    }
    scaling(root, p);

    const YAML::Node tiers = root["tiers"];
    if (!present(tiers))
      throw spec_error(in_.file(), 0, "tiers",
                       "missing: give same-host and cross-host (alpha_us and bandwidth_mb_s or "
                       "ns_per_byte each), same-rank optionally");
    in_.map(tiers, "tiers", "a map of " + join(tier_names));
    in_.check_keys(tiers, "tiers", tier_names);
    for (std::size_t t = 0; t < tier_names.size(); ++t) {
      const YAML::Node n = tiers[tier_names[t]];
      if (!present(n)) {
        if (t == 0) continue;  // same-rank: free unless given
        in_.fail(tiers, "tiers." + tier_names[t],
                 "missing: every platform needs same-host and cross-host (write the same numbers "
                 "twice where a network makes no difference between them)");
      }
      p.tiers[t] = link(n, "tiers." + tier_names[t]);
    }

    if (const YAML::Node ser = root["serialization"]; present(ser)) {
      in_.map(ser, "serialization", "a map of " + join(codec_names));
      in_.check_keys(ser, "serialization", codec_names);
      for (std::size_t s = 0; s < codec_names.size(); ++s) {
        const YAML::Node n = ser[codec_names[s]];
        if (present(n)) p.serialization[s] = codec(n, "serialization." + codec_names[s]);
      }
    }
    return p;
  }

 private:
  const std::string& text_;
  const yaml_in::reader in_;

  // Every number here is a measured cost: none is negative, and a unit written after it is the
  // likeliest slip.
  double number(const YAML::Node& n, const std::string& field, double high) const {
    return in_.number(n, field, 0.0, high, "", "no units: the unit is in the key's name");
  }

  // compute_scaling: [1.0, 0.93, ...], one busy core's speed with 1, 2, ... cores busy.
  void scaling(const YAML::Node& root, platform& p) const {
    if (const YAML::Node n = root["compute_scaling"]; present(n)) {
      in_.list(n, "compute_scaling",
               "a list of speeds, one per number of busy cores (e.g. [1.0, 0.93])",
               "give one speed per number of busy cores (e.g. [1.0, 0.93]), or leave it out");
      for (std::size_t i = 0; i < n.size(); ++i) {
        const std::string field = "compute_scaling[" + std::to_string(i) + "]";
        const double v = in_.number(n[i], field, 0.0, max_scaling, "",
                                    "a speed relative to one core alone, e.g. 0.93");
        if (v <= 0.0) in_.fail(n[i], field, "must be > 0 (a speed relative to one core alone)");
        p.compute_scaling.push_back(v);
      }
    }
    if (const YAML::Node n = root["compute_scaling_spread"]; present(n))
      p.compute_scaling_spread = number(n, "compute_scaling_spread", 1.0);
  }

  link_cost link(const YAML::Node& n, const std::string& field) const {
    in_.map(n, field, "a map like {alpha_us: 0.5, bandwidth_mb_s: 12000}");
    in_.check_keys(n, field, link_keys);
    link_cost c;
    c.given = true;
    const YAML::Node alpha = n["alpha_us"];
    if (!present(alpha))
      in_.fail(n, field + ".alpha_us", "missing: the latency of an empty message, in us");
    c.alpha_us = number(alpha, field + ".alpha_us", max_us);
    const YAML::Node bw = n["bandwidth_mb_s"], beta = n["ns_per_byte"];
    if (present(bw) && present(beta))
      in_.fail(beta, field + ".ns_per_byte",
               "give bandwidth_mb_s or ns_per_byte (its inverse: 1000 / MB/s), not both");
    if (present(bw)) {
      const double mb_s = number(bw, field + ".bandwidth_mb_s", max_mb_s);
      if (mb_s <= 0.0)
        in_.fail(bw, field + ".bandwidth_mb_s", "must be > 0 (leave it out for unlimited)");
      c.ns_per_byte = 1000.0 / mb_s;
    } else if (present(beta)) {
      c.ns_per_byte = number(beta, field + ".ns_per_byte", max_ns_per_byte);
    }
    if (const YAML::Node v = n["runtime_us"]; present(v))
      c.runtime_us = number(v, field + ".runtime_us", max_runtime_us);
    if (const YAML::Node v = n["runtime_us_spread"]; present(v))
      c.runtime_us_spread = number(v, field + ".runtime_us_spread", max_runtime_us);
    if (const YAML::Node v = n["runtime_block_us"]; present(v))
      c.runtime_block_us = number(v, field + ".runtime_block_us", max_runtime_us);
    if (const YAML::Node si = n["stand_in"]; present(si)) {
      c.stand_in = in_.string(si, field + ".stand_in");
      if (c.stand_in.empty())
        in_.fail(si, field + ".stand_in", "give what stands in (e.g. same-host), or leave it out");
    }
    return c;
  }

  serialization_cost codec(const YAML::Node& n, const std::string& field) const {
    in_.map(n, field, "a map of " + join(codec_keys));
    in_.check_keys(n, field, codec_keys);
    serialization_cost c;
    const auto get = [&](const char* key, double high, double& into) {
      if (const YAML::Node v = n[key]; present(v)) into = number(v, field + "." + key, high);
    };
    get("serialize_us", max_us, c.serialize_us);
    get("serialize_ns_per_byte", max_ns_per_byte, c.serialize_ns_per_byte);
    get("deserialize_us", max_us, c.deserialize_us);
    get("deserialize_ns_per_byte", max_ns_per_byte, c.deserialize_ns_per_byte);
    return c;
  }
};

}  // namespace

platform parse_platform(const std::string& yaml_text, const std::string& file_name) {
  try {
    return parser(yaml_text, file_name).run();
  } catch (const YAML::Exception& e) {
    yaml_in::reader(file_name).rethrow(e);  // a safety net, as in parse_spec
  }
}

platform load_platform(const std::string& path) {
  return parse_platform(yaml_in::read_text_file(path, "platform file"), path);
}

}  // namespace mpipe
