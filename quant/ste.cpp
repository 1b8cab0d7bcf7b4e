#include "quant/ste.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"

#include <algorithm>
#include <cmath>

namespace lowbit::quant {

using core::Grads;

namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;

Tensor contiguous_f32(const Tensor& x, const char* who) {
  core::check(x.defined() && x.dtype() == core::DType::f32, "{}: expected a defined f32 tensor", who);
  return x.detach().contiguous();
}

// out[i] = f(x[i]) over a contiguous f32 tensor.
template <typename F>
Tensor map(const Tensor& xc, F f) {
  Tensor out = Tensor::uninitialized(xc.shape());
  const float* x = xc.data<float>();
  float* y = out.data<float>();
  const std::int64_t n = xc.numel();
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  return out;
}

// dL/dx[i] = g[i] * mask(x[i]): the gradient of an elementwise estimator.
template <typename F>
Tensor masked_grad(const Tensor& g, const Tensor& xc, F mask) {
  const Tensor gc = g.contiguous();
  Tensor out = Tensor::uninitialized(xc.shape());
  const float* x = xc.data<float>();
  const float* gp = gc.data<float>();
  float* y = out.data<float>();
  const std::int64_t n = xc.numel();
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) y[i] = gp[i] * mask(x[i]);
  return out;
}

float levels_for(int bits, const char* who) {
  core::check(bits >= 1 && bits <= 16, "{}: bits must be in [1, 16], got {}", who, bits);
  return static_cast<float>((1 << bits) - 1);
}

float scalar_of(const Tensor& t, const char* who) {
  core::check(t.defined() && t.numel() == 1 && t.dtype() == core::DType::f32,
              "{}: expected a 1-element f32 tensor", who);
  return t.detach().contiguous().data<float>()[0];
}

}  // namespace

Tensor sign_ste(const Tensor& x, SignGrad grad) {
  const Tensor xc = contiguous_f32(x, "sign_ste");
  Tensor q = map(xc, sign_of);
  return core::record(q, "sign_ste", {x}, [xc, grad](const Tensor& g) {
    switch (grad) {
      case SignGrad::identity:
        return Grads{g.contiguous().clone()};
      case SignGrad::clipped:
        return Grads{masked_grad(g, xc, [](float v) { return std::fabs(v) <= 1.0f ? 1.0f : 0.0f; })};
      case SignGrad::approx_sign:
        return Grads{masked_grad(g, xc, [](float v) { return std::max(0.0f, 2.0f - 2.0f * std::fabs(v)); })};
    }
    return Grads{Tensor()};
  });
}

Tensor scaled_sign_ste(const Tensor& x, const Tensor& scale, bool times_scale) {
  const Tensor xc = contiguous_f32(x, "scaled_sign_ste");
  const Tensor sc = contiguous_f32(scale, "scaled_sign_ste");
  const std::int64_t rows = xc.dim() == 0 ? 1 : xc.size(0);
  core::check(sc.numel() == rows, "scaled_sign_ste: {} scales for {} rows", sc.numel(), rows);
  const std::int64_t cols = rows == 0 ? 0 : xc.numel() / rows;
  Tensor q = Tensor::uninitialized(xc.shape());
  const float* xp = xc.data<float>();
  const float* s = sc.data<float>();
  float* qp = q.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) qp[r * cols + c] = s[r] * sign_of(xp[r * cols + c]);
  }
  return core::record(q, "scaled_sign_ste", {x}, [xc, sc, rows, cols, times_scale](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::uninitialized(xc.shape());
    const float* xp = xc.data<float>();
    const float* s = sc.data<float>();
    const float* gp = gc.data<float>();
    float* d = dx.data<float>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const float k = times_scale ? s[r] : 1.0f;
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t i = r * cols + c;
        d[i] = std::fabs(xp[i]) <= 1.0f ? gp[i] * k : 0.0f;
      }
    }
    return Grads{dx};
  });
}

Tensor stochastic_binarize(const Tensor& x, float h, core::Rng& rng) {
  core::check(h > 0.0f, "stochastic_binarize: H must be > 0, got {}", h);
  const Tensor xc = contiguous_f32(x, "stochastic_binarize");
  Tensor q = Tensor::uninitialized(xc.shape());
  const float* xp = xc.data<float>();
  float* qp = q.data<float>();
  const std::int64_t n = xc.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    qp[i] = rng.uniform() < hard_sigmoid(xp[i] / h) ? h : -h;
  }
  return core::record(q, "stochastic_binarize", {x},
                      [](const Tensor& g) { return Grads{g.contiguous().clone()}; });
}

