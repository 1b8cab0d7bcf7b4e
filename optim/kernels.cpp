#include "optim/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowbit::optim::kernels {

void sgd_update(float* p, const float* g, float* buf, std::int64_t n, double lr, double momentum,
                double dampening, double weight_decay, bool nesterov, bool first_step) {
  const float lr_f = static_cast<float>(lr);
  const float wd = static_cast<float>(weight_decay);
  if (momentum == 0.0) {
#pragma omp parallel for simd if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) {
      const float d = g[i] + wd * p[i];
      p[i] -= lr_f * d;
    }
    return;
  }
  const float mu = static_cast<float>(momentum);
  const float keep = static_cast<float>(1.0 - dampening);
#pragma omp parallel for simd if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const float d = g[i] + wd * p[i];
    const float b = first_step ? d : mu * buf[i] + keep * d;
    buf[i] = b;
    const float step = nesterov ? d + mu * b : b;
    p[i] -= lr_f * step;
  }
}

void adam_update(float* p, const float* g, float* m, float* v, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 double step_size, double bc2_sqrt) {
  const float decay_factor = static_cast<float>(1.0 - lr * weight_decay);  // AdamW
  const float l2 = decoupled ? 0.0f : static_cast<float>(weight_decay);     // Adam
  const float b1 = static_cast<float>(beta1);
  const float b2 = static_cast<float>(beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - beta1);
  const float one_minus_b2 = static_cast<float>(1.0 - beta2);
  const float eps_f = static_cast<float>(eps);
  const float step_f = static_cast<float>(step_size);
  const float bc2_f = static_cast<float>(bc2_sqrt);
#pragma omp parallel for simd if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    float x = p[i];
    if (decoupled) x *= decay_factor;
    const float gi = g[i] + l2 * x;
    const float mi = b1 * m[i] + one_minus_b1 * gi;
    const float vi = b2 * v[i] + one_minus_b2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bc2_f + eps_f;
    p[i] = x - step_f * (mi / denom);
  }
}

double sum_squares(const float* x, std::int64_t n) {
  constexpr std::int64_t kChunk = 1 << 14;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t end = std::min(n, (c + 1) * kChunk);
    double s = 0.0;
    for (std::int64_t i = c * kChunk; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
    partial[static_cast<std::size_t>(c)] = s;
  }
  double total = 0.0;
  for (const double s : partial) total += s;
  return total;
}

void scale_inplace(float* x, std::int64_t n, float scale) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) x[i] *= scale;
}

void clamp_inplace(float* x, std::int64_t n, float lo, float hi) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}

}  // namespace lowbit::optim::kernels
