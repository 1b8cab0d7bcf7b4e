#pragma once
// Bop, the binary optimizer (Helwegen et al., NeurIPS 2019, "Latent Weights Do Not Exist:
// Rethinking Binarized Neural Network Optimization"; larq.optimizers.Bop). There are no latent
// weights: each parameter holds exactly +1/-1, and Bop decides per weight when to flip it.
// Per weight, with gamma = the group's LR (the adaptivity rate) and tau = threshold:
//   m = (1 - gamma) * m + gamma * g                  (exponential moving average of the gradient)
//   w = -w   if |m| > tau and sign(m) == sign(w)     (the averaged gradient pushes against w)
// For w in {-1, +1}, w * m is exactly +-|m|, so the flip test is the single compare w * m > tau,
// which is Larq's form: Larq computes m += gamma * (g - m) and w = sign(-sign(w * m - tau) * w).
// Our choices where the two can differ:
//   - the EMA is written as the paper and the formula above write it, (1 - gamma) * m + gamma * g,
//     with (1 - gamma) and gamma each rounded to float once, then float32 arithmetic;
//   - a tie, w * m == tau exactly, keeps w (strict >). Larq's sign(0) = +1 turns a tie into w = +1
//     whatever w was, which is an artefact of its formula, not the paper's rule.
// Bop initialises nothing: the caller sets the weights to sign(w) (sign(0) = +1) with
// binarize_in_place before training. step() refuses a parameter holding anything but +-1.
//
// gamma is the optimizer's lr(), so an LR schedule decays gamma as the paper does; tau is fixed.
// Parameter groups carry no weight decay (an Error otherwise); lr_scale multiplies gamma.
// State: per parameter the step count and buffer "m", saved and restored by the base class.

#include "optim/optimizer.hpp"
#include "optim/options.hpp"

#include <cstdint>
#include <memory>

namespace lowbit::optim {

// Defaults as larq.optimizers.Bop.
struct BopOptions {
  double lr = 1e-4;         // gamma, the adaptivity rate, in [0, 1]
  double threshold = 1e-8;  // tau, the flip threshold, finite and >= 0
};
void visit_fields(BopOptions& o, FieldVisitor& v);  // keys "lr", "threshold"

class Bop final : public Optimizer {
 public:
  // Uses options.lr as gamma; every group's weight_decay must be 0 and gamma * lr_scale <= 1.
  Bop(std::vector<ParamGroup> groups, const BopOptions& options);
  void step() override;
  void set_lr(double lr) override;  // gamma in [0, 1]
  std::string name() const override { return "bop"; }
  // {"flips", last_flips()}, {"flip_ratio", last_flip_ratio()}.
  StepStats step_stats() const override;

  const BopOptions& options() const { return options_; }
  // Weights flipped by the last step() and weights it updated (those with a gradient).
  std::int64_t last_flips() const { return last_flips_; }
  std::int64_t last_updated() const { return last_updated_; }
  // last_flips / last_updated; 0 when nothing was updated.
  double last_flip_ratio() const;

 private:
  BopOptions options_;
  std::int64_t last_flips_ = 0;
  std::int64_t last_updated_ = 0;
};

// Bop over one group "all" holding every parameter, with no weight decay.
std::unique_ptr<Optimizer> make_bop(const NamedParams& params, const BopOptions& options = {});

// t = sign(t) elementwise with sign(0) = +1 (also for -0). t: defined, contiguous f32, no NaN.
void binarize_in_place(core::Tensor t);

namespace kernels {

// One Bop update of one parameter tensor; returns the number of flipped weights.
//   m = (1 - gamma) * m + gamma * g;  w = (w * m > threshold) ? -w : w
// w, g, m: (n); w holds +-1.
std::int64_t bop_update(float* w, const float* g, float* m, std::int64_t n, double gamma,
                        double threshold);

// Index of the first element of w: (n) that is neither +1 nor -1, or n when there is none.
std::int64_t find_non_binary(const float* w, std::int64_t n);

}  // namespace kernels

}  // namespace lowbit::optim
