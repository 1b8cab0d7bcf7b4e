#pragma once
// Raw-pointer update kernels for the optimizers. They never see Tensor or autograd; every buffer
// is contiguous f32 of length n. Large buffers run as an OpenMP parallel simd loop; every loop is
// elementwise, so results do not depend on the thread count. Hyperparameters arrive as double
// (as Python floats do in PyTorch); each coefficient (1 - beta1, 1 - lr * wd, ...) is formed in
// double and rounded to float once, then the arithmetic is float32, as in PyTorch's CPU kernels.

#include <cstdint>

namespace lowbit::optim::kernels {

// Buffers at least this long are split across OpenMP threads.
inline constexpr std::int64_t kParallelMin = 1 << 15;

// torch.optim.SGD (PyTorch 1.13), one parameter tensor:
//   d = g + wd * p
//   if momentum != 0:
//     buf = first_step ? d : momentum * buf + (1 - dampening) * d
//     d   = nesterov ? d + momentum * buf : buf
//   p -= lr * d
// p, g, buf: (n). buf is unused when momentum == 0.
void sgd_update(float* p, const float* g, float* buf, std::int64_t n, double lr, double momentum,
                double dampening, double weight_decay, bool nesterov, bool first_step);

// torch.optim.Adam / AdamW (PyTorch 1.13, amsgrad off; Kingma & Ba 2015, Loshchilov & Hutter
// 2019), one parameter tensor, after the step counter t has been incremented:
//   AdamW:  p *= 1 - lr * wd                     (decoupled decay)
//   Adam:   g' = g + wd * p                      (L2 penalty in the gradient)
//   m = beta1 * m + (1 - beta1) * g'
//   v = beta2 * v + (1 - beta2) * g' * g'
//   p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The caller passes step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t) computed in
// double, as PyTorch does in Python. p, g, m, v: (n).
void adam_update(float* p, const float* g, float* m, float* v, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 double step_size, double bc2_sqrt);

// Sum of squares of x: (n), accumulated in double over fixed chunks so the result is the same
// for every thread count.
double sum_squares(const float* x, std::int64_t n);

// x *= scale.
void scale_inplace(float* x, std::int64_t n, float scale);

// x = clamp(x, lo, hi); NaN stays NaN.
void clamp_inplace(float* x, std::int64_t n, float lo, float hi);

}  // namespace lowbit::optim::kernels
