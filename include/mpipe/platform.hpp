// What communication costs on a machine or network, as `mpipe predict` needs it: per tier a
// latency alpha and a bandwidth, per serialization a cost per message and per byte. Read from a
// small YAML file, measured (`mpipe calibrate`, the bench) or written by hand to ask what-if
// questions ("a LAN with 5 ms per call"). jobs/platforms/ ships a few.
//
//   name: laptop-shm
//   tiers:
//     same-rank:  {alpha_us: 2.8}                        # optional; default free
//     same-host:  {alpha_us: 0.46, bandwidth_mb_s: 12000}
//     cross-host: {alpha_us: 11, ns_per_byte: 0.8}       # bandwidth_mb_s or its inverse
//     # a tier not measured: `stand_in` says whose numbers these are (mpipe calibrate on one
//     # host writes cross-host: {alpha_us: 0.46, ns_per_byte: 0.089, stand_in: same-host})
//   serialization:                                       # optional, each key too; default 0
//     boost: {serialize_us: 1.0, serialize_ns_per_byte: 0.28,
//             deserialize_us: 0.5, deserialize_ns_per_byte: 0.024}
//   compute_rate: 5.1e5   # optional: the compute kernel's iterations per ms of one core
//   compute_scaling: [1.0, 0.93]  # optional: one core's speed with 1, 2, ... cores busy
//   (each tier may also give runtime_us and runtime_us_spread: the runtime's own cost per hop)
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/spec.hpp"

namespace mpipe {

// Where a hop goes: in memory on one rank, MPI on one host (shared memory), MPI between hosts.
enum class tier { same_rank, same_host, cross_host };
const char* to_string(tier t);  // "same-rank", "same-host", "cross-host"

// One tier's wire: a message of b bytes costs alpha + b / bandwidth.
struct link_cost {
  bool given = false;        // the file described this tier (same-rank may be left out)
  double alpha_us = 0.0;     // latency of an empty message
  double ns_per_byte = 0.0;  // inverse bandwidth; 0 = unlimited (1000 / MB/s)
  // Not this tier's own numbers: "" when measured or given; else what stands in for them, a
  // tier's name ("same-host": its numbers copied) or any text ("nothing measured", "a guess").
  std::string stand_in;
  // The runtime's own cost per hop on this tier, beyond the wire: hand-off between threads and
  // wake-up of the consumer (`mpipe calibrate` measures it through the runtime with a zero-work
  // chain). The simulator (simulate.hpp) adds it to every hop; message_ms does not.
  double runtime_us = 0.0;
  double runtime_us_spread = 0.0;  // half the spread of its repeats: the prediction's +-
  // The same when the ranks wait blocking (`--wait block`, or `auto` with more busy threads than
  // cores): the consumer's rank then sleeps in short slices, so a hop costs more. Negative: not
  // measured, runtime_us stands in.
  double runtime_block_us = -1.0;
  double ms(std::uint64_t bytes) const;
};

// Encoding on the sender and decoding on the receiver of one message (MPI tiers only: same-rank
// hand-offs never serialize).
struct serialization_cost {
  double serialize_us = 0.0, serialize_ns_per_byte = 0.0;
  double deserialize_us = 0.0, deserialize_ns_per_byte = 0.0;
  double ms(std::uint64_t bytes) const;  // encode + decode
};

struct platform {
  std::string name;
  std::string file = "<builtin>";
  std::string description;
  std::array<link_cost, 3> tiers;                   // indexed by tier
  std::array<serialization_cost, 3> serialization;  // indexed by serialization_kind
  std::optional<double> compute_rate;               // iterations per ms of one core, if given
  // Speed of one busy core when k cores of a host are busy at once (index k - 1), relative to
  // one core alone: SMT siblings and shared caches make it < 1. Empty: 1 for every k; beyond the
  // list, its last entry. Measured by `mpipe calibrate`; the simulator slows compute by it.
  std::vector<double> compute_scaling;
  double compute_scaling_spread = 0.0;  // half the spread of its repeats, as a fraction

  const link_cost& link(tier t) const { return tiers[static_cast<std::size_t>(t)]; }
  const serialization_cost& codec(serialization_kind s) const {
    return serialization[static_cast<std::size_t>(s)];
  }
  // What one message of `bytes` costs on tier t with serialization s: the tier's wire, plus
  // encode and decode unless t is same-rank.
  double message_ms(tier t, serialization_kind s, std::uint64_t bytes) const;
};

// "" when tier t of `p` has its own numbers; else a phrase saying what stands in for them, e.g.
// "same-host's numbers stand in" (from link_cost::stand_in).
std::string stand_in_text(const platform& p, tier t);

// Parse and check: unknown keys, missing tiers, negative / NaN / absurd numbers and both
// bandwidth_mb_s and ns_per_byte in one tier are spec_error naming file, line and field (e.g.
// "tiers.cross-host.alpha_us"). same-host and cross-host are required; same-rank is optional.
// A tier's optional `stand_in` (text) marks its numbers as not its own (link_cost::stand_in).
platform parse_platform(const std::string& yaml_text, const std::string& file_name);
// Reads the file (io_error if unreadable), then parse_platform.
platform load_platform(const std::string& path);

}  // namespace mpipe
