// YAML -> pipeline_spec. Everything a user can get wrong in a spec is caught here, before any
// rank starts, with the file, line and field of the mistake: a typo found after mpirun has
// launched 64 ranks costs a queue slot, one found here costs nothing.
#include "mpipe/spec.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mpipe/error.hpp"
#include "yaml.hpp"

namespace mpipe {

namespace {

std::string format_spec_error(const std::string& file, int line, const std::string& field,
                              const std::string& message) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!field.empty()) out += "field '" + field + "': ";
  out += message;
  // Messages echo user text (names, scalars, yaml-cpp's "unknown escape character: X"); a spec
  // with "\e[2J" in a name, or a binary file passed as --spec, must not write control bytes to
  // the terminal (found by fuzzing), so those are shown as \xNN.
  std::string shown;
  for (const char c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      shown += {'\\', 'x', hex[u >> 4], hex[u & 15]};
    } else {
      shown += c;
    }
  }
  return shown;
}

}  // namespace

spec_error::spec_error(std::string file, int line, std::string field, const std::string& message)
    : error(format_spec_error(file, line, field, message)),
      file_(std::move(file)),
      line_(line),
      field_(std::move(field)),
      message_(message) {}

const char* to_string(kernel_kind k) {
  switch (k) {
    case kernel_kind::sleep:
      return "sleep";
    case kernel_kind::spin:
      return "spin";
    case kernel_kind::compute:
      return "compute";
    case kernel_kind::user:
      return "user";
    case kernel_kind::exec:
      return "exec";
  }
  return "?";
}

const char* to_string(serialization_kind s) {
  switch (s) {
    case serialization_kind::boost:
      return "boost";
    case serialization_kind::datatype:
      return "datatype";
    case serialization_kind::raw:
      return "raw";
  }
  return "?";
}

const char* to_string(dispatch_kind d) {
  switch (d) {
    case dispatch_kind::on_demand:
      return "on-demand";
    case dispatch_kind::round_robin:
      return "round-robin";
  }
  return "?";
}

int pipeline_spec::stage_index(const std::string& stage_name) const {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == stage_name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

using yaml_in::describe;
using yaml_in::did_you_mean;
using yaml_in::format_number;
using yaml_in::join;
using yaml_in::line_of;
using yaml_in::present;
using yaml_in::quoted;

// Limits are generous for any real pipeline; they exist so that a stray digit ("work_ms:
// 2000000000") fails here instead of hanging a job, and so that list expansion cannot eat the
// memory.
constexpr double max_work_ms = 1e7;
constexpr double max_threads = 1024;
constexpr double max_payload_bytes = 1073741824.0;  // 2^30, 1 GiB
constexpr double max_items = 1e7;
constexpr double max_rank = 1e6;
constexpr double max_inflight = 1e6;
constexpr double max_replicas = 256;
constexpr std::size_t max_stages = 10000;
constexpr std::size_t max_edges = 100000;
constexpr std::size_t max_name_length = 64;
// Payload bytes in flight at once (inflight x the bytes one item carries over its edges): each
// limit above is fine alone, but inflight 1e6 x 1 GiB payloads would ask a rank for a petabyte.
constexpr double max_payload_in_flight = 17179869184.0;  // 2^34, 16 GiB

const std::vector<std::string> top_keys = {"name",     "source", "items",  "inflight",
                                           "defaults", "stages", "edges",  "placement",
                                           "plugins",  "inputs", "outputs"};
const std::vector<std::string> defaults_keys = {"kernel", "threads", "payload_bytes",
                                                "serialization", "work_ms"};
const std::vector<std::string> stage_keys = {"name",     "work_ms",       "kernel",
                                             "threads",  "payload_bytes", "replicas",
                                             "dispatch", "ordered",       "command"};
const std::vector<std::string> edge_keys = {"from", "to", "serialization"};

const std::vector<std::pair<std::string, kernel_kind>> kernel_names = {
    {"sleep", kernel_kind::sleep}, {"spin", kernel_kind::spin}, {"compute", kernel_kind::compute}};
const std::vector<std::pair<std::string, serialization_kind>> serialization_names = {
    {"boost", serialization_kind::boost},
    {"datatype", serialization_kind::datatype},
    {"raw", serialization_kind::raw}};
const std::vector<std::pair<std::string, dispatch_kind>> dispatch_names = {
    {"on-demand", dispatch_kind::on_demand}, {"round-robin", dispatch_kind::round_robin}};

// A spec can be machine-generated with thousands of stages; listing them all in one error line
// would bury the message.
std::string list_stage_names(const std::vector<stage_spec>& stages) {
  constexpr std::size_t shown = 12;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < stages.size() && i < shown; ++i) names.push_back(stages[i].name);
  std::string out = join(names);
  if (stages.size() > shown) out += ", ... (" + std::to_string(stages.size()) + " in all)";
  return out;
}

