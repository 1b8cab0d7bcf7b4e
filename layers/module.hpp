#pragma once
// Module: the base of every layer and model. A module owns
//   - parameters: f32 leaves with requires_grad, trained by optimizers;
//   - buffers: tensors saved with the model but never differentiated (BN running stats, counters);
//   - children: sub-modules, each registered under a name;
//   - generators: Rngs it draws from while running (Dropout), saved by checkpoints.
// Names are dotted paths from the root: "layer1.0.conv1.weight". Registration order is the order of
// every listing (named_parameters, state_dict, ...): own entries first, then each child's in turn.
//
// A module is not copyable or movable: children, optimizers and checkpoint code hold pointers and
// tensor handles into it. Loading a state dict copies values into the existing tensors.

#include "core/rng.hpp"
#include "core/tensor.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::layers {

using core::Tensor;

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedTensor = std::pair<std::string, Tensor>;

// Ordered name -> tensor map (insertion order is kept). The tensors of Module::state_dict() alias
// the module's own tensors; clone() makes an independent snapshot.
class StateDict {
 public:
  // Appends an entry; an empty or duplicate name is an error.
  void insert(std::string name, Tensor tensor);
  bool contains(std::string_view name) const;
  // The named tensor; a miss lists the closest key and the number of entries.
  const Tensor& at(std::string_view name) const;
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<std::string> keys() const;
  const std::vector<NamedTensor>& entries() const { return entries_; }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  StateDict clone() const;  // deep copies, requires_grad false

 private:
  std::vector<NamedTensor> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// What load_state_dict found besides the matching entries (both empty after a strict load).
struct LoadResult {
  std::vector<std::string> missing;     // in the module, not in the dict
  std::vector<std::string> unexpected;  // in the dict, not in the module
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's computation. Shapes are stated by each layer.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Class name, e.g. "Conv2d". (Not pure: registration errors raised inside a base class's
  // constructor may ask for it before the derived class exists.)
  virtual std::string type_name() const { return "Module"; }
  // One line for summaries, e.g. "Conv2d(3, 64, kernel=3, stride=1, padding=1, bias=false)".
  // Defaults to type_name().
  virtual std::string describe() const { return type_name(); }

  // Training mode (the default) or evaluation mode, set recursively on every descendant.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Recursive listings in registration order, with dotted names.
  std::vector<NamedTensor> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<NamedTensor> named_buffers() const;
  // This module first (name ""), then every descendant, depth first.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  // Direct children only.
  const std::vector<std::pair<std::string, ModulePtr>>& named_children() const { return children_; }
  // Every generator owned by this module or a descendant, e.g. ("dropout.rng", &rng).
  std::vector<std::pair<std::string, core::Rng*>> named_rngs();

  // The descendant at a dotted path ("layer1.0.conv1"); "" is this module. A miss names the
  // missing part and lists the children that exist there.
  Module& submodule(std::string_view path);

  // Parameters then buffers of each module in turn, in named_modules() order (so a layer's weight,
  // bias, running_mean, ... stay together). The tensors alias the module's own.
  StateDict state_dict() const;
  // Copies values into the existing tensors (Tensor::copy_), so optimizers stay valid. Every
  // matching entry is checked (dtype and shape) before anything is copied: an error leaves the
  // module unchanged and names each mismatching entry with both shapes. strict: missing or
  // unexpected keys are an error listing them; otherwise they are skipped and returned.
  LoadResult load_state_dict(const StateDict& dict, bool strict = true);

  void zero_grad();                     // drops every parameter's gradient
  std::int64_t num_parameters() const;  // total elements over parameters()

 protected:
  // Registers a parameter: `tensor` must be a defined f32 leaf; it is marked requires_grad. The
  // returned handle shares the tensor (keep it as a member).
  Tensor register_parameter(std::string name, Tensor tensor);
  // Registers a buffer (any dtype, requires_grad false).
  Tensor register_buffer(std::string name, Tensor tensor);
  // Registers a child and returns it typed.
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    add_child(std::move(name), module);
    return module;
  }
  // Registers a generator owned by this module (it must live as long as the module).
  void register_rng(std::string name, core::Rng* rng);

 private:
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(std::string name, ModulePtr module);
  template <typename Fn>
  void visit(const std::string& prefix, Fn&& fn) const;

  bool training_ = true;
  std::vector<NamedTensor> params_;
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
  std::vector<std::pair<std::string, core::Rng*>> rngs_;
};

// A table of every module with its name, description and own parameter count, plus the total.
std::string summary(const Module& model);

}  // namespace lowbit::layers
