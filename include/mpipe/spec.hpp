// A pipeline spec: stages, the edges between them, how many items to push and (optionally) where
// each stage runs. Read from YAML; the article's reference pipeline is built in as the default so
// that `mpipe run` works with no file at all.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mpipe {

// What a stage does with its time: sleep = waits (an I/O-bound service, needs no core);
// spin = each thread busy until it has had work_ms of CPU; compute = real floating-point work whose
// amount is given in ms of one core, so T threads on free cores take about work_ms / T.
// user = a C++ function registered under stage_spec::function (stages.hpp): the user's own code
// on the user's own data; exec = a worker process in any language fed over pipes (command).
// For user and exec, work_ms is only an estimate for the model: the run measures the real time.
enum class kernel_kind { sleep, spin, compute, user, exec };
// sleep, spin and compute: the synthetic kernels, whose time is given rather than measured.
inline bool is_synthetic(kernel_kind k) { return k != kernel_kind::user && k != kernel_kind::exec; }

// How a message crosses ranks. Only boost exists today; the field is here so that specs written
// now keep their meaning when datatype and raw arrive.
enum class serialization_kind { boost, datatype, raw };

// How items are shared among a replicated stage's replicas. on_demand: the next item goes to a
// replica that is free (credits), so a slow or busy replica gets fewer; round_robin: item i goes
// to replica i mod R, the same choice on every producer, which a join stage (several inputs
// that must meet at one replica) needs.
enum class dispatch_kind { on_demand, round_robin };

const char* to_string(kernel_kind k);
const char* to_string(serialization_kind s);
const char* to_string(dispatch_kind d);

struct stage_spec {
  std::string name;
  kernel_kind kernel = kernel_kind::sleep;
  double work_ms = 0.0;             // service time of one item
  int threads = 1;                  // OpenMP threads inside the stage
  std::uint64_t payload_bytes = 0;  // size of the item it sends on each out-edge
  int replicas = 1;                 // copies of the stage, each placed like a stage (a farm)
  dispatch_kind dispatch = dispatch_kind::on_demand;
  bool ordered = false;  // items enter the stage in item order (restored after replicas)
  std::string function;  // kernel user: the registered function's name (what `kernel:` said)
  std::vector<std::string> command;  // kernel exec: the worker's argv
  std::string signature;  // set when bound (run): "blur (Image -> Image)", or the command line
  int line = 0;           // where it was defined, for error messages
};

struct edge_spec {
  std::string from;
  std::string to;
  serialization_kind serialization = serialization_kind::boost;
  int line = 0;
  // Given by the edge or by defaults. An edge between typed stages otherwise takes its type's
  // natural serialization (stages.hpp); an explicit one must be legal for the type.
  bool serialization_given = false;
  std::string data_type = "bytes";  // set when bound (run): the user type the edge carries
};

struct pipeline_spec {
  std::string name = "pipeline";
  std::string file = "<builtin>";  // where it came from, for error messages
  std::string text;                // the YAML exactly as read, stored with every run
  std::string source;              // emits items and collects them: edges into it end an item
  std::uint64_t items = 1;
  std::uint64_t inflight = 1;  // the source keeps at most this many items in the pipeline
  std::vector<stage_spec> stages;
  std::vector<edge_spec> edges;
  std::map<std::string, int> placement;  // optional stage -> rank map from the spec
  int placement_line = 0;
  // The user's code and data. Relative paths are relative to dir (the spec file's directory;
  // the working directory for built-in specs), which is also where exec workers start.
  std::string dir;
  std::vector<std::string> plugins;  // shared libraries that register stage functions: the
  std::size_t plugins_in_spec = 0;   // first plugins_in_spec from `plugins:`, then --plugin's
  std::string inputs;                // a directory or glob: the source's items, one per file
  std::string outputs;               // a directory: what reaches the source, one file per item
  int plugins_line = 0, inputs_line = 0, outputs_line = 0;

  // Index of a stage by name, or -1.
  int stage_index(const std::string& name) const;
};

// Parse and validate. Throws spec_error naming file, line and field. Rank-independent checks
// only: checks that need the world size live in placement.
pipeline_spec parse_spec(const std::string& yaml_text, const std::string& file_name);
pipeline_spec load_spec(const std::string& path);

// --replicas "Render=4,B=2": sets those stages' replicas, with the spec's own checks (1..256, not
// the source, a join needs round-robin). Errors are spec_error("<command line>", 0, "--replicas").
void apply_replicas(pipeline_spec& spec, const std::string& text);

// Memory limit on payloads: inflight x the bytes one item carries (each edge carries its
// producer's payload_bytes) must be at most 16 GiB, so a stray digit is refused before a rank
// allocates a terabyte. The message naming the numbers and the limit, or "" within it.
// parse_spec checks it; so must whatever changes inflight or payload_bytes later (--inflight,
// --payload-bytes).
std::string payload_in_flight_problem(const pipeline_spec& spec);

// The article's reference pipeline: Main -> A -> B -> C -> {C1..C4} -> D -> Main.
const std::string& seed_spec_text();
pipeline_spec seed_spec();

// Pipelines shipped in jobs/pipelines/ and built in byte for byte (like seed.yaml), so that
// `mpipe run --scenario NAME` needs no file on the nodes and cannot drift from what users read.
struct scenario_info {
  std::string name;         // what --scenario takes: seed, render-farm, api-calls
  std::string file;         // the shipped file, relative to the repository root
  std::string summary;      // one line: what it models
  const std::string& text;  // the embedded YAML
};
const std::vector<scenario_info>& scenarios();
// Parsed, with file "<scenario NAME>"; an unknown name is a spec_error listing the known ones.
pipeline_spec scenario_spec(const std::string& name);

}  // namespace mpipe