// A replicated or ordered stage that cannot work: which stage, which of its keys to blame
// ("replicas", "dispatch", "ordered") and why.
struct farm_issue {
  std::size_t stage = 0;
  std::string key;
  std::string message;
};

// Shared by the parser and --replicas, so a farm is refused alike wherever it was asked for. The
// first problem in stage order, if any.
std::optional<farm_issue> check_farms(const pipeline_spec& spec) {
  std::unordered_map<std::string, std::vector<std::string>> producers;
  for (const auto& e : spec.edges) producers[e.to].push_back(e.from);
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    const stage_spec& st = spec.stages[i];
    if (st.name == spec.source && st.replicas > 1) {
      return farm_issue{i, "replicas",
                        "the source '" + st.name +
                            "' cannot be replicated (replicas: " + std::to_string(st.replicas) +
                            "): it emits every item and collects it, so there is exactly one"};
    }
    if (st.name == spec.source && st.ordered) {
      return farm_issue{i, "ordered",
                        "the source '" + st.name +
                            "' cannot be 'ordered': it emits items in order and collects each "
                            "as it completes"};
    }
    if (st.ordered && st.replicas > 1) {
      return farm_issue{i, "ordered",
                        "stage '" + st.name + "' has " + std::to_string(st.replicas) +
                            " replicas and 'ordered: true': each replica sees only its share "
                            "of the items, so their order cannot be restored there; order the "
                            "stage after it instead"};
    }
    const auto it = producers.find(st.name);
    if (st.replicas > 1 && st.dispatch != dispatch_kind::round_robin && it != producers.end() &&
        it->second.size() > 1) {
      std::vector<std::string> shown(
          it->second.begin(),
          it->second.begin() + std::min<std::ptrdiff_t>(8, std::ssize(it->second)));
      if (it->second.size() > shown.size()) shown.push_back("...");
      return farm_issue{
          i, "dispatch",
          "stage '" + st.name + "' has " + std::to_string(st.replicas) + " replicas and " +
              std::to_string(it->second.size()) + " input edges (from " + join(shown) +
              "), so it needs 'dispatch: round-robin': every producer must send an item's "
              "inputs to the same replica, and only round-robin (item i to replica i mod " +
              std::to_string(st.replicas) +
              ") is a choice they all make alike; on-demand lets each producer pick a free "
              "replica on its own"};
    }
  }
  return std::nullopt;
}

// "C3#1" -> ("C3", 1); "C3" -> ("C3", -1); ("", -2) when what follows '#' is not a whole number
// below 256 (the replica limit).
std::pair<std::string, int> split_instance(const std::string& key) {
  const auto hash = key.find('#');
  if (hash == std::string::npos) return {key, -1};
  const std::string digits = key.substr(hash + 1);
  if (digits.empty() || digits.size() > 3 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return {"", -2};
  }
  const int k = std::stoi(digits);
  if (k >= static_cast<int>(max_replicas)) return {"", -2};
  return {key.substr(0, hash), k};
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > max_name_length) return false;
  const auto letter = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!letter(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return letter(c) || digit(c) || c == '.' || c == '-'; });
}

struct stage_defaults {
  kernel_kind kernel = kernel_kind::sleep;
  double work_ms = 0.0;
  int threads = 1;
  std::uint64_t payload_bytes = 0;
  serialization_kind serialization = serialization_kind::boost;
  bool serialization_given = false;
};

// A list far over its limit is refused from the YAML events, before YAML::Load builds a node for
// every entry: a 16 MiB file of "- {name: sN}" lines is over a million stages, and building them
// took seconds (900 001 stages: 23 s) only to be told the limit. Counting goes on to twice the
// limit, so a list just over it still gets parse_stages' exact count ("has 10001 stages"); one
// past that stops the read here. Malformed YAML is left to load(), which words it.
class list_counter : public YAML::EventHandler {
 public:
  explicit list_counter(const std::string& file) : file_(file) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark, false, ""); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark, false, ""); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    node(mark, false, value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark, false);
  }
  void OnSequenceEnd() override { frames_.pop_back(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark, true);
  }
  void OnMapEnd() override { frames_.pop_back(); }

 private:
  struct frame {
    bool is_map = false;
    std::size_t children = 0;
    std::string key;                // a top-level map's last key
    const char* counted = nullptr;  // "stages" or "edges" for those top-level lists
    int line = 0;
    std::size_t limit = 0;
  };

  void open(const YAML::Mark& mark, bool is_map) {
    const char* counted = nullptr;
    if (!is_map && frames_.size() == 1 && frames_[0].is_map && frames_[0].children % 2 == 1) {
      if (frames_[0].key == "stages") counted = "stages";
      if (frames_[0].key == "edges") counted = "edges";
    }
    node(mark, true, "");
    frame f;
    f.is_map = is_map;
    f.counted = counted;
    f.line = mark.line >= 0 ? mark.line + 1 : 0;
    f.limit = counted == nullptr ? 0 : 2 * (counted[0] == 's' ? max_stages : max_edges);
    frames_.push_back(std::move(f));
  }

  // A node inside the innermost open list or map (container: one being opened).
  void node(const YAML::Mark&, bool container, const std::string& value) {
    if (frames_.empty()) return;
    frame& parent = frames_.back();
    if (parent.is_map && frames_.size() == 1 && parent.children % 2 == 0) {
      parent.key = container ? std::string() : value;
    }
    ++parent.children;
    if (parent.counted != nullptr && parent.children > parent.limit) {
      const bool stages = parent.counted[0] == 's';
      throw spec_error(
          file_, parent.line, parent.counted,
          "has more than " + std::to_string(parent.limit) +
              (stages ? " stages; the limit is " + std::to_string(max_stages)
                      : " entries; the limit is " + std::to_string(max_edges) + " edges"));
    }
  }

  const std::string& file_;
  std::vector<frame> frames_;
};

