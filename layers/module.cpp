#include "layers/module.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace lowbit::layers {
namespace {

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// "a, b, c" or "a, b, ... (12 more)" for long lists in messages.
std::string short_list(const std::vector<std::string>& names, std::size_t max_shown = 12) {
  std::vector<std::string> shown(
      names.begin(),
      names.begin() + static_cast<std::ptrdiff_t>(std::min(names.size(), max_shown)));
  std::string s = fmt::format("{}", fmt::join(shown, ", "));
  if (names.size() > max_shown) s += fmt::format(", ... ({} more)", names.size() - max_shown);
  return s;
}

}  // namespace

// ---- StateDict ----

void StateDict::insert(std::string name, Tensor tensor) {
  core::check(!name.empty(), "StateDict::insert: empty name");
  core::check(tensor.defined(), "StateDict::insert: entry '{}' is an undefined tensor", name);
  core::check(!index_.contains(name), "StateDict::insert: duplicate entry '{}'", name);
  index_.emplace(name, entries_.size());
  entries_.emplace_back(std::move(name), std::move(tensor));
}

bool StateDict::contains(std::string_view name) const { return index_.find(name) != index_.end(); }

const Tensor& StateDict::at(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    const std::string close = core::closest_match(name, keys());
    core::fail("state dict has no entry '{}' ({} entries){}", name, entries_.size(),
               close.empty() ? std::string() : fmt::format("; did you mean '{}'?", close));
  }
  return entries_[it->second].second;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.first);
  return out;
}

StateDict StateDict::clone() const {
  StateDict out;
  for (const auto& [name, t] : entries_) out.insert(name, t.detach().clone());
  return out;
}

// ---- Module: registration ----

// Messages are formatted only on failure: type_name() is virtual and may be called from a base
// class constructor.
void Module::check_new_name(const std::string& name, const char* what) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    core::fail("{} '{}' on {}: names must be non-empty and contain no '.'", what, name,
               type_name());
  }
  const auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
  };
  if (taken(params_) || taken(buffers_) || taken(children_) || taken(rngs_)) {
    core::fail(
        "{} '{}' on {}: the name is already registered. HINT: each parameter, buffer, "
        "child and generator of a module needs its own name",
        what, name, type_name());
  }
}

Tensor Module::register_parameter(std::string name, Tensor tensor) {
  check_new_name(name, "parameter");
  if (!tensor.defined() || tensor.dtype() != core::DType::f32 || tensor.grad_fn()) {
    core::fail("parameter '{}' on {}: must be a defined f32 leaf tensor", name, type_name());
  }
  tensor.set_requires_grad(true);
  params_.emplace_back(std::move(name), tensor);
  return tensor;
}

Tensor Module::register_buffer(std::string name, Tensor tensor) {
  check_new_name(name, "buffer");
  if (!tensor.defined()) core::fail("buffer '{}' on {}: undefined tensor", name, type_name());
  tensor.set_requires_grad(false);
  buffers_.emplace_back(std::move(name), tensor);
  return tensor;
}

void Module::add_child(std::string name, ModulePtr module) {
  check_new_name(name, "child module");
  if (!module) core::fail("child module '{}' on {}: null module", name, type_name());
  module->train(training_);
  children_.emplace_back(std::move(name), std::move(module));
}

void Module::register_rng(std::string name, core::Rng* rng) {
  check_new_name(name, "generator");
  if (!rng) core::fail("generator '{}' on {}: null pointer", name, type_name());
  rngs_.emplace_back(std::move(name), rng);
}

// ---- Module: traversal ----

// Calls fn(prefix, module) for this module and every descendant, depth first.
template <typename Fn>
void Module::visit(const std::string& prefix, Fn&& fn) const {
  fn(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(join_name(prefix, name), fn);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.params_) out.emplace_back(join_name(prefix, name), t);
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters()) out.push_back(std::move(entry.second));
  return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
  std::vector<NamedTensor> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.buffers_) out.emplace_back(join_name(prefix, name), t);
  });
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  visit("", [&](const std::string& prefix, const Module& m) { out.emplace_back(prefix, &m); });
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  // Every module reached here is owned (directly or not) by this non-const module.
  visit("", [&](const std::string& prefix, const Module& m) {
    out.emplace_back(prefix, const_cast<Module*>(&m));
  });
  return out;
}

