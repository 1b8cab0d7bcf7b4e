#pragma once
// Option structs <-> string-keyed option maps, so the config layer can fill any registered
// optimizer's or schedule's options from YAML without knowing the struct.
//
// Each options struct (SgdOptions, CosineOptions, ...) is plain data with its defaults in the
// member initialisers, plus one visit_fields(Options&, FieldVisitor&) overload that names every
// field once. From that single list:
//   to_option_map(SgdOptions{})      -> {"lr": 0.1, "momentum": 0.9, ...}   (schema + defaults)
//   from_option_map<SgdOptions>(m, "optimizer 'sgd'")
//                                    -> defaults overridden by m; an unknown key is an Error that
//                                       suggests the closest known key, a wrong type names both.
// Value types: bool, integer (int64), number (double), string (enums such as NoDecayRule), and
// integer list. An integer is accepted for a number field, an integral number for an integer one.

#include "optim/param_group.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lowbit::optim {

using OptionValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>>;
using OptionMap = std::map<std::string, OptionValue, std::less<>>;

// "bool", "integer", "number", "string", "integer list".
std::string_view option_type_name(const OptionValue& value);
// Human-readable value: true, 3, 0.1, vectors, [30, 60].
std::string format_option(const OptionValue& value);

// Sees each field of an options struct by reference, with its key.
class FieldVisitor {
 public:
  virtual ~FieldVisitor() = default;
  virtual void field(std::string_view key, bool& value) = 0;
  virtual void field(std::string_view key, std::int64_t& value) = 0;
  virtual void field(std::string_view key, double& value) = 0;
  virtual void field(std::string_view key, std::vector<std::int64_t>& value) = 0;
  virtual void field(std::string_view key, NoDecayRule& value) = 0;  // as a string
};

// Writes every visited field into a map.
class OptionMapWriter final : public FieldVisitor {
 public:
  void field(std::string_view key, bool& value) override;
  void field(std::string_view key, std::int64_t& value) override;
  void field(std::string_view key, double& value) override;
  void field(std::string_view key, std::vector<std::int64_t>& value) override;
  void field(std::string_view key, NoDecayRule& value) override;
  OptionMap take() { return std::move(map_); }

 private:
  OptionMap map_;
};

// Overwrites visited fields with the map's values; finish() rejects keys no field consumed.
// `what` names the owner in errors ("optimizer 'sgd'").
class OptionMapReader final : public FieldVisitor {
 public:
  OptionMapReader(const OptionMap& map, std::string what) : map_(map), what_(std::move(what)) {}
  void field(std::string_view key, bool& value) override;
  void field(std::string_view key, std::int64_t& value) override;
  void field(std::string_view key, double& value) override;
  void field(std::string_view key, std::vector<std::int64_t>& value) override;
  void field(std::string_view key, NoDecayRule& value) override;
  void finish() const;

 private:
  const OptionValue* find(std::string_view key);
  [[noreturn]] void type_error(std::string_view key, const OptionValue& got,
                               std::string_view want) const;

  const OptionMap& map_;
  std::string what_;
  std::vector<std::string> known_;  // every key visited, for unknown-key suggestions
};

template <typename Options>
OptionMap to_option_map(Options options) {
  OptionMapWriter writer;
  visit_fields(options, writer);
  return writer.take();
}

template <typename Options>
Options from_option_map(const OptionMap& map, std::string what) {
  Options options;
  OptionMapReader reader(map, std::move(what));
  visit_fields(options, reader);
  reader.finish();
  return options;
}

}  // namespace lowbit::optim