void check_list_sizes(const std::string& text, const std::string& file) {
  std::istringstream in(text);
  list_counter counter(file);
  try {
    YAML::Parser events(in);
    events.HandleNextDocument(counter);
  } catch (const YAML::Exception&) {
    // Malformed or too deep: load() reports it with its own wording.
  }
}

class parser {
 public:
  parser(const std::string& text, const std::string& file) : text_(text), file_(file), in_(file) {}

  pipeline_spec run() {
    check_list_sizes(text_, file_);
    const YAML::Node root = in_.load_map(
        text_, "the spec is empty; it needs at least 'source', 'stages' and 'edges'", top_keys);
    in_.check_keys(root, "", top_keys);

    pipeline_spec spec;
    spec.file = file_;
    spec.text = text_;
    if (const YAML::Node n = root["name"]; present(n)) spec.name = name_value(n, "name");
    if (const YAML::Node n = root["items"]; present(n)) {
      spec.items = static_cast<std::uint64_t>(
          in_.integer(n, "items", 1, max_items, "at least 1 and at most 10000000 (1e7)"));
    }
    if (const YAML::Node n = root["inflight"]; present(n)) {
      spec.inflight = static_cast<std::uint64_t>(
          in_.integer(n, "inflight", 1, max_inflight, "at least 1 and at most 1000000 (1e6)"));
    }
    if (const YAML::Node n = root["defaults"]; present(n)) parse_defaults(n);
    parse_files(root, spec);
    if (!spec.inputs.empty() && present(root["items"]))
      fail(root["items"], "items", "with 'inputs:' every file is an item; drop 'items:'");

    const YAML::Node stages = root["stages"];
    if (!present(stages)) missing("stages", "the spec must list its stages");
    parse_stages(stages, spec);

    const YAML::Node source = root["source"];
    if (!present(source)) {
      missing("source", "name the stage that emits and collects items (e.g. 'source: " +
                            spec.stages.front().name + "')");
    }
    spec.source = stage_ref(source, "source", spec);

    const YAML::Node edges = root["edges"];
    if (!present(edges)) missing("edges", "the spec must list its edges");
    parse_edges(edges, spec);
    // After the edges: whether a farm may dispatch on demand depends on its inputs.
    if (const auto issue = check_farms(spec)) {
      const std::size_t i = issue->stage;
      const int line = issue->key == "replicas"  ? marks_[i].replicas
                       : issue->key == "ordered" ? marks_[i].ordered
                       : marks_[i].dispatch > 0  ? marks_[i].dispatch
                                                 : marks_[i].replicas;
      throw spec_error(file_, line, "stages[" + std::to_string(i) + "]." + issue->key,
                       issue->message);
    }

    if (const YAML::Node n = root["placement"]; present(n)) {
      // The "placement:" key, not the map: a block map's mark is its first entry, which would
      // read as blaming that stage when resolve_placement later reports another one.
      int key_line = line_of(n);
      for (const auto& entry : root) {
        if (entry.first.IsScalar() && entry.first.Scalar() == "placement") {
          key_line = line_of(entry.first);
        }
      }
      parse_placement(n, key_line, spec);
    }

    check_graph(spec, source);
    if (const std::string problem = payload_in_flight_problem(spec); !problem.empty()) {
      const YAML::Node n = root["inflight"];
      throw spec_error(file_, present(n) ? line_of(n) : 0, "inflight", problem);
    }
    return spec;
  }

 private:
  const std::string& text_;
  const std::string& file_;
  const yaml_in::reader in_;
  stage_defaults defaults_;
  std::unordered_map<std::string, int> index_;  // stage name -> index, filled by parse_stages
  // Per stage, the lines of its replicas / ordered (its own line when absent) and dispatch (0
  // when absent): farm checks need the edges, so they run after parse_stages and point back here.
  struct stage_marks {
    int replicas = 0, dispatch = 0, ordered = 0;
  };
  std::vector<stage_marks> marks_;

