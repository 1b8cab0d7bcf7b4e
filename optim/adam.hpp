#pragma once
// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), exactly torch.optim.Adam/AdamW
// (PyTorch 1.13, amsgrad off). Per parameter, at step t = 1, 2, ...:
//   Adam:   g = grad + wd * p                     (L2 penalty added to the gradient)
//   AdamW:  p = p * (1 - lr * wd);  g = grad      (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)    (eps outside the sqrt)
// State: step count t and buffers "exp_avg" (m) and "exp_avg_sq" (v).

#include "optim/optimizer.hpp"
#include "optim/options.hpp"

#include <memory>

namespace lowbit::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  NoDecayRule no_decay = NoDecayRule::vectors;  // used by make_adam/make_adamw to build the groups
};
void visit_fields(AdamOptions& o, FieldVisitor& v);

class Adam final : public Optimizer {
 public:
  // decoupled = false: Adam; true: AdamW. Uses options.lr as the base LR and each group's own
  // weight_decay and lr_scale (options.weight_decay and no_decay only matter to the factories).
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled = false);
  void step() override;
  bool set_momentum(double beta1) override;  // beta1
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  const AdamOptions& options() const { return options_; }

 private:
  AdamOptions options_;
  bool decoupled_;
};

// Adam / AdamW over make_param_groups(params, options.weight_decay, options.no_decay).
std::unique_ptr<Optimizer> make_adam(const NamedParams& params, const AdamOptions& options = {});
std::unique_ptr<Optimizer> make_adamw(const NamedParams& params, const AdamOptions& options = {});

}  // namespace lowbit::optim
