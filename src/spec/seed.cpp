// The seed spec and the named scenarios are jobs/pipelines/*.yaml, embedded by CMake (see the
// mpipe_spec section of CMakeLists.txt): one source of truth for the files users read and what
// `mpipe run [--scenario NAME]` runs.
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

const std::string& seed_spec_text() {
  static const std::string text =
#include "seed_yaml.inc"
      ;
  return text;
}

pipeline_spec seed_spec() { return parse_spec(seed_spec_text(), "<builtin>"); }

namespace {

const std::string& render_farm_text() {
  static const std::string text =
#include "render_farm_yaml.inc"
      ;
  return text;
}

const std::string& api_calls_text() {
  static const std::string text =
#include "api_calls_yaml.inc"
      ;
  return text;
}

}  // namespace

const std::vector<scenario_info>& scenarios() {
  static const std::vector<scenario_info> list = {
      {"seed", "jobs/pipelines/seed.yaml",
       "the article's reference pipeline: Main -> A -> B -> C -> {C1..C4} -> D -> Main",
       seed_spec_text()},
      {"render-farm", "jobs/pipelines/render-farm.yaml",
       "1000 independent frames of 10 s of compute; farm them with --replicas Render=N",
       render_farm_text()},
      {"api-calls", "jobs/pipelines/api-calls.yaml",
       "100 calls of 50 ms that wait (sleep), 10 at a time by 10 callers", api_calls_text()},
  };
  return list;
}

pipeline_spec scenario_spec(const std::string& name) {
  std::string known;
  for (const auto& s : scenarios()) {
    if (s.name == name) return parse_spec(s.text, "<scenario " + s.name + ">");
    known += (known.empty() ? "" : ", ") + s.name;
  }
  const std::string shown = name.size() > 60 ? name.substr(0, 60) + "..." : name;
  throw spec_error(
      "<command line>", 0, "--scenario",
      "unknown scenario '" + shown + "' (known: " + known + "; `mpipe scenarios` lists them)");
}

}  // namespace mpipe
