#include "bindings.hpp"

#include <filesystem>

#include "../io/item_files.hpp"
#include "../spec/yaml.hpp"
#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"

namespace mpipe {
namespace {

std::string in_dir(const std::string& dir, const std::string& path) {
  if (dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(dir) / path).string();
}

std::string stage_field(const pipeline_spec& spec, std::size_t s, const std::string& key) {
  return "stages[" + std::to_string(s) + "]." + key + " (" + spec.stages[s].name + ")";
}

void load_plugins(const pipeline_spec& spec, const std::vector<std::string>& extra) {
  for (const auto& p : extra) load_plugin(p);
  for (std::size_t i = 0; i < spec.plugins.size(); ++i) {
    try {
      load_plugin(in_dir(spec.dir, spec.plugins[i]));
    } catch (const error& e) {
      if (i >= spec.plugins_in_spec) throw spec_error("<command line>", 0, "--plugin", e.what());
      throw spec_error(spec.file, spec.plugins_line, "plugins", e.what());
    }
  }
}

std::string known_functions() {
  const auto names = stages().names();
  if (names.empty()) return "none are registered: load a plugin (--plugin or plugins:)";
  std::string out = "registered: ";
  for (std::size_t i = 0; i < names.size() && i < 20; ++i) out += (i ? ", " : "") + names[i];
  return out + (names.size() > 20 ? ", ..." : "");
}

const stage_function* resolve(const pipeline_spec& spec, const graph& g, std::size_t s) {
  const stage_spec& st = spec.stages[s];
  const stage_function* f = stages().find(st.function);
  const auto fail = [&](const std::string& why) {
    throw spec_error(spec.file, st.line, stage_field(spec, s, "kernel"), why);
  };
  if (f == nullptr) {
    std::vector<std::string> near = stages().names();
    for (const char* k : {"sleep", "spin", "compute", "exec"}) near.emplace_back(k);
    fail("no stage function '" + st.function + "' (" + known_functions() + ")" +
         yaml_in::did_you_mean(st.function, near));
  }
  const bool source = static_cast<int>(s) == g.source();
  if (source && !f->takes_source_item)
    fail("'" + f->name + "' is the source's function, so it takes a mpipe::source_item");
  if (!source && f->takes_source_item)
    fail("'" + f->name + "' takes a mpipe::source_item: only the source's function can");
  const std::size_t in = g.inputs(static_cast<int>(s)).size();
  if (!source && f->inputs.size() != in)
    fail("'" + describe_function(*f) + "' takes " + std::to_string(f->inputs.size()) +
         " inputs, the stage has " + std::to_string(in) + " in-edges");
  return f;
}

bool byte_string(const detail::type_ops* t) { return t == nullptr || t->byte_string; }

std::string type_name(const detail::type_ops* t) { return t ? t->name : "bytes"; }

// The producer's type must be the one the consumer takes; bytes turn into a byte string only.
void check_edge(pipeline_spec& spec, const bindings& b, std::size_t e) {
  edge_spec& edge = spec.edges[e];
  const int to = spec.stage_index(edge.to);
  const stage_spec& consumer = spec.stages[static_cast<std::size_t>(to)];
  const auto* sends = b.sends[e];
  const auto* takes = b.takes[e];
  const std::string where = "edges (" + edge.from + " -> " + edge.to + ")";
  const auto fail = [&](const std::string& why) {
    throw spec_error(spec.file, edge.line, where, why);
  };
  if (consumer.kernel == kernel_kind::exec && !byte_string(sends))
    fail(edge.from + " sends " + type_name(sends) + "; an exec worker takes bytes " +
         "(return mpipe::blob or std::string from " + edge.from + ")");
  if (takes != nullptr && sends == nullptr && !byte_string(takes))
    fail(edge.to + " takes " + takes->name + ", but " + edge.from + " (" +
         to_string(spec.stages[static_cast<std::size_t>(spec.stage_index(edge.from))].kernel) +
         ") sends bytes");
  if (takes != nullptr && sends != nullptr && takes->mangled != sends->mangled)
    fail(edge.to + " takes " + takes->name + ", but " + edge.from + " returns " + sends->name);
  if (sends == nullptr) return;
  edge.data_type = sends->name;
  if (!edge.serialization_given) {
    edge.serialization = sends->natural;
  } else if (!sends->can(edge.serialization)) {
    std::string legal;
    for (auto k :
         {serialization_kind::boost, serialization_kind::datatype, serialization_kind::raw})
      if (sends->can(k)) legal += std::string(legal.empty() ? "" : ", ") + to_string(k);
    fail("serialization " + std::string(to_string(edge.serialization)) + " is not legal for " +
         sends->name + " (legal: " + legal + ")");
  }
}

void bind_inputs(pipeline_spec& spec, bindings& b, bool items_overridden) {
  if (spec.inputs.empty()) return;
  b.input_files = list_input_files(spec.inputs, spec.dir, spec.file, spec.inputs_line);
  if (items_overridden && spec.items < b.input_files.size()) b.input_files.resize(spec.items);
  spec.items = b.input_files.size();
}

}  // namespace

std::string describe_function(const stage_function& f) {
  std::string in;
  if (f.takes_source_item) in = "source_item";
  for (const auto* t : f.inputs) in += (in.empty() ? "" : ", ") + t->name;
  return f.name + " (" + in + " -> " + f.output->name + ")";
}

bindings bind_stages(pipeline_spec& spec, const std::vector<std::string>& extra_plugins,
                     bool items_overridden) {
  load_plugins(spec, extra_plugins);
  const graph g(spec);
  bindings b;
  b.functions.assign(spec.stages.size(), nullptr);
  b.sends.assign(spec.edges.size(), nullptr);
  b.takes.assign(spec.edges.size(), nullptr);
  b.input_slot.assign(spec.edges.size(), 0);
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const auto& in = g.inputs(static_cast<int>(s));
    for (std::size_t i = 0; i < in.size(); ++i)
      b.input_slot[static_cast<std::size_t>(in[i])] = static_cast<int>(i);
    stage_spec& st = spec.stages[s];
    if (st.kernel == kernel_kind::exec) {
      st.signature.clear();
      for (const auto& w : st.command) st.signature += (st.signature.empty() ? "" : " ") + w;
    }
    if (st.kernel != kernel_kind::user) continue;
    b.functions[s] = resolve(spec, g, s);
    st.signature = describe_function(*b.functions[s]);
  }
  for (std::size_t e = 0; e < spec.edges.size(); ++e) {
    const auto from = static_cast<std::size_t>(spec.stage_index(spec.edges[e].from));
    const auto to = static_cast<std::size_t>(spec.stage_index(spec.edges[e].to));
    if (b.functions[from]) b.sends[e] = b.functions[from]->output;
    if (b.functions[to] && static_cast<int>(to) != g.source())
      b.takes[e] = b.functions[to]->inputs[static_cast<std::size_t>(b.input_slot[e])];
    check_edge(spec, b, e);
  }
  bind_inputs(spec, b, items_overridden);
  return b;
}

}  // namespace mpipe
