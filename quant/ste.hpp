#pragma once
// Quantizer primitives: forward and gradient estimator side by side, each one autograd op over a
// fused elementwise loop (methods.md section 0.2 names the estimators).
//
//   sign(x) = +1 for x >= 0, -1 otherwise (sign(0) = +1, DESIGN.md), for every sign below.

#include "core/rng.hpp"
#include "core/tensor.hpp"

#include <cstdint>

namespace lowbit::quant {

using core::Tensor;

// How a binarizer's gradient reaches its input.
enum class SignGrad {
  identity,     // dL/dx = dL/dq                       (BinaryConnect / BNN weights)
  clipped,      // dL/dx = dL/dq * 1[|x| <= 1]          (hardtanh STE: BNN/XNOR activations)
  approx_sign,  // dL/dx = dL/dq * max(0, 2 - 2|x|)     (Bi-Real ApproxSign, methods.md 2c)
};

// q = sign(x) with the chosen estimator.
Tensor sign_ste(const Tensor& x, SignGrad grad);

// q = scale[r] * sign(x) where r indexes the leading axis (x viewed as (rows, -1); scale (rows)).
// The gradient to x is dL/dq * 1[|x| <= 1], times scale[r] when `times_scale` (Bi-Real paper
// rule) or not (Bi-Real code rule); no gradient flows to scale (it is detached).
Tensor scaled_sign_ste(const Tensor& x, const Tensor& scale, bool times_scale);

// Stochastic BinaryConnect (methods.md 1.1): q = +h with probability hard_sigmoid(x / h),
// else -h, one fresh draw per element from `rng` in element order; identity STE.
Tensor stochastic_binarize(const Tensor& x, float h, core::Rng& rng);

// DoReFa's quantize_k on [0,1]: q = round((2^k - 1) r) / (2^k - 1), round half away from zero;
// identity STE (the input is expected in [0, 1]).
Tensor quantize_unit(const Tensor& r, int bits);

// DoReFa activation: q = quantize_k(clip(x, 0, 1)); gradient dL/dq * 1[0 <= x <= 1].
Tensor dorefa_activation(const Tensor& x, int bits);

// LSQ (methods.md 8.1): q = round(clip(v / s, -qn, qp)) * s with s a 1-element tensor.
// dq/dv = 1[-qn < v/s < qp]; dq/ds = round(v/s) - v/s inside, -qn below, +qp above, and the
// step gradient is multiplied by grad_scale (g = 1/sqrt(N * qp)).
Tensor lsq_quantize(const Tensor& v, const Tensor& s, float qn, float qp, float grad_scale);

// PACT (methods.md 8.2): y = clip(x, 0, alpha), q = round(y * n / alpha) * alpha / n,
// n = 2^k - 1, alpha a 1-element tensor. dq/dx = 1[0 < x < alpha], dq/dalpha = 1[x >= alpha].
Tensor pact_quantize(const Tensor& x, const Tensor& alpha, int bits);

// DoReFa gradient quantizer f_g (methods.md 4): identity forward; backward replaces dr, per
// sample (leading axis) with m = max|dr| over the sample, by
//   dr_q = (quantize_k(clip(dr / m * 0.5 + 0.5 + u, 0, 1)) - 0.5) * 2 * m,  u ~ U(-0.5/n, 0.5/n).
// The noise comes from `rng` (which must outlive the backward pass).
Tensor quantize_gradient(const Tensor& y, int bits, core::Rng& rng);

// The hard sigmoid of BinaryConnect: clip((x + 1) / 2, 0, 1).
inline float hard_sigmoid(float x) {
  const float p = (x + 1.0f) * 0.5f;
  return p < 0.0f ? 0.0f : (p > 1.0f ? 1.0f : p);
}
inline float sign_of(float x) { return x < 0.0f ? -1.0f : 1.0f; }

}  // namespace lowbit::quant
