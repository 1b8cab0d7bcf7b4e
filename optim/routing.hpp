#pragma once
// RoutingOptimizer: one Optimizer over two optimizers with disjoint parameter sets, typically Bop
// for the binary weights and Adam/SGD for every other parameter (Larq's CaseOptimizer with one
// predicate and a default).
//
//   auto opt = make_routing(model.named_parameters(), is_binary,
//       [](const NamedParams& p) { return make_bop(p, {.lr = 1e-4, .threshold = 1e-8}); },
//       [](const NamedParams& p) { return make_adam(p, {.lr = 1e-3}); });
//
// LR contract: lr() is the main optimizer's LR. set_lr(lr) gives the main optimizer lr and the
// binary optimizer lr * ratio, where ratio = binary.lr() / main.lr() taken once at construction.
// So a schedule built on the main LR scales the binary LR (Bop's gamma) by the same factor at
// every step and lr_binary / lr_main stays fixed. The ratio comes from construction (the config)
// and is not part of the saved state, like a schedule's base LR.
//
// step() steps the main optimizer, then the binary one; zero_grad() clears both. params() and
// groups() list the main optimizer's, then the binary optimizer's; group_lr(g) follows the same
// order. step_stats() is the binary optimizer's stats followed by the main optimizer's.
//
// State payload (one section, version 1):
//   string "lowbit.optim.state"   u32 version   string "routing"   f64 base lr
//   the main optimizer's payload, then the binary optimizer's (Optimizer::write_state each)
// A load checks both parts before installing either, so a failed load changes nothing.

#include "optim/optimizer.hpp"
#include "optim/registry.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace lowbit::optim {

class RoutingOptimizer final : public Optimizer {
 public:
  // `binary` and `main` must be non-null over disjoint parameters (names and tensors); main.lr()
  // must be > 0 so the ratio exists.
  RoutingOptimizer(std::unique_ptr<Optimizer> binary, std::unique_ptr<Optimizer> main);

  void step() override;
  void zero_grad() override;
  void set_lr(double lr) override;
  bool set_momentum(double momentum) override;  // the main optimizer's (Bop has none)
  std::vector<core::Tensor> params() const override;
  const std::vector<ParamGroup>& groups() const override { return all_groups_; }
  double group_lr(std::size_t group) const override;
  std::string name() const override { return "routing"; }
  StepStats step_stats() const override;

  void write_state(core::BinaryWriter& out) const override;
  [[nodiscard]] std::function<void()> read_state(core::SectionReader& in) override;

  Optimizer& binary() { return *binary_; }
  const Optimizer& binary() const { return *binary_; }
  Optimizer& main() { return *main_; }
  const Optimizer& main() const { return *main_; }
  // binary LR / main LR, fixed at construction.
  double lr_ratio() const { return ratio_; }

 private:
  std::unique_ptr<Optimizer> binary_;
  std::unique_ptr<Optimizer> main_;
  double ratio_ = 0.0;
  std::vector<ParamGroup> all_groups_;  // main's groups, then binary's (handles share storage)
};

// Decides per parameter whether it goes to the binary optimizer.
using ParamPredicate = std::function<bool(const std::string& name, const core::Tensor& param)>;
// Builds an optimizer over the parameters it is given.
using OptimizerMaker = std::function<std::unique_ptr<Optimizer>(const NamedParams& params)>;

// Splits `named_params` (order kept) by `is_binary` and builds the binary optimizer over the
// matching ones and the main optimizer over the rest. No matching parameter is an Error (the
// predicate or the model is wrong); an empty rest is allowed.
std::unique_ptr<RoutingOptimizer> make_routing(const NamedParams& named_params,
                                               const ParamPredicate& is_binary,
                                               const OptimizerMaker& make_binary,
                                               const OptimizerMaker& make_main);

// The same with both optimizers looked up by name in `registry` and built from option maps,
// e.g. ("bop", {{"lr", 1e-4}}) and ("adam", {{"lr", 1e-3}}).
std::unique_ptr<RoutingOptimizer> make_routing(
    const OptimizerRegistry& registry, const NamedParams& named_params,
    const ParamPredicate& is_binary, std::string_view binary_name, const OptionMap& binary_options,
    std::string_view main_name, const OptionMap& main_options);

}  // namespace lowbit::optim
