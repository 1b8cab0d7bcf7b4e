#pragma once
// Strict mapping between YAML and plain config structs.
//
// A config struct lists its keys once, in a visit() member:
//
//   struct OptimConfig {
//     std::string name = "sgd";
//     double lr = 0.1;
//     template <typename V> void visit(V& v) {
//       v.field("name", name, "optimizer: sgd, adam, adamw");
//       v.field("lr", lr, "base learning rate", positive);
//     }
//   };
//
// and the same list drives reading (YamlReader: unknown keys, wrong types and bad values are
// errors that name the key path and suggest the closest valid key), writing (YamlWriter, for
// --print-config and the run directory) and nothing else: defaults live in the struct.

#include "core/error.hpp"
#include "core/strings.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lowbit::app {

// Returns an error text for a bad value, or nothing.
template <typename T>
using Validator = std::function<std::optional<std::string>(const T&)>;

inline std::optional<std::string> positive(const double& v) {
  if (v > 0) return std::nullopt;
  return "must be > 0";
}
inline std::optional<std::string> non_negative(const double& v) {
  if (v >= 0) return std::nullopt;
  return "must be >= 0";
}
inline std::optional<std::string> positive_int(const std::int64_t& v) {
  if (v > 0) return std::nullopt;
  return "must be > 0";
}
inline std::optional<std::string> non_negative_int(const std::int64_t& v) {
  if (v >= 0) return std::nullopt;
  return "must be >= 0";
}
inline Validator<std::string> one_of(std::vector<std::string> choices) {
  return [choices = std::move(choices)](const std::string& v) -> std::optional<std::string> {
    for (const auto& c : choices) {
      if (c == v) return std::nullopt;
    }
    std::string msg = "must be one of:";
    for (const auto& c : choices) msg += " " + c;
    const std::string near = core::closest_match(v, choices);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    return msg;
  };
}

std::string join_path(const std::string& parent, const std::string& key);

// Scalar conversions with errors naming the key path; defined for the field types configs use.
template <typename T> T yaml_as(const YAML::Node& node, const std::string& path);

class YamlReader {
 public:
  YamlReader(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
      core::fail("config: '{}' must be a mapping of keys to values", path_.empty() ? "<root>" : path_);
    }
  }

  template <typename T>
  void field(const std::string& key, T& value, const char* help, Validator<T> check = {}) {
    (void)help;
    known_.push_back(key);
    const YAML::Node node = child(key);
    if (!node) return;  // keep the default
    const std::string path = join_path(path_, key);
    value = yaml_as<T>(node, path);
    if (check) {
      if (auto err = check(value)) core::fail("config: {} = {} {}", path, YAML::Dump(node), *err);
    }
  }

  template <typename S>
  void section(const std::string& key, S& sub, const char* help) {
    (void)help;
    known_.push_back(key);
    YamlReader r(child(key), join_path(path_, key));
    sub.visit(r);
    r.finish();
  }

  // A list of mappings, each read strictly into a copy of `prototype` (so an item states only
  // what differs from it). Absent: the list keeps its value.
  template <typename S>
  void list(const std::string& key, std::vector<S>& items, const char* help, const S& prototype) {
    (void)help;
    known_.push_back(key);
    const YAML::Node node = child(key);
    if (!node) return;
    const std::string path = join_path(path_, key);
    if (node.IsNull()) {
      items.clear();
      return;
    }
    if (!node.IsSequence()) core::fail("config: '{}' must be a list of mappings (- key: value)", path);
    items.clear();
    for (std::size_t i = 0; i < node.size(); ++i) {
      S item = prototype;
      YamlReader r(node[i], path + "[" + std::to_string(i) + "]");
      item.visit(r);
      r.finish();
      items.push_back(std::move(item));
    }
  }

  // Rejects keys no field or section claimed.
  void finish() const;

 private:
  // Const lookup: never inserts the key into the tree.
  YAML::Node child(const std::string& key) const {
    const YAML::Node& n = node_;
    if (!n || !n.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    return n[key];
  }

  YAML::Node node_;
  std::string path_;
  std::vector<std::string> known_;
};

// Writes one field value: scalars as they are, lists in flow style ([1, 2]). Numbers in their
// shortest form that reads back exactly (0.1, not yaml-cpp's 0.10000000000000001).
inline void emit_number(YAML::Emitter& out, double value) { out << fmt::format("{}", value); }

template <typename T>
void emit_value(YAML::Emitter& out, const T& value) {
  if constexpr (std::is_same_v<T, double>) {
    emit_number(out, value);
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const double x : value) emit_number(out, x);
    out << YAML::EndSeq;
  } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>> ||
                       std::is_same_v<T, std::vector<std::string>>) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& x : value) out << x;
    out << YAML::EndSeq;
  } else {
    out << value;
  }
}

class YamlWriter {
 public:
  explicit YamlWriter(YAML::Emitter& out) : out_(out) {}

  template <typename T>
  void field(const std::string& key, const T& value, const char* help, Validator<T> = {}) {
    out_ << YAML::Key << key << YAML::Value;
    emit_value(out_, value);
    out_ << YAML::Comment(help);
  }

  template <typename S>
  void section(const std::string& key, const S& sub, const char* help) {
    out_ << YAML::Key << key << YAML::Comment(help) << YAML::Value << YAML::BeginMap;
    YamlWriter w(out_);
    const_cast<S&>(sub).visit(w);
    out_ << YAML::EndMap;
  }

  template <typename S>
  void list(const std::string& key, const std::vector<S>& items, const char* help, const S&) {
    out_ << YAML::Key << key << YAML::Comment(help) << YAML::Value << YAML::BeginSeq;
    for (const auto& item : items) {
      out_ << YAML::BeginMap;
      YamlWriter w(out_);
      const_cast<S&>(item).visit(w);
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndSeq;
  }

 private:
  YAML::Emitter& out_;
};

// Reads a config struct from a YAML node strictly (see YamlReader).
template <typename S>
void read_config(const YAML::Node& root, S& config) {
  YamlReader r(root, "");
  config.visit(r);
  r.finish();
}

// The effective config as YAML text, every key with its help as a comment.
template <typename S>
std::string write_config(const S& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  YamlWriter w(out);
  const_cast<S&>(config).visit(w);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// Applies `a.b.c=value` to the YAML tree (value parsed as YAML, so lists work: a.b=[1,2]).
void apply_override(YAML::Node& root, const std::string& assignment);

}  // namespace lowbit::app
