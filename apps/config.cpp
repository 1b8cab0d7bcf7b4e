#include "apps/config.hpp"

#include "apps/session.hpp"

#include <filesystem>

namespace lowbit::app {
namespace {

// Relative plugin paths are relative to the config file's folder (the working directory without
// a file), so a config and its plugins move together.
void resolve_plugin_paths(Config& config, const std::string& config_path) {
  const std::filesystem::path base =
      config_path.empty() ? std::filesystem::current_path()
                          : std::filesystem::absolute(config_path).parent_path();
  for (std::string& p : config.plugins) {
    if (!p.empty() && std::filesystem::path(p).is_relative()) p = (base / p).lexically_normal().string();
  }
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node root(YAML::NodeType::Map);
  if (!path.empty()) {
    core::check(std::filesystem::exists(path), "config file '{}' does not exist", path);
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      core::fail("config file '{}' is not valid YAML: line {}, column {}: {}", path, e.mark.line + 1,
                 e.mark.column + 1, e.msg);
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    core::check(root.IsMap(), "config file '{}' must hold a mapping (model:, data:, ...) at the top", path);
  }
  for (const auto& o : overrides) apply_override(root, o);
  Config config;
  try {
    read_config(root, config);
    resolve_plugin_paths(config, path);
    check_config(config);
  } catch (const core::Error& e) {
    if (path.empty()) throw;
    throw core::Error(std::string(e.what()) + " (in " + path + ")");
  }
  return config;
}

Config parse_config(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    core::fail("stored config is not valid YAML: {}", e.msg);
  }
  Config config;
  read_config(root, config);
  check_config(config);
  return config;
}

std::string to_yaml(const Config& config) { return write_config(config); }

}  // namespace lowbit::app
