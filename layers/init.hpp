#pragma once
// Weight initialisers. Each fills an existing f32 tensor in place (outside autograd) from a
// caller's Rng, so a model built from a seed is the same on every run and platform.
//
// Fans of a weight of shape (O, I, k...) (Linear: (O, I); Conv2d: (O, I/groups, KH, KW)):
//   fan_in = I * prod(k), fan_out = O * prod(k).
// Gains (He et al. 2015, "Delving deep into rectifiers"): leaky ReLU with negative slope a has
//   gain = sqrt(2 / (1 + a^2)); a = 0 is ReLU (gain sqrt 2).

#include "core/rng.hpp"
#include "core/tensor.hpp"

#include <cmath>
#include <cstdint>

namespace lowbit::layers {

enum class FanMode { fan_in, fan_out };

struct Fans {
  std::int64_t fan_in = 0;
  std::int64_t fan_out = 0;
};

// Fans of a weight with at least 2 axes (an error otherwise).
Fans compute_fans(const core::Shape& shape);
// gain = sqrt(2 / (1 + a^2)).
double leaky_relu_gain(double a);

// N(0, std^2) with std = gain(a) / sqrt(fan).
void kaiming_normal_(core::Tensor& w, core::Rng& rng, FanMode mode = FanMode::fan_in,
                     double a = 0.0);
// U(-b, b) with b = gain(a) * sqrt(3 / fan). a = sqrt(5) gives b = 1/sqrt(fan_in), PyTorch's
// default for Linear and Conv2d weights.
void kaiming_uniform_(core::Tensor& w, core::Rng& rng, FanMode mode = FanMode::fan_in,
                      double a = 0.0);
// Glorot & Bengio 2010: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
void glorot_uniform_(core::Tensor& w, core::Rng& rng, double gain = 1.0);
// N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
void glorot_normal_(core::Tensor& w, core::Rng& rng, double gain = 1.0);

void uniform_(core::Tensor& w, core::Rng& rng, float lo, float hi);
void normal_(core::Tensor& w, core::Rng& rng, float mean, float std);
void zeros_(core::Tensor& w);
void ones_(core::Tensor& w);
void constant_(core::Tensor& w, double value);

}  // namespace lowbit::layers