  [[noreturn]] void fail(const YAML::Node& node, const std::string& field,
                         const std::string& message) const {
    in_.fail(node, field, message);
  }

  // A missing top-level key has no line of its own; pointing at line 1 would send users to the
  // wrong place.
  [[noreturn]] void missing(const std::string& field, const std::string& message) const {
    throw spec_error(file_, 0, field, "missing: " + message);
  }

  std::string scalar(const YAML::Node& node, const std::string& field,
                     const std::string& what) const {
    return in_.string(node, field, what);
  }

  std::string name_value(const YAML::Node& node, const std::string& field) const {
    const std::string name = scalar(node, field, "a name");
    if (name.size() > max_name_length) {
      fail(node, field,
           "name '" + name.substr(0, 20) + "...' is " + std::to_string(name.size()) +
               " characters long; the limit is " + std::to_string(max_name_length));
    }
    if (!valid_name(name)) {
      fail(node, field,
           "invalid name '" + name +
               "': names start with a letter or '_' and contain only letters, digits, '_', '.' "
               "and '-' (pattern [A-Za-z_][A-Za-z0-9_.-]*)");
    }
    return name;
  }

  double work_ms(const YAML::Node& node, const std::string& field) const {
    return in_.number(node, field, 0, max_work_ms,
                      "between 0 and 10000000 ms (limit 1e7 ms, about 2.8 hours)");
  }
  int threads(const YAML::Node& node, const std::string& field) const {
    return static_cast<int>(
        in_.integer(node, field, 1, max_threads, "between 1 and 1024 (the thread limit)"));
  }
  std::uint64_t payload_bytes(const YAML::Node& node, const std::string& field) const {
    return static_cast<std::uint64_t>(in_.integer(node, field, 0, max_payload_bytes,
                                                  "between 0 and 1073741824 (limit 1 GiB = 2^30)"));
  }

  template <typename Kind>
  Kind enum_value(const YAML::Node& node, const std::string& field,
                  const std::vector<std::pair<std::string, Kind>>& names,
                  const std::string& what) const {
    std::vector<std::string> allowed;
    for (const auto& [word, kind] : names) allowed.push_back(word);
    const std::string word = scalar(node, field, "a " + what + " (" + join(allowed, " | ") + ")");
    for (const auto& [candidate, kind] : names) {
      if (candidate == word) return kind;
    }
    fail(node, field,
         "unknown " + what + " " + quoted(word) + " (allowed: " + join(allowed, ", ") + ")" +
             did_you_mean(word, allowed));
  }

  int replicas(const YAML::Node& node, const std::string& field) const {
    return static_cast<int>(
        in_.integer(node, field, 1, max_replicas, "between 1 and 256 (the replica limit)"));
  }

  kernel_kind kernel(const YAML::Node& node, const std::string& field) const {
    return enum_value(node, field, kernel_names, "kernel");
  }

  // A stage's kernel: a synthetic one, exec, or the name of a registered function (checked
  // against the registry when the run starts, once plugins are loaded).
  void stage_kernel(const YAML::Node& node, const std::string& field, stage_spec& stage) const {
    const std::string name = scalar(node, field + ".kernel", "a kernel or a function name");
    for (const auto& [k, kind] : kernel_names)
      if (name == k) {
        stage.kernel = kind;
        return;
      }
    if (name == "exec") {
      stage.kernel = kernel_kind::exec;
      return;
    }
    if (!valid_name(name))
      fail(node, field + ".kernel",
           quoted(name) + " is neither a kernel (sleep, spin, compute, exec) nor a function name");
    stage.kernel = kernel_kind::user;
    stage.function = name;
  }

  // An exec worker's argv: a list of strings (a single string is one program with no arguments).
  std::vector<std::string> command(const YAML::Node& node, const std::string& field) const {
    std::vector<std::string> argv;
    if (node.IsScalar()) {
      argv.push_back(scalar(node, field, "a program"));
    } else {
      in_.list(node, field, "a list: the program and its arguments", "the command is empty");
      for (std::size_t i = 0; i < node.size(); ++i)
        argv.push_back(scalar(node[i], field + "[" + std::to_string(i) + "]", "an argument"));
    }
    if (argv.front().empty()) fail(node, field, "the program's name is empty");
    return argv;
  }

