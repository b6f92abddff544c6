// The seed spec is jobs/pipelines/seed.yaml, embedded by CMake (see the mpipe_spec section of
// CMakeLists.txt): one source of truth for the file users read and the default `mpipe run`.
#include <string>

#include "mpipe/spec.hpp"

namespace mpipe {

const std::string& seed_spec_text() {
  static const std::string text =
#include "seed_yaml.inc"
      ;
  return text;
}

pipeline_spec seed_spec() { return parse_spec(seed_spec_text(), "<builtin>"); }

}  // namespace mpipe
