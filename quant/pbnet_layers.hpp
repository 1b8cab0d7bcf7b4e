#pragma once
// PBNet layers (Peters & Welling 2018, "Probabilistic Binary Neural Networks", methods.md 3b).
// A hidden unit is PbConv2d/PbLinear -> StochasticBatchNorm -> ConcreteSign; the first two pass a
// distribution tensor (N, 2C, ...) = (means, variances) along (see quant/pbnet_ops.hpp).
//
// Weights: independent w in {-1, +1} with q(w = +1) = sigmoid(theta). The parameter "weight" holds
// the logits theta / logit_scale (same key as Conv2d/Linear, so a MAP network maps onto a
// vgg_small BNN key for key). Training propagates the exact mean and variance of a = sum_i w_i x_i (local
// reparameterisation): mean = sum mu_w x, variance = sum (1 - mu_w^2) x^2, mu_w = tanh(theta / 2).
// Evaluation runs a deterministic binary net: the MAP weights sign(theta) (+1 iff theta >= 0) by
// default, or weights sampled from q after sample_weights() (the ensemble of methods.md 3b (b)).
// In evaluation the variance half is 0 and ConcreteSign outputs sign(mean).

#include "core/rng.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "layers/module.hpp"
#include "quant/quantizer.hpp"

#include <cstdint>
#include <string>

namespace lowbit::quant {

// The exact moments of a = sum w x under q (local reparameterisation), as distribution tensors,
// differentiable in x and theta (mu_w = tanh(theta / 2), var_w = 1 - mu_w^2):
//   pb_conv2d: x (N, in, H, W), theta (out, in/groups, k, k) -> (N, 2 out, OH, OW)
//   pb_linear: x (N, in), theta (out, in) -> (N, 2 out)
Tensor pb_conv2d(const Tensor& x, const Tensor& theta, const core::Conv2dParams& p);
Tensor pb_linear(const Tensor& x, const Tensor& theta);

// What PbConv2d and PbLinear share: the weight distribution and the evaluation weights.
// The parameter "weight" stores theta / logit_scale: Adam's steps do not depend on the gradient's
// scale, so logit_scale multiplies the logits' effective learning rate relative to BN and the
// float classifier (which diverges at the rates the logits want).
//
// Weight temperature: the learned distribution is q(w = +1) = sigmoid(theta / weight_tau_end).
// Training reaches it through a temperature annealed geometrically per epoch from weight_tau_start
// (quant::set_quantizer_epoch calls set_epoch), so a temperature below 1 at the end sharpens q
// towards its MAP weights (less weight noise, a smaller gap between training and the MAP net).
class PbLayer : public layers::Module {
 public:
  // The logits theta = logit_scale * weight (differentiable in the parameter).
  Tensor theta() const;
  // theta / (the current weight temperature): what training's moments use.
  Tensor tempered_theta() const;
  void set_weight_temperature(float start, float end);
  void set_epoch(std::int64_t epoch, std::int64_t epochs);
  float weight_temperature() const { return weight_tau_; }
  const Tensor& weight() const { return weight_; }
  float logit_scale() const { return logit_scale_; }
  // sign(theta) with sign(0) = +1: the MAP binary weights (a new tensor, no gradient).
  Tensor map_weights() const;
  // Draws w ~ q(w) from `rng` (row-major order, w = +1 iff u < sigmoid(theta / weight_tau_end));
  // evaluation uses them until use_map_weights(). Training always uses the distribution.
  void sample_weights(core::Rng& rng);
  void use_map_weights() { sampled_ = Tensor(); }
  bool uses_sampled_weights() const { return sampled_.defined(); }
  // Bits of the layer's input in the binary network, for the model summary: 1 (the +-1 outputs of
  // a ConcreteSign, the default) or 32 (a real input: the first layer sees the image).
  int input_bits() const { return input_bits_; }
  void set_input_bits(int bits) { input_bits_ = bits; }