  // plugins: a path or a list of them; inputs / outputs: one path each.
  void parse_files(const YAML::Node& root, pipeline_spec& spec) const {
    if (const YAML::Node n = root["plugins"]; present(n)) {
      spec.plugins_line = line_of(n);
      if (n.IsScalar()) {
        spec.plugins.push_back(scalar(n, "plugins", "a shared library's path"));
        spec.plugins_in_spec = 1;
      } else {
        in_.list(n, "plugins", "a list of shared libraries", "the list is empty");
        for (std::size_t i = 0; i < n.size(); ++i)
          spec.plugins.push_back(
              scalar(n[i], "plugins[" + std::to_string(i) + "]", "a shared library's path"));
      }
      spec.plugins_in_spec = spec.plugins.size();
    }
    if (const YAML::Node n = root["inputs"]; present(n)) {
      spec.inputs = scalar(n, "inputs", "a directory or a glob (data/*.pgm)");
      spec.inputs_line = line_of(n);
    }
    if (const YAML::Node n = root["outputs"]; present(n)) {
      spec.outputs = scalar(n, "outputs", "a directory");
      spec.outputs_line = line_of(n);
    }
  }
  serialization_kind serialization(const YAML::Node& node, const std::string& field) const {
    return enum_value(node, field, serialization_names, "serialization");
  }
  dispatch_kind dispatch(const YAML::Node& node, const std::string& field) const {
    return enum_value(node, field, dispatch_names, "dispatch");
  }

  void parse_defaults(const YAML::Node& node) {
    in_.map(node, "defaults", "a map of " + join(defaults_keys));
    in_.check_keys(node, "defaults", defaults_keys);
    if (const YAML::Node n = node["kernel"]; present(n)) {
      defaults_.kernel = kernel(n, "defaults.kernel");
    }
    if (const YAML::Node n = node["work_ms"]; present(n)) {
      defaults_.work_ms = work_ms(n, "defaults.work_ms");
    }
    if (const YAML::Node n = node["threads"]; present(n)) {
      defaults_.threads = threads(n, "defaults.threads");
    }
    if (const YAML::Node n = node["payload_bytes"]; present(n)) {
      defaults_.payload_bytes = payload_bytes(n, "defaults.payload_bytes");
    }
    if (const YAML::Node n = node["serialization"]; present(n)) {
      defaults_.serialization = serialization(n, "defaults.serialization");
      defaults_.serialization_given = true;
    }
  }

