// Placement settings -> one rank per stage instance. Names, replicas and ranks are checked here,
// not in the runtime, so that a bad --placement fails on every rank with the same message before
// any MPI traffic.
#include "mpipe/placement.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mpipe/error.hpp"

namespace mpipe {

namespace {

constexpr const char* command_line = "<command line>";
constexpr long max_rank = 1000000;  // the same bound parse_spec puts on a spec's map

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

[[noreturn]] void syntax_error(const std::string& text, const std::string& why) {
  throw spec_error(command_line, 0, "placement",
                   why + " in '" + text + "'; expected a map like 'Main=0,A=1,B=1'");
}

}  // namespace

std::string placement::to_string(const pipeline_spec& spec) const {
  std::string out;
  for (std::size_t i = 0; i < rank_of.size() && i < spec.stages.size(); ++i) {
    const std::string& name = spec.stages[i].name;
    // A farm lists every replica, so the string replays exactly through --placement.
    if (i < replica_ranks.size() && replica_ranks[i].size() > 1) {
      for (std::size_t r = 0; r < replica_ranks[i].size(); ++r) {
        if (!out.empty()) out += ',';
        out += name + "#" + std::to_string(r) + "=" + std::to_string(replica_ranks[i][r]);
      }
      continue;
    }
    if (!out.empty()) out += ',';
    out += name + "=" + std::to_string(rank_of[i]);
  }
  return out;
}

std::vector<int> placement::stages_on(int rank) const {
  std::vector<int> stages;
  for (const auto& inst : instances_on(rank))
    if (stages.empty() || stages.back() != inst.stage) stages.push_back(inst.stage);
  return stages;
}

std::vector<stage_instance> placement::instances_on(int rank) const {
  std::vector<stage_instance> out;
  for (std::size_t s = 0; s < replica_ranks.size(); ++s)
    for (std::size_t r = 0; r < replica_ranks[s].size(); ++r)
      if (replica_ranks[s][r] == rank) out.push_back({static_cast<int>(s), static_cast<int>(r)});
  return out;
}

namespace {

// Every replica of a stage where the map put the stage (spread places replicas itself).
placement with_replicas(placement p, const pipeline_spec& spec) {
  p.replica_ranks.resize(p.rank_of.size());
  for (std::size_t s = 0; s < p.rank_of.size(); ++s)
    p.replica_ranks[s].assign(static_cast<std::size_t>(std::max(1, spec.stages[s].replicas)),
                              p.rank_of[s]);
  return p;
}

}  // namespace

std::map<std::string, int> parse_placement_map(const std::string& text) {
  std::map<std::string, int> map;
  if (trim(text).empty()) return map;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view entry = trim(rest.substr(0, comma));
    if (entry.empty()) syntax_error(text, "empty entry");
    const auto equals = entry.find('=');
    if (equals == std::string_view::npos) {
      syntax_error(text, "entry '" + std::string(entry) + "' has no '='");
    }
    const std::string name(trim(entry.substr(0, equals)));
    const std::string_view rank_text = trim(entry.substr(equals + 1));
    if (name.empty()) syntax_error(text, "entry '" + std::string(entry) + "' has no stage name");
    long rank = -1;
    const auto [end, ec] =
        std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
    if (rank_text.empty() || ec != std::errc() || end != rank_text.data() + rank_text.size() ||
        rank < 0 || rank > max_rank) {
      syntax_error(text, "rank '" + std::string(rank_text) + "' of stage '" + name +
                             "' is not a whole number between 0 and 1000000");
    }
    if (!map.emplace(name, static_cast<int>(rank)).second) {
      syntax_error(text, "stage '" + name + "' is placed twice");
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return map;
}

namespace {

placement pack_placement(const pipeline_spec& spec) {
  placement result;
  result.mode = "pack";
  result.rank_of.assign(spec.stages.size(), 0);
  return with_replicas(result, spec);
}

// Instance i (stages in order, replicas within a stage) on rank i mod world size.
placement spread_placement(const pipeline_spec& spec, int world_size) {
  const std::size_t n = spec.stages.size();
  placement result;
  result.mode = "spread";
  result.rank_of.resize(n);
  result.replica_ranks.resize(n);
  std::size_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (int r = 0; r < std::max(1, spec.stages[i].replicas); ++r)
      result.replica_ranks[i].push_back(
          static_cast<int>(next++ % static_cast<std::size_t>(world_size)));
    result.rank_of[i] = result.replica_ranks[i].front();
  }
  return result;
}

// A map and where it came from, the spec or the command line: errors point at that.
struct placement_map {
  std::map<std::string, int> map;
  std::string file = command_line;
  int line = 0;
};

placement_map map_of(const pipeline_spec& spec, std::string_view mode) {
  placement_map m;
  if (mode.empty()) {
    m.map = spec.placement;
    m.file = spec.file;
    m.line = spec.placement_line;
  } else {
    // A lone word is far likelier a misspelt mode than a one-stage map missing its '='.
    if (mode.find('=') == std::string_view::npos) {
      throw spec_error(command_line, 0, "placement",
                       "unknown placement '" + std::string(mode) +
                           "': expected pack, spread or a map like 'Main=0,A=1,B=1'");
    }
    m.map = parse_placement_map(std::string(mode));
  }
  return m;
}

// The replica a map key names ("C3#1": 1), or -1 for a key that names the whole stage ("C3").
int replica_of(const std::string& key, const placement_map& m) {
  const auto hash = key.find('#');
  int replica = -1;
  if (hash != std::string::npos) {
    const std::string_view digits = std::string_view(key).substr(hash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), replica);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        replica < 0) {
      throw spec_error(m.file, m.line, "placement",
                       "'" + key + "': expected STAGE#REPLICA with a replica number after '#'");
    }
  }
  return replica;
}

