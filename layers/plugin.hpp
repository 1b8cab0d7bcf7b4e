#pragma once
// The plugin loader: dlopen a plugin (layers/plugin_api.hpp), check the API version it was built
// for, run its entry point once. Every failure is a core::Error naming the file and what is wrong
// (the missing symbol and dlerror(), both API versions, the taken name); nothing crashes.
//
//   layers::load_plugin("build/libmy_layer.so");    // idempotent per file
//   layers::make_layer("my_layer", {"relu1"});
//
// Call it after the built-in registries are filled (app::load_plugins does both), so a plugin
// cannot take a built-in name.

#include <string>
#include <vector>

namespace lowbit::layers {

// RAII owner of one dlopen handle (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE: every undefined symbol
// is resolved at load, against the executable's exported ones; the code stays mapped after
// dlclose because registries keep functions that live in it).
class SharedLibrary {
 public:
  // Opens `path`; an error names the file and quotes dlerror().
  explicit SharedLibrary(const std::string& path);
  ~SharedLibrary();
  SharedLibrary(SharedLibrary&& other) noexcept;
  SharedLibrary& operator=(SharedLibrary&& other) noexcept;
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  // The address of `name`; an error naming the file, the symbol and dlerror() when it is missing.
  void* symbol(const char* name) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* handle_ = nullptr;
};

struct LoadedPlugin {
  std::string path;                     // absolute, symlinks resolved
  int api_version = 0;                  // what the plugin was built for
  std::vector<std::string> registered;  // "layer 'rsign'", "quantizer 'ternary'", ...
};

// Loads the plugin at `path` (relative: against the working directory) unless find_loaded_plugin
// already has it, checks lowbit_plugin_api_version() == LOWBIT_PLUGIN_API_VERSION and calls
// lowbit_plugin_register(). Returns the process's record of it.
const LoadedPlugin& load_plugin(const std::string& path);

// The loaded plugin that stands for `path`: the same file, or, when no file exists at `path`, a
// loaded plugin with the same file name (a `--plugin NEW/libx.so` given on the command line stands
// in for a stored path that has moved). nullptr when none.
const LoadedPlugin* find_loaded_plugin(const std::string& path);

// Every plugin loaded in this process, in load order.
std::vector<LoadedPlugin> loaded_plugins();

// Who registered `kind` `name`: "plugin '<file>'" or "lowbit (built in)" when no plugin did.
std::string registrant(const std::string& kind, const std::string& name);

}  // namespace lowbit::layers