std::vector<std::pair<std::string, core::Rng*>> Module::named_rngs() {
  std::vector<std::pair<std::string, core::Rng*>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, rng] : m.rngs_) out.emplace_back(join_name(prefix, name), rng);
  });
  return out;
}

Module& Module::submodule(std::string_view path) {
  Module* m = this;
  std::string walked;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string part(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    const auto it = std::find_if(m->children_.begin(), m->children_.end(),
                                 [&](const auto& c) { return c.first == part; });
    if (it == m->children_.end()) {
      std::vector<std::string> names;
      for (const auto& c : m->children_) names.push_back(c.first);
      core::fail("no submodule '{}' in {} '{}'; its children: {}", part, m->type_name(),
                 walked.empty() ? "<root>" : walked,
                 names.empty() ? std::string("none") : short_list(names, 40));
    }
    walked = join_name(walked, part);
    m = it->second.get();
  }
  return *m;
}

// ---- Module: state ----

StateDict Module::state_dict() const {
  StateDict out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.params_) out.insert(join_name(prefix, name), t);
    for (const auto& [name, t] : m.buffers_) out.insert(join_name(prefix, name), t);
  });
  return out;
}

LoadResult Module::load_state_dict(const StateDict& dict, bool strict) {
  const StateDict own = state_dict();
  LoadResult result;
  std::vector<std::string> mismatches;
  for (const auto& [name, dst] : own) {
    if (!dict.contains(name)) {
      result.missing.push_back(name);
      continue;
    }
    const Tensor& src = dict.at(name);
    if (src.dtype() != dst.dtype() || !(src.shape() == dst.shape())) {
      mismatches.push_back(fmt::format("'{}': {} {} in the state dict, {} {} in the model", name,
                                       core::dtype_name(src.dtype()), src.shape(),
                                       core::dtype_name(dst.dtype()), dst.shape()));
    }
  }
  for (const auto& [name, t] : dict) {
    if (!own.contains(name)) result.unexpected.push_back(name);
  }
  std::string problems;
  if (!mismatches.empty()) {
    problems += fmt::format("\n  mismatching entries: {}", fmt::join(mismatches, "; "));
  }
  if (strict && !result.missing.empty()) {
    problems += fmt::format("\n  missing keys (in the model, not in the dict): {}",
                            short_list(result.missing));
  }
  if (strict && !result.unexpected.empty()) {
    problems += fmt::format("\n  unexpected keys (in the dict, not in the model): {}",
                            short_list(result.unexpected));
  }
  if (!problems.empty()) {
    core::fail(
        "load_state_dict into {}: nothing was loaded:{}\nHINT: build the model with the "
        "same spec (name, widths, classes, input channels) as the saved one{}",
        type_name(), problems,
        strict ? "; pass strict=false to skip missing and unexpected keys" : "");
  }
  for (const auto& [name, dst] : own) {
    if (!dict.contains(name)) continue;
    Tensor d = dst;
    d.copy_(dict.at(name));
  }
  return result;
}

void Module::zero_grad() {
  for (auto& [name, p] : named_parameters()) p.zero_grad();
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

std::string summary(const Module& model) {
  std::string out = fmt::format("{:<28} {:<56} {:>12}\n", "name", "layer", "params");
  for (const auto& [name, m] : model.named_modules()) {
    std::int64_t own = 0;
    for (const auto& [pname, p] : m->named_parameters()) {
      if (pname.find('.') == std::string::npos) own += p.numel();
    }
    if (!m->named_children().empty() && own == 0) continue;  // containers: shown via children
    out +=
        fmt::format("{:<28} {:<56} {:>12}\n", name.empty() ? "<root>" : name, m->describe(), own);
  }
  out += fmt::format("total parameters: {}\n", model.num_parameters());
  return out;
}

}  // namespace lowbit::layers
