#pragma once
// Differentiable ops of PBNet (Peters & Welling 2018, methods.md 3b) over "distribution tensors".
//
// A distribution tensor holds a Gaussian per unit as (N, 2C, ...): the means in channels [0, C),
// the variances in channels [C, 2C). (N, 2C, H, W) after a PbConv2d, (N, 2C) after a PbLinear.
// Keeping both halves in one tensor lets the ordinary Sequential chain PBNet layers.

#include "core/rng.hpp"
#include "core/tensor.hpp"

#include <cstdint>

namespace lowbit::quant {

using core::Tensor;

// Concatenates a and b along axis 1: (N, Ca, ...), (N, Cb, ...) -> (N, Ca + Cb, ...). Every other
// axis must match. Gradients are the matching slices of the output gradient.
Tensor cat_channels(const Tensor& a, const Tensor& b);

// Stochastic batch normalisation of a distribution tensor x: (N, 2C, ...) (methods.md 3b).
// Per channel c over the batch (and the spatial positions), with means mu and variances s:
//   m = mean(mu),  v = mean(s + mu^2) - m^2       (training: the batch's; eval: running_*)
//   out mean = gamma (mu - m) / sqrt(v + eps) + beta,   out variance = gamma^2 s / (v + eps).
// With every s = 0 this is ordinary BN. Training updates running_mean/running_var in place like
// core::batch_norm (momentum, unbiased v: v * M / (M - 1), M values per channel).
// gamma, beta: (C) (both given or both undefined); running_mean, running_var: (C).
Tensor stochastic_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             Tensor running_mean, Tensor running_var, bool training,
                             float momentum = 0.1f, float eps = 1e-5f);

// Binary-concrete (Gumbel-sigmoid) relaxation of h = sign(a), a ~ N(mu, s), x: (N, 2C, ...) ->
// h: (N, C, ...) in (-1, 1):
//   P(h = +1) = Phi(mu / sqrt(s + kVarEps)),  h = 2 sigmoid((logit P + log u - log(1 - u)) / tau) - 1
// with u ~ U(0, 1) drawn from `rng` (one per output element, row-major order). Gradients are the
// exact reparameterisation gradients with respect to mu and s (u fixed). tau > 0.
// mu / sqrt(s + kVarEps) is clamped to [-kMaxScore, kMaxScore] (where P is 1 - 8e-24 at most, so a
// sample is +-1 for any tau <= 1); the gradient is zero where the clamp acts.
// straight_through: the forward outputs the hard sample sign(h) in {-1, +1} (+1 at 0), which is an
// exact draw of sign(a) (P(h > 0) = P for any tau), and the backward keeps the relaxed gradient.
// Training then sees the +-1 activations evaluation runs on.
Tensor concrete_sign(const Tensor& x, float tau, core::Rng& rng, bool straight_through = false);
inline constexpr float kVarEps = 1e-6f;
inline constexpr float kMaxScore = 10.0f;

// logit(Phi(t)) = log Phi(t) - log Phi(-t) and its derivative phi(t) / (Phi(t) Phi(-t)), for
// |t| <= kMaxScore, by linear interpolation in a table built once in double (error < 1e-5);
// exposed for tests.
float logit_normal_cdf(float t);
float logit_normal_cdf_derivative(float t);

// sign of the means of x: (N, 2C, ...) -> (N, C, ...), +1 where mu >= 0 (sign(0) = +1), else -1;
// no gradient. What a PBNet unit outputs at test time (MAP).
Tensor sign_of_mean(const Tensor& x);

}  // namespace lowbit::quant