Tensor quantize_unit(const Tensor& r, int bits) {
  const float n = levels_for(bits, "quantize_unit");
  const Tensor rc = contiguous_f32(r, "quantize_unit");
  Tensor q = map(rc, [n](float v) { return std::round(v * n) / n; });
  return core::record(q, "quantize_unit", {r},
                      [](const Tensor& g) { return Grads{g.contiguous().clone()}; });
}

Tensor dorefa_activation(const Tensor& x, int bits) {
  const float n = levels_for(bits, "dorefa_activation");
  const Tensor xc = contiguous_f32(x, "dorefa_activation");
  Tensor q = map(xc, [n](float v) { return std::round(std::clamp(v, 0.0f, 1.0f) * n) / n; });
  return core::record(q, "dorefa_activation", {x}, [xc](const Tensor& g) {
    return Grads{masked_grad(g, xc, [](float v) { return v >= 0.0f && v <= 1.0f ? 1.0f : 0.0f; })};
  });
}

Tensor lsq_quantize(const Tensor& v, const Tensor& s, float qn, float qp, float grad_scale) {
  const float step = scalar_of(s, "lsq_quantize");
  core::check(step > 0.0f && std::isfinite(step), "lsq_quantize: step size must be > 0, got {}", step);
  const Tensor vc = contiguous_f32(v, "lsq_quantize");
  Tensor q = map(vc, [=](float x) { return std::round(std::clamp(x / step, -qn, qp)) * step; });
  const core::Shape s_shape = s.shape();
  return core::record(q, "lsq_quantize", {v, s}, [=](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dv = Tensor::uninitialized(vc.shape());
    const float* x = vc.data<float>();
    const float* gp = gc.data<float>();
    float* d = dv.data<float>();
    const std::int64_t n = vc.numel();
    double ds = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : ds) if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      const float r = x[i] / step;
      float dq_ds;
      if (r <= -qn) {
        d[i] = 0.0f;
        dq_ds = -qn;
      } else if (r >= qp) {
        d[i] = 0.0f;
        dq_ds = qp;
      } else {
        d[i] = gp[i];
        dq_ds = std::round(r) - r;
      }
      ds += static_cast<double>(gp[i]) * dq_ds;
    }
    return Grads{dv, Tensor::full(s_shape, ds * grad_scale)};
  });
}

Tensor pact_quantize(const Tensor& x, const Tensor& alpha, int bits) {
  const float n = levels_for(bits, "pact_quantize");
  const float a = scalar_of(alpha, "pact_quantize");
  core::check(a > 0.0f && std::isfinite(a), "pact_quantize: alpha must be > 0, got {}", a);
  const Tensor xc = contiguous_f32(x, "pact_quantize");
  Tensor q = map(xc, [=](float v) { return std::round(std::clamp(v, 0.0f, a) * n / a) * a / n; });
  const core::Shape a_shape = alpha.shape();
  return core::record(q, "pact_quantize", {x, alpha}, [=](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::uninitialized(xc.shape());
    const float* xp = xc.data<float>();
    const float* gp = gc.data<float>();
    float* d = dx.data<float>();
    const std::int64_t count = xc.numel();
    double da = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : da) if (count > kParallelThreshold)
    for (std::int64_t i = 0; i < count; ++i) {
      d[i] = xp[i] > 0.0f && xp[i] < a ? gp[i] : 0.0f;
      if (xp[i] >= a) da += gp[i];
    }
    return Grads{dx, Tensor::full(a_shape, da)};
  });
}

Tensor quantize_gradient(const Tensor& y, int bits, core::Rng& rng) {
  const float n = levels_for(bits, "quantize_gradient");
  core::Rng* gen = &rng;
  return core::record(y.detach(), "quantize_gradient", {y}, [n, gen](const Tensor& g) {
    Tensor gq = g.contiguous().clone();
    const std::int64_t rows = gq.dim() == 0 ? 1 : gq.size(0);
    const std::int64_t cols = rows == 0 ? 0 : gq.numel() / rows;
    float* d = gq.data<float>();
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = d + r * cols;
      float m = 0.0f;
      for (std::int64_t c = 0; c < cols; ++c) m = std::max(m, std::fabs(row[c]));
      if (m == 0.0f) continue;
      for (std::int64_t c = 0; c < cols; ++c) {
        const float u = gen->uniform(-0.5f / n, 0.5f / n);
        const float t = std::clamp(row[c] / m * 0.5f + 0.5f + u, 0.0f, 1.0f);
        row[c] = (std::round(t * n) / n - 0.5f) * 2.0f * m;
      }
    }
    return Grads{gq};
  });
}

}  // namespace lowbit::quant
