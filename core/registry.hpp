#pragma once
// Registry: factories looked up by name (layers, quantizers, optimizers, schedules, datasets,
// models). Registries are filled by explicit register_builtin_*() functions and plugins, never by
// static initialisers. Fill at start-up, then read from any number of threads; add() is not
// synchronised.
//
//   Registry<OptimizerFactory> optimizers("optimizer");
//   optimizers.add("sgd", make_sgd);
//   optimizers.get("adma");
//   // Error: unknown optimizer 'adma'; did you mean 'adam'? known: adam, sgd

#include "core/error.hpp"
#include "core/strings.hpp"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::core {

template <typename Factory>
class Registry {
 public:
  // `kind` names what is registered ("optimizer"); it appears in every error message.
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  // Registers `factory` under `name`. An empty or already registered name is an error.
  void add(std::string name, Factory factory) {
    check(!name.empty(), "cannot register a {} with an empty name", kind_);
    check(!entries_.contains(name),
          "{} '{}' is already registered. HINT: each name may be registered once; rename the "
          "plugin's {} or drop the duplicate registration",
          kind_, name, kind_);
    entries_.emplace(std::move(name), std::move(factory));
  }

  // The factory registered under `name`. A miss throws an Error that suggests the closest known
  // name and lists all of them.
  const Factory& get(std::string_view name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) fail("{}", miss_message(name));
    return it->second;
  }

  // Calls the factory registered under `name` with `args`.
  template <typename... Args>
  decltype(auto) create(std::string_view name, Args&&... args) const {
    return std::invoke(get(name), std::forward<Args>(args)...);
  }

  bool contains(std::string_view name) const { return entries_.find(name) != entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  const std::string& kind() const { return kind_; }

  // All registered names in ascending order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& entry : entries_) out.push_back(entry.first);
    return out;
  }

 private:
  std::string miss_message(std::string_view name) const {
    const std::vector<std::string> known = names();
    if (known.empty()) {
      return fmt::format("unknown {} '{}'; no {}s are registered. HINT: call the matching "
                         "register_builtin_*() function (or load the plugin) before lookup",
                         kind_, name, kind_);
    }
    const std::string suggestion = closest_match(name, known);
    std::string msg = fmt::format("unknown {} '{}'; ", kind_, name);
    if (!suggestion.empty()) msg += fmt::format("did you mean '{}'? ", suggestion);
    msg += fmt::format("known: {}", fmt::join(known, ", "));
    return msg;
  }

  std::string kind_;
  std::map<std::string, Factory, std::less<>> entries_;
};

}  // namespace lowbit::core