  void parse_stages(const YAML::Node& node, pipeline_spec& spec) {
    in_.list(node, "stages", "a list of stages (- {name: A, work_ms: 100})",
             "a pipeline needs stages");
    if (node.size() > max_stages) {
      fail(node, "stages",
           "has " + std::to_string(node.size()) + " stages; the limit is " +
               std::to_string(max_stages));
    }
    std::unordered_map<std::string, int> first_line;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string field = "stages[" + std::to_string(i) + "]";
      stage_spec stage;
      stage.kernel = defaults_.kernel;
      stage.work_ms = defaults_.work_ms;
      stage.threads = defaults_.threads;
      stage.payload_bytes = defaults_.payload_bytes;
      stage.line = line_of(item);
      int name_line = stage.line;
      stage_marks marks{stage.line, 0, stage.line};  // dispatch 0: not given
      if (item.IsScalar()) {
        // "- A": a stage that takes every default.
        stage.name = name_value(item, field + ".name");
      } else if (item.IsMap()) {
        in_.check_keys(item, field, stage_keys);
        // Copy-constructed, not assigned: yaml-cpp's Node::operator= writes through to the node
        // it refers to, and throws when the right side is a missing key.
        const YAML::Node name_node = item["name"];
        if (!present(name_node)) fail(item, field + ".name", "missing: every stage needs a name");
        stage.name = name_value(name_node, field + ".name");
        name_line = line_of(name_node);
        if (const YAML::Node n = item["work_ms"]; present(n)) {
          stage.work_ms = work_ms(n, field + ".work_ms");
        }
        if (const YAML::Node n = item["kernel"]; present(n)) stage_kernel(n, field, stage);
        if (const YAML::Node n = item["command"]; present(n)) {
          if (stage.kernel != kernel_kind::exec)
            fail(n, field + ".command", "only a stage with 'kernel: exec' runs a command");
          stage.command = command(n, field + ".command");
        } else if (stage.kernel == kernel_kind::exec) {
          fail(item, field + ".command",
               "missing: 'kernel: exec' needs the worker's command, e.g. [python3, worker.py]");
        }
        if (const YAML::Node n = item["threads"]; present(n)) {
          stage.threads = threads(n, field + ".threads");
        }
        if (const YAML::Node n = item["payload_bytes"]; present(n)) {
          stage.payload_bytes = payload_bytes(n, field + ".payload_bytes");
        }
        if (const YAML::Node n = item["replicas"]; present(n)) {
          stage.replicas = replicas(n, field + ".replicas");
          marks.replicas = line_of(n);
        }
        if (const YAML::Node n = item["dispatch"]; present(n)) {
          stage.dispatch = dispatch(n, field + ".dispatch");
          marks.dispatch = line_of(n);
        }
        if (const YAML::Node n = item["ordered"]; present(n)) {
          stage.ordered = in_.boolean(n, field + ".ordered");
          marks.ordered = line_of(n);
        }
      } else {
        fail(item, field,
             "expected a stage ({name: A, work_ms: 100} or just a name), got " + describe(item));
      }
      if (const auto [it, fresh] = first_line.emplace(stage.name, stage.line); !fresh) {
        throw spec_error(file_, name_line, field + ".name",
                         "duplicate stage name '" + stage.name + "' (first defined on line " +
                             std::to_string(it->second) + ")");
      }
      index_.emplace(stage.name, static_cast<int>(spec.stages.size()));
      spec.stages.push_back(std::move(stage));
      marks_.push_back(marks);
    }
  }

  std::string stage_ref(const YAML::Node& node, const std::string& field,
                        const pipeline_spec& spec) const {
    const std::string name = scalar(node, field, "a stage name");
    if (index_.count(name) == 0) {
      std::vector<std::string> names;
      for (const auto& stage : spec.stages) names.push_back(stage.name);
      fail(node, field,
           "unknown stage " + quoted(name) + " (stages: " + list_stage_names(spec.stages) + ")" +
               did_you_mean(name, names));
    }
    return name;
  }

  // One end of an edge map: a stage name or a non-empty list of them.
  std::vector<std::string> stage_refs(const YAML::Node& node, const std::string& field,
                                      const pipeline_spec& spec) const {
    std::vector<std::string> names;
    if (node.IsSequence()) {
      if (node.size() == 0) fail(node, field, "the list is empty; name at least one stage");
      for (std::size_t i = 0; i < node.size(); ++i) {
        names.push_back(stage_ref(node[i], field + "[" + std::to_string(i) + "]", spec));
      }
    } else if (node.IsScalar()) {
      names.push_back(stage_ref(node, field, spec));
    } else {
      fail(node, field, "expected a stage name or a list of them, got " + describe(node));
    }
    return names;
  }

  static std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t");
    return std::string(s.substr(first, last - first + 1));
  }

  void parse_edges(const YAML::Node& node, pipeline_spec& spec) {
    in_.list(node, "edges", "a list of edges (- A -> B)", "a pipeline needs edges");
    std::unordered_map<std::string, int> first_line;  // "from\nto" -> line
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string field = "edges[" + std::to_string(i) + "]";
      std::vector<std::string> from, to;
      serialization_kind ser = defaults_.serialization;
      bool ser_given = defaults_.serialization_given;
      if (item.IsScalar()) {
        const std::string& text = item.Scalar();
        const auto arrow = text.find("->");
        if (arrow == std::string::npos || text.find("->", arrow + 2) != std::string::npos) {
          fail(item, field,
               "expected 'FROM -> TO' (one arrow) or {from: ..., to: ...}, got " + quoted(text));
        }
        const std::string left = trim(std::string_view(text).substr(0, arrow));
        const std::string right = trim(std::string_view(text).substr(arrow + 2));
        if (left.empty() || right.empty()) {
          fail(item, field, "expected 'FROM -> TO' with both names, got " + quoted(text));
        }
        // The names are pieces of one scalar, so errors point at the edge's own line.
        from.push_back(stage_ref(YAML::Node(left), field, spec, item));
        to.push_back(stage_ref(YAML::Node(right), field, spec, item));
      } else if (item.IsMap()) {
        in_.check_keys(item, field, edge_keys);
        const YAML::Node from_node = item["from"];
        const YAML::Node to_node = item["to"];
        if (!present(from_node)) fail(item, field + ".from", "missing: every edge needs 'from'");
        if (!present(to_node)) fail(item, field + ".to", "missing: every edge needs 'to'");
        from = stage_refs(from_node, field + ".from", spec);
        to = stage_refs(to_node, field + ".to", spec);
        if (const YAML::Node n = item["serialization"]; present(n)) {
          ser = serialization(n, field + ".serialization");
          ser_given = true;
        }
      } else {
        fail(item, field, "expected 'FROM -> TO' or {from: ..., to: ...}, got " + describe(item));
      }
      if (spec.edges.size() + from.size() * to.size() > max_edges) {
        fail(item, field,
             "too many edges after expanding lists; the limit is " + std::to_string(max_edges));
      }
      for (const auto& f : from) {
        for (const auto& t : to) {
          if (f == t) {
            fail(item, field, "self-edge '" + f + " -> " + t + "': a stage cannot feed itself");
          }
          const int line = line_of(item);
          if (const auto [it, fresh] = first_line.emplace(f + "\n" + t, line); !fresh) {
            fail(item, field,
                 "duplicate edge '" + f + " -> " + t + "' (first on line " +
                     std::to_string(it->second) + ")");
          }
          spec.edges.push_back(edge_spec{f, t, ser, line, ser_given});
        }
      }
    }
  }

  // stage_ref for a name cut out of a larger scalar: report at the scalar's line.
  std::string stage_ref(const YAML::Node& name, const std::string& field, const pipeline_spec& spec,
                        const YAML::Node& at) const {
    try {
      return stage_ref(name, field, spec);
    } catch (const spec_error& e) {
      throw spec_error(file_, line_of(at), e.field(), e.message());
    }
  }

  void parse_placement(const YAML::Node& node, int key_line, pipeline_spec& spec) {
    in_.map(node, "placement", "a map of stage: rank");
    spec.placement_line = key_line;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      // "C3: 1" places every replica of C3, "C3#1: 2" one of them (placement resolves both).
      const std::string text = scalar(key, "placement", "a stage name or STAGE#REPLICA");
      const auto [stage_name, replica] = split_instance(text);
      if (replica == -2) {
        fail(key, "placement." + text,
             "expected STAGE#REPLICA with a replica number (0-255) after '#', got " + quoted(text));
      }
      const std::string name = stage_ref(YAML::Node(stage_name), "placement", spec, key);
      const std::string placed = replica < 0 ? name : name + "#" + std::to_string(replica);
      const std::string field = "placement." + placed;
      const int replicas_here = spec.stages[static_cast<std::size_t>(index_.at(name))].replicas;
      if (replica >= replicas_here) {
        fail(key, field,
             "stage '" + name + "' has " + std::to_string(replicas_here) +
                 (replicas_here == 1 ? " replica (" + name + "#0)"
                                     : " replicas (" + name + "#0.." + name + "#" +
                                           std::to_string(replicas_here - 1) + ")") +
                 ", so '" + placed + "' names none");
      }
      const int rank = static_cast<int>(
          in_.integer(entry.second, field, 0, max_rank, "a rank between 0 and 1000000 (1e6)"));
      if (!spec.placement.emplace(placed, rank).second) {
        fail(key, field,
             (replica < 0 ? "stage '" + name + "'" : "'" + placed + "'") + " is placed twice");
      }
    }
  }

  // Shape checks, in the order that gives the most direct message: an isolated source explains
  // every unreachable stage, so it is reported before them.
  void check_graph(const pipeline_spec& spec, const YAML::Node& source_node) const {
    const std::size_t n = spec.stages.size();
    const int src = index_.at(spec.source);
    std::vector<std::vector<int>> out(n);   // edge indices, return edges left out
    std::vector<std::vector<int>> succ(n);  // stages, return edges left out
    std::vector<std::vector<int>> pred(n);  // stages, every edge
    for (std::size_t e = 0; e < spec.edges.size(); ++e) {
      const int f = index_.at(spec.edges[e].from);
      const int t = index_.at(spec.edges[e].to);
      pred[t].push_back(f);
      if (t == src) continue;
      out[f].push_back(static_cast<int>(e));
      succ[f].push_back(t);
    }
    if (out[src].empty()) {
      fail(source_node, "source",
           "source '" + spec.source +
               "' has no outgoing edges: no stage would ever receive an item (add an edge '" +
               spec.source + " -> X')");
    }
    if (pred[src].empty()) {
      fail(source_node, "source",
           "source '" + spec.source +
               "' has no incoming (return) edge, so items would never complete (add an edge "
               "'X -> " +
               spec.source + "' from the last stage)");
    }
    check_cycles(spec, out, src);

    const std::vector<char> reached = walk(src, succ);
    for (std::size_t v = 0; v < n; ++v) {
      if (!reached[v]) {
        throw spec_error(file_, spec.stages[v].line, "stages",
                         "stage '" + spec.stages[v].name + "' is unreachable from source '" +
                             spec.source + "': no chain of edges leads to it");
      }
    }
    // A stage that cannot reach the source would run, but no item would wait for it, so its
    // time would be invisible in every latency: almost certainly a forgotten edge.
    const std::vector<char> returns = walk(src, pred);
    for (std::size_t v = 0; v < n; ++v) {
      if (!returns[v]) {
        throw spec_error(file_, spec.stages[v].line, "stages",
                         "stage '" + spec.stages[v].name + "' has no path back to source '" +
                             spec.source +
                             "': items would complete without waiting for it (add an edge "
                             "from it toward '" +
                             spec.source + "')");
      }
    }
  }

  static std::vector<char> walk(int start, const std::vector<std::vector<int>>& next) {
    std::vector<char> seen(next.size(), 0);
    std::vector<int> stack = {start};
    seen[start] = 1;
    while (!stack.empty()) {
      const int v = stack.back();
      stack.pop_back();
      for (int u : next[v]) {
        if (!seen[u]) {
          seen[u] = 1;
          stack.push_back(u);
        }
      }
    }
    return seen;
  }

  // Iterative DFS (a generated 10000-stage chain would overflow a recursive one). Return edges
  // are already left out of `out`, so any cycle found here does not pass through the source.
  void check_cycles(const pipeline_spec& spec, const std::vector<std::vector<int>>& out,
                    int src) const {
    const int n = static_cast<int>(out.size());
    enum : char { white, grey, black };
    std::vector<char> color(static_cast<std::size_t>(n), white);
    std::vector<int> via(static_cast<std::size_t>(n), -1);  // edge that entered the stage
    std::vector<std::pair<int, std::size_t>> stack;         // stage, next out-edge position
    // Start at the source first so that cycles are reported the way items would meet them.
    std::vector<int> roots = {src};
    for (int v = 0; v < n; ++v) {
      if (v != src) roots.push_back(v);
    }
    for (int root : roots) {
      if (color[root] != white) continue;
      color[root] = grey;
      stack.emplace_back(root, 0);
      while (!stack.empty()) {
        auto& [v, pos] = stack.back();
        if (pos == out[v].size()) {
          color[v] = black;
          stack.pop_back();
          continue;
        }
        const int e = out[v][pos++];
        const int u = index_.at(spec.edges[e].to);
        if (color[u] == white) {
          color[u] = grey;
          via[u] = e;
          stack.emplace_back(u, 0);
        } else if (color[u] == grey) {
          std::vector<std::string> cycle = {spec.edges[e].to};
          for (int w = v; w != u; w = index_.at(spec.edges[via[w]].from)) {
            cycle.push_back(spec.stages[w].name);
          }
          cycle.push_back(spec.edges[e].to);
          std::reverse(cycle.begin(), cycle.end());
          throw spec_error(file_, spec.edges[e].line, "edges",
                           "cycle " + join(cycle, " -> ") + " does not pass through source '" +
                               spec.source + "'; only edges into the source may close a loop");
        }
      }
    }
  }
};

}  // namespace