 protected:
  // Registers "weight" = theta / logit_scale with theta ~ U(-theta_init, theta_init).
  void init_theta(const core::Shape& shape, core::Rng& rng, float theta_init, float logit_scale);
  // The binary weights of evaluation mode: the sample if one was drawn, else the MAP weights.
  Tensor eval_weights() const { return sampled_.defined() ? sampled_ : map_weights(); }

 private:
  Tensor weight_;
  float logit_scale_ = 1.0f;
  float weight_tau_start_ = 1.0f, weight_tau_end_ = 1.0f, weight_tau_ = 1.0f;
  int input_bits_ = 1;
  Tensor sampled_;  // +-1 weights of one ensemble member, or undefined
};

// x: (N, in, H, W) real (first layer) or +-1 -> (N, 2 out, OH, OW) = (means, variances).
// No bias (the BN after it has one). theta: (out, in/groups, k, k).
class PbConv2d : public PbLayer {
 public:
  PbConv2d(const layers::Conv2dOptions& options, core::Rng& rng, float theta_init,
           float logit_scale = 1.0f);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "PbConv2d"; }
  std::string describe() const override;
  const layers::Conv2dOptions& options() const { return options_; }
  // OH * OW of the last forward (the model summary's MAC count).
  std::int64_t last_output_pixels() const { return last_output_pixels_; }

 private:
  layers::Conv2dOptions options_;
  std::int64_t last_output_pixels_ = 0;
};

// x: (N, in) -> (N, 2 out) = (means, variances). theta: (out, in). No bias.
class PbLinear : public PbLayer {
 public:
  PbLinear(const layers::LinearOptions& options, core::Rng& rng, float theta_init,
           float logit_scale = 1.0f);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "PbLinear"; }
  std::string describe() const override;
  const layers::LinearOptions& options() const { return options_; }

 private:
  layers::LinearOptions options_;
};

// Batch normalisation of a distribution tensor (N, 2C, ...) (quant::stochastic_batch_norm).
// Parameters and buffers carry BatchNorm's names and shapes (weight, bias, running_mean,
// running_var, num_batches_tracked), so a MAP network's BN loads into an ordinary BatchNorm2d.
class StochasticBatchNorm : public layers::Module {
 public:
  explicit StochasticBatchNorm(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "StochasticBatchNorm"; }
  std::string describe() const override;
  // Recalibration (quant::pbnet_begin_bn_recalibration): in training mode, batch k (0-based) after
  // begin_recalibration() updates the running stats with momentum 1/(k+1), so they become the
  // plain average over the recalibration batches; end_recalibration() restores the momentum.
  void begin_recalibration() { recalibrated_batches_ = 0; }
  void end_recalibration() { recalibrated_batches_ = -1; }

 private:
  std::int64_t num_features_;
  double eps_, momentum_;
  std::int64_t recalibrated_batches_ = -1;  // -1: not recalibrating
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

// The binary activation h = sign(a) of a distribution tensor (N, 2C, ...) -> (N, C, ...).
// Training: a binary-concrete relaxed sample at temperature tau (quant::concrete_sign) from its
// own generator (child "rng", saved in checkpoints). Evaluation: sign(mean).
// A Quantizer so that the trainer's per-epoch hook (set_epoch) anneals tau geometrically from
// tau_start (first epoch) to tau_end (last epoch). straight_through: hard +-1 samples forward,
// relaxed gradient backward (see quant::concrete_sign).
class ConcreteSign : public Quantizer {
 public:
  ConcreteSign(float tau_start, float tau_end, std::uint64_t seed, bool straight_through = false);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ConcreteSign"; }
  std::string describe() const override;
  int bits() const override { return 1; }
  void set_epoch(std::int64_t epoch, std::int64_t epochs) override;
  float tau() const { return tau_; }

 private:
  float tau_start_, tau_end_, tau_;
  bool straight_through_;
  core::Rng rng_;
};

}  // namespace lowbit::quant
