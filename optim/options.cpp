#include "optim/options.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"

#include <fmt/format.h>

#include <cmath>

namespace lowbit::optim {

std::string_view option_type_name(const OptionValue& value) {
  switch (value.index()) {
    case 0: return "bool";
    case 1: return "integer";
    case 2: return "number";
    case 3: return "string";
    default: return "integer list";
  }
}

std::string format_option(const OptionValue& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<std::int64_t>(&value)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  return fmt::format("[{}]", fmt::join(std::get<std::vector<std::int64_t>>(value), ", "));
}

void OptionMapWriter::field(std::string_view key, bool& value) { map_[std::string(key)] = value; }
void OptionMapWriter::field(std::string_view key, std::int64_t& value) {
  map_[std::string(key)] = value;
}
void OptionMapWriter::field(std::string_view key, double& value) { map_[std::string(key)] = value; }
void OptionMapWriter::field(std::string_view key, std::vector<std::int64_t>& value) {
  map_[std::string(key)] = value;
}
void OptionMapWriter::field(std::string_view key, NoDecayRule& value) {
  map_[std::string(key)] = std::string(no_decay_rule_name(value));
}

const OptionValue* OptionMapReader::find(std::string_view key) {
  known_.emplace_back(key);
  const auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

void OptionMapReader::type_error(std::string_view key, const OptionValue& got,
                                 std::string_view want) const {
  core::fail("{}: option '{}' must be {} {}, got the {} {}", what_, key,
             want == "integer" ? "an" : "a", want, option_type_name(got), format_option(got));
}

void OptionMapReader::field(std::string_view key, bool& value) {
  const OptionValue* v = find(key);
  if (v == nullptr) return;
  if (const auto* b = std::get_if<bool>(v)) {
    value = *b;
    return;
  }
  type_error(key, *v, "bool");
}

void OptionMapReader::field(std::string_view key, std::int64_t& value) {
  const OptionValue* v = find(key);
  if (v == nullptr) return;
  if (const auto* i = std::get_if<std::int64_t>(v)) {
    value = *i;
    return;
  }
  // YAML reads 1e4 as a number; accept it when it is an exact integer.
  if (const auto* d = std::get_if<double>(v)) {
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::abs(*d) < 9.0e15) {
      value = static_cast<std::int64_t>(*d);
      return;
    }
  }
  type_error(key, *v, "integer");
}

void OptionMapReader::field(std::string_view key, double& value) {
  const OptionValue* v = find(key);
  if (v == nullptr) return;
  if (const auto* d = std::get_if<double>(v)) {
    value = *d;
    return;
  }
  if (const auto* i = std::get_if<std::int64_t>(v)) {
    value = static_cast<double>(*i);
    return;
  }
  type_error(key, *v, "number");
}

void OptionMapReader::field(std::string_view key, std::vector<std::int64_t>& value) {
  const OptionValue* v = find(key);
  if (v == nullptr) return;
  if (const auto* l = std::get_if<std::vector<std::int64_t>>(v)) {
    value = *l;
    return;
  }
  type_error(key, *v, "integer list");
}

void OptionMapReader::field(std::string_view key, NoDecayRule& value) {
  const OptionValue* v = find(key);
  if (v == nullptr) return;
  if (const auto* s = std::get_if<std::string>(v)) {
    try {
      value = parse_no_decay_rule(*s);
    } catch (const core::Error& e) {
      core::fail("{}: option '{}': {}", what_, key, e.what());
    }
    return;
  }
  type_error(key, *v, "string");
}

void OptionMapReader::finish() const {
  for (const auto& [key, value] : map_) {
    bool found = false;
    for (const std::string& k : known_) found = found || k == key;
    if (found) continue;
    const std::string suggestion = core::closest_match(key, known_);
    core::fail("{}: unknown option '{}'{}. HINT: known options are: {}", what_, key,
               suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion),
               fmt::join(known_, ", "));
  }
}

}  // namespace lowbit::optim
