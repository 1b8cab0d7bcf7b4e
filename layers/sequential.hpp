#pragma once
// Sequential: runs its children in registration order, each on the previous one's output.
// Children are named "0", "1", ... by add(module), or explicitly by add(name, module) (model
// builders name layers "conv1", "bn1", "layer1", "fc" so per-layer config overrides match them).
//
// Flatten: x: (N, d1, d2, ...) -> (N, d1 * d2 * ...).

#include "layers/module.hpp"

#include <string>

namespace lowbit::layers {

class Sequential : public Module {
 public:
  // label: what describe() shows (a model builder passes e.g. "resnet18"); empty = generic.
  explicit Sequential(std::string label = {}) : label_(std::move(label)) {}

  // Appends `module` named by its position ("0", "1", ...); returns it.
  template <typename M>
  std::shared_ptr<M> add(std::shared_ptr<M> module) {
    return register_module(std::to_string(named_children().size()), std::move(module));
  }
  // Appends `module` under `name` (unique, no '.').
  template <typename M>
  std::shared_ptr<M> add(std::string name, std::shared_ptr<M> module) {
    return register_module(std::move(name), std::move(module));
  }

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  std::string describe() const override;
  std::size_t size() const { return named_children().size(); }

 private:
  std::string label_;
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
};

}  // namespace lowbit::layers
