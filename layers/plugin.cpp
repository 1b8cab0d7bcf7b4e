#include "layers/plugin.hpp"

#include "core/error.hpp"
#include "layers/plugin_api.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>
#include <utility>

namespace lowbit::layers {
namespace fs = std::filesystem;

namespace {

std::string last_dlerror() {
  const char* e = dlerror();
  return e != nullptr ? e : "no error reported";
}

struct Entry {
  LoadedPlugin info;
  SharedLibrary library;
};

// The plugins of this process (load order) and who registered each plugin name ("kind\0name").
// Loading happens at start-up, from one thread.
struct PluginState {
  std::vector<std::unique_ptr<Entry>> plugins;
  std::map<std::string, std::string> owners;
  LoadedPlugin* loading = nullptr;  // the plugin whose entry point runs now
};

PluginState& state() {
  static PluginState s;
  return s;
}

std::string owner_key(const std::string& kind, const std::string& name) {
  return kind + '\0' + name;
}

fs::path absolute_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  return ec ? fs::path(path) : p.lexically_normal();
}

}  // namespace

SharedLibrary::SharedLibrary(const std::string& path) : path_(path) {
  dlerror();  // clear a stale error
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle_ == nullptr) {
    core::fail(
        "cannot load plugin '{}': {}. HINT: build it with lowbit_add_plugin() against the "
        "lowbit you run; an undefined symbol means it was built against other lowbit headers "
        "or uses a library the executable does not link",
        path, last_dlerror());
  }
}

SharedLibrary::~SharedLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

SharedLibrary::SharedLibrary(SharedLibrary&& other) noexcept
    : path_(std::move(other.path_)), handle_(std::exchange(other.handle_, nullptr)) {}

SharedLibrary& SharedLibrary::operator=(SharedLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) dlclose(handle_);
    path_ = std::move(other.path_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

void* SharedLibrary::symbol(const char* name) const {
  dlerror();
  void* p = dlsym(handle_, name);
  if (p == nullptr) {
    core::fail(
        "plugin '{}' has no entry point '{}' ({}). HINT: a lowbit plugin defines "
        "extern \"C\" int lowbit_plugin_api_version() and extern \"C\" void "
        "lowbit_plugin_register(lowbit::PluginContext*) (layers/plugin_api.hpp)",
        path_, name, last_dlerror());
  }
  return p;
}

void PluginContext::claim(const std::string& kind, const std::string& name, bool taken) {
  core::check(!name.empty(), "plugin '{}' registers a {} with an empty name", plugin_, kind);
  if (taken) {
    core::fail(
        "plugin '{}' registers {} '{}', but that name is already taken by {}. HINT: rename "
        "the {} in the plugin's lowbit_plugin_register(), or do not load both",
        plugin_, kind, name, registrant(kind, name), kind);
  }
  state().owners[owner_key(kind, name)] = plugin_;
  if (state().loading != nullptr) {
    state().loading->registered.push_back(fmt::format("{} '{}'", kind, name));
  }
}

std::string registrant(const std::string& kind, const std::string& name) {
  const auto it = state().owners.find(owner_key(kind, name));
  return it == state().owners.end() ? std::string("lowbit (built in)")
                                    : fmt::format("plugin '{}'", it->second);
}

const LoadedPlugin* find_loaded_plugin(const std::string& path) {
  const fs::path p = absolute_path(path);
  std::error_code ec;
  if (fs::exists(p, ec)) {
    const fs::path canonical = fs::canonical(p, ec);
    for (const auto& e : state().plugins) {
      if (!ec && fs::path(e->info.path) == canonical) return &e->info;
    }
    return nullptr;
  }
  for (const auto& e : state().plugins) {
    if (fs::path(e->info.path).filename() == p.filename()) return &e->info;
  }
  return nullptr;
}

const LoadedPlugin& load_plugin(const std::string& path) {
  if (const LoadedPlugin* done = find_loaded_plugin(path)) return *done;
  const fs::path p = absolute_path(path);
  std::error_code ec;
  core::check(fs::exists(p, ec),
              "plugin file '{}' does not exist. HINT: build the plugin first (lowbit_add_plugin "
              "in CMake) or fix the path; a config's relative plugin paths are resolved against "
              "the config file's folder",
              p.string());
  core::check(fs::is_regular_file(p, ec), "plugin '{}' is not a file (a shared library .so)",
              p.string());
  const fs::path canonical = fs::canonical(p, ec);
  const std::string file = ec ? p.string() : canonical.string();

  SharedLibrary library(file);
  auto* reg =
      reinterpret_cast<decltype(&lowbit_plugin_register)>(library.symbol("lowbit_plugin_register"));
  auto* version_fn = reinterpret_cast<decltype(&lowbit_plugin_api_version)>(
      library.symbol("lowbit_plugin_api_version"));
  const int version = version_fn();
  core::check(version == LOWBIT_PLUGIN_API_VERSION,
              "plugin '{}' was built for plugin API version {}, but this lowbit has plugin API "
              "version {}. HINT: rebuild the plugin against this lowbit's installed headers "
              "(find_package(lowbit) + lowbit_add_plugin)",
              file, version, LOWBIT_PLUGIN_API_VERSION);

  auto entry = std::make_unique<Entry>(Entry{LoadedPlugin{file, version, {}}, std::move(library)});
  PluginContext context(file);
  state().loading = &entry->info;
  try {
    reg(&context);
  } catch (const std::exception& e) {
    state().loading = nullptr;
    core::fail("plugin '{}' failed to register: {}", file, e.what());
  } catch (...) {
    state().loading = nullptr;
    core::fail("plugin '{}' failed to register: it threw something that is not a std::exception",
               file);
  }
  state().loading = nullptr;
  state().plugins.push_back(std::move(entry));
  return state().plugins.back()->info;
}

std::vector<LoadedPlugin> loaded_plugins() {
  std::vector<LoadedPlugin> out;
  for (const auto& e : state().plugins) out.push_back(e->info);
  return out;
}

}  // namespace lowbit::layers
