#include "optim/adam.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "optim/kernels.hpp"

#include <cmath>

namespace lowbit::optim {

void visit_fields(AdamOptions& o, FieldVisitor& v) {
  v.field("lr", o.lr);
  v.field("beta1", o.beta1);
  v.field("beta2", o.beta2);
  v.field("eps", o.eps);
  v.field("weight_decay", o.weight_decay);
  v.field("no_decay", o.no_decay);
}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(groups), options.lr, {"exp_avg", "exp_avg_sq"}),
      options_(options),
      decoupled_(decoupled) {
  const char* who = decoupled ? "adamw" : "adam";
  core::check(options.beta1 >= 0.0 && options.beta1 < 1.0, "{}: beta1 must be in [0, 1), got {}",
              who, options.beta1);
  core::check(options.beta2 >= 0.0 && options.beta2 < 1.0, "{}: beta2 must be in [0, 1), got {}",
              who, options.beta2);
  core::check(std::isfinite(options.eps) && options.eps >= 0.0,
              "{}: eps must be finite and >= 0, got {}", who, options.eps);
}

bool Adam::set_momentum(double beta1) {
  core::check(beta1 >= 0.0 && beta1 < 1.0, "{}: a schedule set beta1 {}; it must be in [0, 1)",
              name(), beta1);
  options_.beta1 = beta1;
  return true;
}

void Adam::step() {
  core::NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups().size(); ++g) {
    const ParamGroup& group = groups()[g];
    const double lr = group_lr(g);
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      core::Tensor p = group.params[i];
      const core::Tensor grad = contiguous_grad(p);
      if (!grad.defined()) continue;
      ParamState& s = state(g, i);
      float* m = buffer(s, 0, p).data<float>();
      float* v = buffer(s, 1, p).data<float>();
      ++s.step;
      // Scalars in double, as PyTorch computes them in Python.
      const double t = static_cast<double>(s.step);
      const double step_size = lr / (1.0 - std::pow(options_.beta1, t));
      const double bc2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, t));
      kernels::adam_update(p.data<float>(), grad.data<float>(), m, v, p.numel(), lr,
                           options_.beta1, options_.beta2, options_.eps, group.weight_decay,
                           decoupled_, step_size, bc2_sqrt);
    }
  }
}

std::unique_ptr<Optimizer> make_adam(const NamedParams& params, const AdamOptions& options) {
  return std::make_unique<Adam>(make_param_groups(params, options.weight_decay, options.no_decay),
                                options, false);
}

std::unique_ptr<Optimizer> make_adamw(const NamedParams& params, const AdamOptions& options) {
  return std::make_unique<Adam>(make_param_groups(params, options.weight_decay, options.no_decay),
                                options, true);
}

}  // namespace lowbit::optim
