// What a spec's user code resolves to, before any work starts and on every rank: each
// `kernel: NAME` stage's registered function, the type every edge carries, where each edge sits
// among its consumer's inputs, the serialization a typed edge uses, and the source's files.
// Every mismatch is a spec_error naming the file, line and stage, so a typo in a 64-rank job is
// one sentence, not a crash at the first item.
#pragma once

#include <string>
#include <vector>

#include "mpipe/spec.hpp"
#include "mpipe/stages.hpp"

namespace mpipe {

struct bindings {
  std::vector<const stage_function*> functions;  // per stage; null unless kernel user
  // Per edge: the type its producer sends (null: bytes, from a synthetic or exec stage) and the
  // type its consumer takes (null: bytes, or a stage that ignores its inputs).
  std::vector<const detail::type_ops*> sends, takes;
  std::vector<int> input_slot;           // per edge: its position among its consumer's inputs
  std::vector<std::string> input_files;  // `inputs:`, sorted; empty: synthetic payloads
};

// Loads spec.plugins and `extra_plugins` (--plugin) into stages(), resolves every user stage,
// checks each edge's types and sets each typed edge's serialization in spec (its type's
// natural one unless the spec gave a legal one), and lists `inputs:` (setting spec.items, or
// taking the first spec.items files when an override asked for fewer).
bindings bind_stages(pipeline_spec& spec, const std::vector<std::string>& extra_plugins,
                     bool items_overridden);

// "blur (Image -> Features)": a function and its types, for the dry run and errors.
std::string describe_function(const stage_function& f);

}  // namespace mpipe
