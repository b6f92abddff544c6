// A plugin "built against another mpipe" for tests/cli/user_code.sh: the three entry points of
// MPIPE_PLUGIN written by hand, with an ABI and version this mpipe does not have. No mpipe
// headers: mpipe must refuse it before calling mpipe_plugin_register.
#include <cstdlib>

namespace mpipe {
class stage_registry;
}

extern "C" int mpipe_plugin_abi() { return 999; }
extern "C" const char* mpipe_plugin_version() { return "0.0.0-other"; }
extern "C" void mpipe_plugin_register(mpipe::stage_registry&) {
  std::abort();  // never called: the ABI check comes first
}
