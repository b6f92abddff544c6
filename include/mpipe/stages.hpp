// Your own code as a stage. The YAML spec keeps the topology, placement and replicas; a stage
// whose `kernel:` names a registered function runs it on each item. The function takes one
// argument per in-edge, in the order the spec lists those edges (a join gets all its inputs),
// and what it returns goes on every out-edge. So "does distributing *my* pipeline pay?" is
// measured on real code and real data structures, not on sleeps of a guessed length.
//
//   struct Image { int w = 0, h = 0; std::vector<unsigned char> px;
//                  template <class A> void serialize(A& a, unsigned) { a & w & h & px; } };
//   mpipe::stages().add("decode", [](const mpipe::source_item& in) { return decode(in.data); });
//   mpipe::stages().add("blur", [](const Image& in) { return blur(in); });   // kernel: blur
//   mpipe::run_pipeline(world, mpipe::load_spec("image.yaml"), options);
//
// Same-rank hand-offs move the object (or share it with every consumer that takes const T&);
// it is never serialized. Across ranks it is serialized by its type: an MPI datatype where
// Boost.MPI says the type is one (BOOST_IS_MPI_DATATYPE), its bytes where it is trivially
// copyable (and the contents for mpipe::blob and std::string), Boost.Serialization otherwise.
// An edge's `serialization:` overrides that where the type allows it. A stage may block and may
// use OpenMP: `threads:` is its omp_get_max_threads().
//
// In a plugin (`mpipe run --plugin libmine.so`, or `plugins:` in the spec), register into the
// registry you are given, and link only mpipe::plugin (headers, Boost.Serialization, MPI):
//   MPIPE_PLUGIN(registry) { registry.add("blur", blur); }
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mpipe/bytes.hpp"
#include "mpipe/detail/typed.hpp"
#include "mpipe/error.hpp"
#include "mpipe/version.hpp"

namespace mpipe {

// What the source stage's function gets for each item: its number, the file it came from
// (`inputs:`; empty otherwise) and the bytes (the file's, or payload_bytes of synthetic data).
struct source_item {
  std::uint64_t index = 0;
  std::string file;
  blob data;
};

// A registered function, type-erased: what the runtime checks edges against and calls.
struct stage_function {
  std::string name;
  std::string origin;  // "<program>" or the plugin's path, for errors
  bool takes_source_item = false;
  std::vector<const detail::type_ops*> inputs;  // one per in-edge (empty for a source)
  const detail::type_ops* output = nullptr;
  std::function<std::shared_ptr<void>(std::vector<std::shared_ptr<void>>& inputs)> call;
};

class stage_registry {
 public:
  // Registers fn under name (what `kernel:` says). Throws mpipe::error on a second function of
  // the same name or a built-in kernel's name.
  template <class F>
  stage_registry& add(const std::string& name, F fn);

  const stage_function* find(const std::string& name) const {
    const auto it = functions_.find(name);
    return it == functions_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : functions_) out.push_back(entry.first);
    return out;
  }
  std::string origin = "<program>";  // set by load_plugin while a plugin registers

 private:
  void insert(stage_function f) {
    static const char* const builtin[] = {"sleep", "spin", "compute", "exec"};
    for (const char* b : builtin)
      if (f.name == b) throw error("stage function '" + f.name + "': a built-in kernel's name");
    if (const auto* old = find(f.name))
      throw error("stage function '" + f.name + "' registered twice (by " + old->origin + " and " +
                  f.origin + ")");
    functions_.emplace(f.name, std::move(f));
  }
  std::map<std::string, stage_function> functions_;
};

// The program's registry: what `kernel:` names are looked up in. Plugins add to it on load.
stage_registry& stages();

// Loads a plugin built with MPIPE_PLUGIN and registers its stages into `into`. Throws
// mpipe::error naming the file when it cannot be loaded, is not an mpipe plugin, or was built
// against another mpipe version or plugin ABI. A file loaded twice registers once.
void load_plugin(const std::string& path, stage_registry& into = stages());

// Changes whenever stage_function, type_ops or the registry change layout.
inline constexpr int plugin_abi = 1;

template <class F>
stage_registry& stage_registry::add(const std::string& name, F fn) {
  using sig = detail::signature<std::remove_cvref_t<F>>;
  using R = typename sig::result;
  static_assert(!std::is_void_v<R> && !std::is_reference_v<R>,
                "a stage returns the value its out-edges carry (by value)");
  stage_function f;
  f.name = name;
  f.origin = origin;
  f.output = detail::ops_of<R>();
  [&]<class... P>(std::tuple<P...>*) {
    if constexpr (sizeof...(P) == 1 &&
                  (std::is_same_v<std::remove_cvref_t<P>, source_item> && ...)) {
      f.takes_source_item = true;
    } else {
      (f.inputs.push_back(detail::ops_of<std::remove_cvref_t<P>>()), ...);
    }
    f.call = [fn = std::move(fn)](std::vector<std::shared_ptr<void>>& in) mutable {
      return [&]<std::size_t... I>(std::index_sequence<I...>)->std::shared_ptr<void> {
        return std::make_shared<R>(fn(detail::argument<P>(in[I])...));
      }
      (std::index_sequence_for<P...>{});
    };
  }(static_cast<typename sig::params*>(nullptr));
  insert(std::move(f));
  return *this;
}

}  // namespace mpipe

// The entry points mpipe looks for in a plugin: its ABI and version (checked before anything
// else is called) and the function that registers its stages.
#define MPIPE_PLUGIN(registry)                                               \
  extern "C" int mpipe_plugin_abi() { return ::mpipe::plugin_abi; }          \
  extern "C" const char* mpipe_plugin_version() { return ::mpipe::version; } \
  extern "C" void mpipe_plugin_register(::mpipe::stage_registry& registry);  \
  extern "C" void mpipe_plugin_register(::mpipe::stage_registry& registry)