std::string payload_in_flight_problem(const pipeline_spec& spec) {
  // In double: inflight (1e6) x edges (1e5) x payload (2^30) would overflow 64 bits.
  double per_item = 0.0;
  for (const auto& e : spec.edges) {
    const int from = spec.stage_index(e.from);
    if (from >= 0) per_item += static_cast<double>(spec.stages[from].payload_bytes);
  }
  const double total = per_item * static_cast<double>(spec.inflight);
  if (total <= max_payload_in_flight) return {};
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << "inflight " << spec.inflight << " x " << format_number(per_item)
      << " bytes per item (payload_bytes summed over its " << spec.edges.size()
      << " edges) = " << total / 1073741824.0
      << " GiB of payloads in flight; the limit is 16 GiB (2^34 bytes): lower inflight or "
         "payload_bytes";
  return out.str();
}

pipeline_spec parse_spec(const std::string& yaml_text, const std::string& file_name) {
  try {
    return parser(yaml_text, file_name).run();
  } catch (const YAML::Exception& e) {
    // Every shape is checked before it is used, so this is a safety net: whatever yaml-cpp
    // still throws must leave as a spec_error, the one error type callers expect from a spec.
    yaml_in::reader(file_name).rethrow(e);
  }
}

void apply_replicas(pipeline_spec& spec, const std::string& text) {
  const auto trimmed = [](std::string_view v) {
    const auto first = v.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string();
    return std::string(v.substr(first, v.find_last_not_of(" \t") - first + 1));
  };
  const auto fail = [&](const std::string& why) {
    throw spec_error("<command line>", 0, "--replicas", why);
  };
  const auto syntax = [&](const std::string& why) {
    fail(why + " in " + quoted(text) + "; expected STAGE=REPLICAS like 'Render=4,B=2'");
  };
  if (trimmed(text).empty()) return;
  std::vector<std::string> names;
  for (const auto& st : spec.stages) names.push_back(st.name);
  std::unordered_map<std::string, int> given;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const std::string entry = trimmed(rest.substr(0, comma));
    if (entry.empty()) syntax("empty entry");
    const auto equals = entry.find('=');
    if (equals == std::string::npos) syntax("entry " + quoted(entry) + " has no '='");
    const std::string name = trimmed(std::string_view(entry).substr(0, equals));
    const std::string count = trimmed(std::string_view(entry).substr(equals + 1));
    if (name.empty()) syntax("entry " + quoted(entry) + " has no stage name");
    const int index = spec.stage_index(name);
    if (index < 0) {
      fail("unknown stage " + quoted(name) + " (stages: " + list_stage_names(spec.stages) + ")" +
           did_you_mean(name, names));
    }
    if (count.empty() || count.size() > 3 ||
        !std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(count) < 1 || std::stoi(count) > static_cast<int>(max_replicas)) {
      fail("replicas of '" + name + "' must be a whole number between 1 and 256, got " +
           quoted(count));
    }
    if (!given.emplace(name, 0).second) fail("stage '" + name + "' is named twice");
    spec.stages[static_cast<std::size_t>(index)].replicas = std::stoi(count);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (const auto issue = check_farms(spec)) {
    // dispatch is a spec field only: say where to set it.
    fail(issue->message +
         (issue->key == "dispatch"
              ? " (set it on stage '" + spec.stages[issue->stage].name + "' in the spec)"
              : ""));
  }
}

pipeline_spec load_spec(const std::string& path) {
  pipeline_spec spec = parse_spec(yaml_in::read_text_file(path, "spec"), path);
  spec.dir = std::filesystem::absolute(path).parent_path().string();
  return spec;
}

}  // namespace mpipe
