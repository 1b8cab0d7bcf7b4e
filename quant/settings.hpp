#pragma once
// QuantSettings: how one layer is quantized, as the config's `quant:` section (and each of its
// per-layer overrides) states it. Plain data; apps/config.hpp reads it strictly from YAML.
//
// A scheme is a preset naming a weight quantizer, an input (activation) quantizer and the hidden
// activation function the model builders use (see scheme.hpp); weight_quantizer /
// activation_quantizer override the preset by registry name (plugins add names).

#include <cstdint>
#include <string>

namespace lowbit::quant {

struct QuantSettings {
  std::string scheme = "none";  // none, binary_connect, bnn, xnor, bireal, dorefa, lsq, pact, dbssq, rq
  std::string weight_quantizer = "";    // "" = the scheme's
  std::string activation_quantizer = "";  // "" = the scheme's
  std::int64_t weight_bits = 1;         // k of multi-bit weight quantizers (dorefa, lsq)
  std::int64_t activation_bits = 1;     // k of multi-bit activation quantizers (dorefa, lsq, pact)
  std::int64_t gradient_bits = 32;      // DoReFa f_g on each quantized layer's output (32 = off)
  bool stochastic = false;              // binary_connect: Bernoulli(hard_sigmoid(w/H)) weights
  double h = 1.0;                       // binary_connect: binary values are +-H
  bool h_glorot = false;                // binary_connect: H = sqrt(1.5 / (fan_in + fan_out))
  std::string latent_lr_scale = "auto";  // auto (the scheme's), glorot, none
  bool clip_latent = true;              // clip latent weights to the quantizer's range each step
  std::string bireal_weight_grad = "paper";  // paper: dL/dW = dL/dWb * alpha * 1[|W|<=1]; code: no alpha
  double pact_alpha = 10.0;             // PACT: initial clipping level
  double pact_alpha_decay = 1e-4;       // PACT: L2 weight on alpha (added to the loss)
  // DBSSQ (methods.md 7): levels shift (weight_bits / activation_bits = shift bits s) or uniform
  // (n bits); gradient 1 (grad_scaling) or eps; eps schedule halving (the paper's table over
  // train.epochs) or constant (eps). Evaluation always uses eps = 0.
  std::string dbssq_levels = "shift";
  bool dbssq_grad_scaling = true;
  std::string eps_schedule = "halving";
  double eps = 0.0;
  // Relaxed Quantization (methods.md 3c, quant/relaxed.hpp): Gumbel-softmax temperature annealed
  // geometrically from rq_temperature (first epoch) to rq_temperature_end (last epoch); the local
  // grid holds the bins within rq_delta_sigmas * sigma of x; rq_straight_through: hard one-hot
  // forward, relaxed backward (RQ-ST).
  double rq_temperature = 2.0;
  double rq_temperature_end = 0.5;
  double rq_delta_sigmas = 3.0;
  bool rq_straight_through = false;
};

// A penalty that pulls latent weights onto a symmetric k-bit grid (methods.md 3d spirit;
// quant/grid_reg.hpp), for any scheme. Model-wide, not per layer: `quant.grid_reg` in the config.
// Epoch e (0-based) uses weight 0 while e < warmup_epochs, then weight * min(1, (e - warmup_epochs
// + 1) / ramp_epochs) (ramp_epochs = 0: the full weight at once).
struct GridRegSettings {
  double weight = 0.0;  // 0 = off
  std::int64_t bits = 2;
  std::int64_t warmup_epochs = 0;
  std::int64_t ramp_epochs = 0;
};

}  // namespace lowbit::quant
