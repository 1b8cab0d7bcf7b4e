#include "apps/config_schema.hpp"

#include <fmt/format.h>

namespace lowbit::app {
namespace {

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "nothing (null)";
  return "'" + node.Scalar() + "'";
}

template <typename T>
T scalar_as(const YAML::Node& node, const std::string& path, const char* expected) {
  if (!node.IsScalar()) core::fail("config: {} must be {}, got {}", path, expected, describe(node));
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    core::fail("config: {} must be {}, got {}", path, expected, describe(node));
  }
}

template <typename T>
std::vector<T> list_as(const YAML::Node& node, const std::string& path, const char* expected) {
  if (!node.IsSequence()) core::fail("config: {} must be a list of {}, got {}", path, expected, describe(node));
  std::vector<T> out;
  for (std::size_t i = 0; i < node.size(); ++i) {
    out.push_back(yaml_as<T>(node[i], fmt::format("{}[{}]", path, i)));
  }
  return out;
}

}  // namespace

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

template <> std::string yaml_as<std::string>(const YAML::Node& n, const std::string& p) {
  return scalar_as<std::string>(n, p, "a string");
}
template <> bool yaml_as<bool>(const YAML::Node& n, const std::string& p) {
  return scalar_as<bool>(n, p, "true or false");
}
template <> std::int64_t yaml_as<std::int64_t>(const YAML::Node& n, const std::string& p) {
  return scalar_as<std::int64_t>(n, p, "an integer");
}
template <> std::uint64_t yaml_as<std::uint64_t>(const YAML::Node& n, const std::string& p) {
  return scalar_as<std::uint64_t>(n, p, "a non-negative integer");
}
template <> double yaml_as<double>(const YAML::Node& n, const std::string& p) {
  return scalar_as<double>(n, p, "a number");
}
template <> std::vector<double> yaml_as<std::vector<double>>(const YAML::Node& n, const std::string& p) {
  return list_as<double>(n, p, "numbers");
}
template <> std::vector<std::int64_t> yaml_as<std::vector<std::int64_t>>(const YAML::Node& n,
                                                                         const std::string& p) {
  return list_as<std::int64_t>(n, p, "integers");
}
template <> std::vector<std::string> yaml_as<std::vector<std::string>>(const YAML::Node& n,
                                                                       const std::string& p) {
  return list_as<std::string>(n, p, "strings");
}

void YamlReader::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = kv.first.as<std::string>();
    bool ok = false;
    for (const auto& k : known_) ok = ok || k == key;
    if (ok) continue;
    const std::string near = core::closest_match(key, known_);
    std::string msg = fmt::format("config: unknown key '{}'", join_path(path_, key));
    if (!near.empty()) msg += fmt::format("; did you mean '{}'?", join_path(path_, near));
    msg += fmt::format(" (valid keys{}: {})", path_.empty() ? "" : " under " + path_,
                       fmt::join(known_, ", "));
    throw core::Error(msg);
  }
}

void apply_override(YAML::Node& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  core::check(eq != std::string::npos && eq > 0,
              "--set {}: expected KEY.PATH=VALUE, e.g. --set optim.lr=0.05", assignment);
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    core::fail("--set {}: the value is not valid YAML ({})", assignment, e.msg);
  }
  std::vector<std::string> keys;
  std::size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    keys.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // yaml-cpp nodes are handles: walk with fresh handles so assignment rebinds nothing.
  std::vector<YAML::Node> chain{root};
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    core::check(!keys[i].empty(), "--set {}: empty key in path", assignment);
    YAML::Node parent = chain.back();
    if (!parent[keys[i]] || !parent[keys[i]].IsMap()) parent[keys[i]] = YAML::Node(YAML::NodeType::Map);
    chain.push_back(parent[keys[i]]);
  }
  YAML::Node last = chain.back();
  last[keys.back()] = value;
}

}  // namespace lowbit::app
