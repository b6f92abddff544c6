// The program's stage registry and plugin loading (stages.hpp). A plugin is checked for its ABI
// and mpipe version before its register function is called, so a library built against another
// mpipe fails with a sentence, not a crash inside a std::function of another layout.
#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "mpipe/stages.hpp"

namespace mpipe {

stage_registry& stages() {
  static stage_registry registry;
  return registry;
}

namespace {

template <class T>
T symbol(void* handle, const char* name, const std::string& path) {
  void* p = dlsym(handle, name);
  if (p == nullptr)
    throw error("plugin " + path + ": no " + name +
                "(): not an mpipe plugin (its stages file needs MPIPE_PLUGIN(registry) { ... })");
  return reinterpret_cast<T>(p);
}

}  // namespace

void load_plugin(const std::string& path, stage_registry& into) {
  static std::mutex m;
  static std::set<std::pair<stage_registry*, std::string>> loaded;
  std::lock_guard lk(m);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw error("plugin " + path + ": no such file");
  const std::string key = std::filesystem::canonical(path, ec).string();
  if (!loaded.insert({&into, key}).second) return;
  // RTLD_NOW: an undefined symbol is reported here, naming it, not at the first item.
  void* handle = dlopen(key.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    loaded.erase({&into, key});
    throw error("plugin " + path + ": cannot load: " + dlerror());
  }
  try {
    const int abi = symbol<int (*)()>(handle, "mpipe_plugin_abi", path)();
    const std::string built = symbol<const char* (*)()>(handle, "mpipe_plugin_version", path)();
    if (abi != plugin_abi || built != mpipe::version)
      throw error("plugin " + path + ": built against mpipe " + built + " (plugin ABI " +
                  std::to_string(abi) + "), this is mpipe " + mpipe::version + " (plugin ABI " +
                  std::to_string(plugin_abi) + "): rebuild it against this mpipe");
    auto reg = symbol<void (*)(stage_registry&)>(handle, "mpipe_plugin_register", path);
    const std::string before = into.origin;
    into.origin = path;
    try {
      reg(into);
    } catch (...) {
      into.origin = before;
      throw;
    }
    into.origin = before;
  } catch (const error&) {
    loaded.erase({&into, key});
    throw;  // the handle stays open: a half-registered plugin's functions may be referenced
  } catch (const std::exception& e) {
    loaded.erase({&into, key});
    throw error("plugin " + path + ": registering its stages failed: " + e.what());
  }
}

}  // namespace mpipe
