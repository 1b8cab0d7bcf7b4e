#include "optim/sgd.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "optim/kernels.hpp"

#include <cmath>

namespace lowbit::optim {

void visit_fields(SgdOptions& o, FieldVisitor& v) {
  v.field("lr", o.lr);
  v.field("momentum", o.momentum);
  v.field("dampening", o.dampening);
  v.field("nesterov", o.nesterov);
  v.field("weight_decay", o.weight_decay);
  v.field("no_decay", o.no_decay);
}

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : Optimizer(std::move(groups), options.lr, {"momentum_buffer"}), options_(options) {
  core::check(std::isfinite(options.momentum) && options.momentum >= 0.0,
              "sgd: momentum must be finite and >= 0, got {}", options.momentum);
  core::check(std::isfinite(options.dampening),
              "sgd: dampening must be finite, got {}", options.dampening);
  core::check(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0),
              "sgd: Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum {}, "
              "dampening {}). HINT: set nesterov: false or fix momentum/dampening",
              options.momentum, options.dampening);
}

bool Sgd::set_momentum(double momentum) {
  core::check(std::isfinite(momentum) && momentum >= 0.0 && momentum < 1.0 &&
                  (!options_.nesterov || momentum > 0.0),
              "sgd: a schedule set momentum {}; it must be in [0, 1) (and > 0 with Nesterov)",
              momentum);
  options_.momentum = momentum;
  return true;
}

void Sgd::step() {
  core::NoGradGuard no_grad;
  const bool use_momentum = options_.momentum != 0.0;
  for (std::size_t g = 0; g < groups().size(); ++g) {
    const ParamGroup& group = groups()[g];
    const double lr = group_lr(g);
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      core::Tensor p = group.params[i];
      const core::Tensor grad = contiguous_grad(p);
      if (!grad.defined()) continue;
      ParamState& s = state(g, i);
      // PyTorch's "buf is None" test: the buffer does not exist before the first momentum step.
      const bool first = !s.buffers[0].defined();
      float* buf = use_momentum ? buffer(s, 0, p).data<float>() : nullptr;
      kernels::sgd_update(p.data<float>(), grad.data<float>(), buf, p.numel(), lr,
                          options_.momentum, options_.dampening, group.weight_decay,
                          options_.nesterov, first);
      ++s.step;
    }
  }
}

std::unique_ptr<Optimizer> make_sgd(const NamedParams& params, const SgdOptions& options) {
  return std::make_unique<Sgd>(make_param_groups(params, options.weight_decay, options.no_decay),
                               options);
}

}  // namespace lowbit::optim