[[noreturn]] void unknown_stage(const pipeline_spec& spec, const std::string& name,
                                const placement_map& m) {
  const std::size_t n = spec.stages.size();
  // Capped: a generated spec may have thousands of stages.
  std::string names;
  for (std::size_t i = 0; i < n && i < 12; ++i) {
    names += (i == 0 ? "" : ", ") + spec.stages[i].name;
  }
  if (n > 12) names += ", ... (" + std::to_string(n) + " in all)";
  throw spec_error(m.file, m.line, "placement",
                   "unknown stage '" + name + "' (stages: " + names + ")");
}

// One entry's replica and rank against the stage's replicas and the job's ranks.
void check_entry(const std::string& key, const std::string& name, int replica, int count, int rank,
                 int world_size, const placement_map& m) {
  if (replica >= count) {
    throw spec_error(m.file, m.line, "placement",
                     "stage '" + name + "' has " + std::to_string(count) +
                         (count == 1 ? " replica (" + name + "#0)"
                                     : " replicas (" + name + "#0.." + name + "#" +
                                           std::to_string(count - 1) + ")") +
                         ", so '" + key + "' names none");
  }
  if (rank >= world_size) {
    throw spec_error(m.file, m.line, "placement",
                     (replica < 0 ? "stage '" + name + "'" : "'" + key + "'") +
                         " is placed on rank " + std::to_string(rank) + " but the job has " +
                         std::to_string(world_size) + " rank" + (world_size == 1 ? "" : "s") +
                         " (mpirun -np " + std::to_string(world_size) + ")");
  }
}

// The entries that move one replica ("C3#1=2"), after those that moved the whole stage.
void place_replicas(placement& result, std::vector<std::pair<std::pair<int, int>, int>> singles,
                    const pipeline_spec& spec, const placement_map& m) {
  std::sort(singles.begin(), singles.end());
  for (std::size_t k = 0; k < singles.size(); ++k) {
    const auto [stage, replica] = singles[k].first;
    const std::string name = spec.stages[static_cast<std::size_t>(stage)].name;
    // "C3#1" and "C3#01" are one replica.
    if (k > 0 && singles[k - 1].first == singles[k].first) {
      throw spec_error(m.file, m.line, "placement",
                       "'" + name + "#" + std::to_string(replica) + "' is placed twice");
    }
    result.replica_ranks[static_cast<std::size_t>(stage)][static_cast<std::size_t>(replica)] =
        singles[k].second;
  }
}

// Each stage's rank: its first replica's.
void set_rank_of(placement& result, const pipeline_spec& spec, int world_size,
                 const placement_map& m) {
  const std::size_t n = spec.stages.size();
  result.rank_of.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Every rank came from an entry checked above or is 0; check again, cheaply, so that no
    // future path can hand the runtime a rank the job does not have.
    for (const int r : result.replica_ranks[i]) {
      if (r < 0 || r >= world_size) {
        throw spec_error(m.file, m.line, "placement",
                         "stage '" + spec.stages[i].name + "' has a replica on rank " +
                             std::to_string(r) + " but the job has " + std::to_string(world_size) +
                             " rank(s)");
      }
    }
    result.rank_of[i] = result.replica_ranks[i].front();
  }
}

placement map_placement(const pipeline_spec& spec, const placement_map& m, int world_size) {
  const std::size_t n = spec.stages.size();
  placement result;
  std::unordered_map<std::string, int> index;
  for (std::size_t i = 0; i < n; ++i) index.emplace(spec.stages[i].name, static_cast<int>(i));
  result.mode = "map";
  // Stages the map leaves out share rank 0 with the source; "C3=1" moves every replica of C3,
  // then "C3#1=2" moves one, whichever order the entries came in.
  result.replica_ranks.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    result.replica_ranks[i].assign(static_cast<std::size_t>(std::max(1, spec.stages[i].replicas)),
                                   0);
  }
  std::vector<std::pair<std::pair<int, int>, int>> singles;  // (stage, replica), rank
  for (const auto& [key, rank] : m.map) {
    const std::string name = key.substr(0, key.find('#'));
    const int replica = replica_of(key, m);
    const auto it = index.find(name);
    if (it == index.end()) unknown_stage(spec, name, m);
    auto& ranks = result.replica_ranks[static_cast<std::size_t>(it->second)];
    check_entry(key, name, replica, static_cast<int>(ranks.size()), rank, world_size, m);
    if (replica < 0) {
      ranks.assign(ranks.size(), rank);
    } else {
      singles.push_back({{it->second, replica}, rank});
    }
  }
  place_replicas(result, std::move(singles), spec, m);
  set_rank_of(result, spec, world_size, m);
  return result;
}

}  // namespace

placement resolve_placement(const pipeline_spec& spec, const std::string& setting, int world_size) {
  if (world_size < 1) {
    throw error("resolve_placement: world size " + std::to_string(world_size) + " is not positive");
  }
  const std::string_view mode = trim(setting);
  if (mode == "pack") return pack_placement(spec);
  if (mode == "spread" || (mode.empty() && spec.placement.empty()))
    return spread_placement(spec, world_size);
  return map_placement(spec, map_of(spec, mode), world_size);
}

}  // namespace mpipe
