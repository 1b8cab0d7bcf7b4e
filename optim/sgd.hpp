#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay:
// exactly torch.optim.SGD (PyTorch 1.13). Per parameter, with d = grad + wd * p:
//   momentum == 0:  p -= lr * d
//   otherwise:      buf = (first step) ? d : momentum * buf + (1 - dampening) * d
//                   p  -= lr * (nesterov ? d + momentum * buf : buf)
// (Sutskever et al. 2013 for the Nesterov form.) State: buffer "momentum_buffer".

#include "optim/optimizer.hpp"
#include "optim/options.hpp"

#include <memory>

namespace lowbit::optim {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
  double weight_decay = 5e-4;
  NoDecayRule no_decay = NoDecayRule::vectors;  // used by make_sgd to build the groups
};
void visit_fields(SgdOptions& o, FieldVisitor& v);

class Sgd final : public Optimizer {
 public:
  // Uses options.lr as the base LR and each group's own weight_decay and lr_scale;
  // options.weight_decay and options.no_decay are ignored here (make_sgd uses them).
  Sgd(std::vector<ParamGroup> groups, const SgdOptions& options);
  void step() override;
  bool set_momentum(double momentum) override;
  std::string name() const override { return "sgd"; }
  const SgdOptions& options() const { return options_; }

 private:
  SgdOptions options_;
};

// Sgd over make_param_groups(params, options.weight_decay, options.no_decay).
std::unique_ptr<Optimizer> make_sgd(const NamedParams& params, const SgdOptions& options = {});

}  // namespace lowbit::optim
