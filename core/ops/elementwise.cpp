// Elementwise ops: forward and backward side by side. Arithmetic is f32 with NumPy broadcasting;
// broadcast inputs get their gradient summed back to their own shape (sum_to).

#include "core/ops/elementwise.hpp"

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/ops/reduce.hpp"

#include <cmath>

namespace lowbit::core {
namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;

void require_f32(const Tensor& t, std::string_view op, std::string_view which) {
  check(t.defined(), "{}: {} is an undefined tensor", op, which);
  check(t.dtype() == DType::f32, "{}: {} has dtype {}, expected f32 (shape {})", op, which,
        dtype_name(t.dtype()), t.shape());
}

// Strides of t read as a tensor of shape `out` (0 on broadcast axes).
Strides broadcast_strides(const Tensor& t, const Shape& out) {
  Strides st(static_cast<std::size_t>(out.ndim()), 0);
  const std::int64_t lead = out.ndim() - t.dim();
  for (std::int64_t i = 0; i < t.dim(); ++i) {
    if (t.size(i) != 1) st[static_cast<std::size_t>(lead + i)] = t.strides()[static_cast<std::size_t>(i)];
  }
  return st;
}

// out[i] = fn(a[i], b[i]) over the broadcast shape of a and b; T is the input element type.
template <typename T, typename R, typename Fn>
Tensor map2(const Tensor& a, const Tensor& b, std::string_view op, DType out_dtype, Fn fn) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::uninitialized(shape, out_dtype);  // every element is written below
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.data<R>();
  const std::int64_t n = shape.numel();
  const bool same = a.shape() == shape && b.shape() == shape;
  if (same && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for simd if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], pb[i]);
    return out;
  }
  if (a.shape() == shape && a.is_contiguous() && b.numel() == 1) {
    const T s = *pb;
#pragma omp parallel for simd if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], s);
    return out;
  }
  const Strides sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  kernels::for_each_row<2>(shape, {sa.data(), sb.data()},
                           [&](std::int64_t o, const std::array<std::int64_t, 2>& off,
                               std::int64_t len, const std::array<std::int64_t, 2>& st) {
                             const T* ra = pa + off[0];
                             const T* rb = pb + off[1];
                             for (std::int64_t i = 0; i < len; ++i) {
                               po[o + i] = fn(ra[i * st[0]], rb[i * st[1]]);
                             }
                           });
  return out;
}

// out[i] = fn(x[i]) over contiguous f32.
template <typename Fn>
Tensor map1(const Tensor& x, Fn fn) {
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = xc.data<float>();
  float* po = out.data<float>();
  const std::int64_t n = x.numel();
#pragma omp parallel for simd if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) po[i] = fn(px[i]);
  return out;
}

template <typename Fn>
Tensor map2f(const Tensor& a, const Tensor& b, std::string_view op, Fn fn) {
  return map2<float, float>(a, b, op, DType::f32, fn);
}

// Records a unary op whose gradient is g * dfn(x_or_saved).
template <typename Deriv>
Tensor unary(const Tensor& x, Tensor out, std::string_view op, Tensor saved, Deriv deriv) {
  return record(std::move(out), op, {x}, [saved = std::move(saved), deriv](const Tensor& g) {
    return Grads{map2f(g, saved, "backward", [deriv](float gi, float si) { return gi * deriv(si); })};
  });
}

}  // namespace

// ---- binary arithmetic ----

Tensor add(const Tensor& a, const Tensor& b) {
  require_f32(a, "add", "a");
  require_f32(b, "add", "b");
  Tensor out = map2f(a, b, "add", [](float x, float y) { return x + y; });
  return record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return Grads{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  require_f32(a, "sub", "a");
  require_f32(b, "sub", "b");
  Tensor out = map2f(a, b, "sub", [](float x, float y) { return x - y; });
  return record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return Grads{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  require_f32(a, "mul", "a");
  require_f32(b, "mul", "b");
  Tensor out = map2f(a, b, "mul", [](float x, float y) { return x * y; });
  return record(out, "mul", {a, b},
                [ad = a.detach(), bd = b.detach(), need_a = a.requires_grad(),
                 need_b = b.requires_grad()](const Tensor& g) {
                  return Grads{need_a ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                               need_b ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  require_f32(a, "div", "a");
  require_f32(b, "div", "b");
  Tensor out = map2f(a, b, "div", [](float x, float y) { return x / y; });
  return record(out, "div", {a, b},
                [ad = a.detach(), bd = b.detach(), need_a = a.requires_grad(),
                 need_b = b.requires_grad()](const Tensor& g) {
                  Tensor ga, gb;
                  if (need_a) ga = sum_to(div(g, bd), ad.shape());
                  if (need_b) gb = sum_to(neg(div(mul(g, ad), mul(bd, bd))), bd.shape());
                  return Grads{ga, gb};
                });
}

Tensor neg(const Tensor& x) {
  require_f32(x, "neg", "x");
  Tensor out = map1(x, [](float v) { return -v; });
  return record(out, "neg", {x}, [](const Tensor& g) { return Grads{neg(g)}; });
}

// ---- unary math ----

Tensor exp(const Tensor& x) {
  require_f32(x, "exp", "x");
  Tensor out = map1(x, [](float v) { return std::exp(v); });
  return unary(x, out, "exp", out.detach(), [](float y) { return y; });
}

Tensor log(const Tensor& x) {
  require_f32(x, "log", "x");
  Tensor out = map1(x, [](float v) { return std::log(v); });
  return unary(x, out, "log", x.detach(), [](float v) { return 1.0f / v; });
}

Tensor sqrt(const Tensor& x) {
  require_f32(x, "sqrt", "x");
  Tensor out = map1(x, [](float v) { return std::sqrt(v); });
  return unary(x, out, "sqrt", out.detach(), [](float y) { return 0.5f / y; });
}

Tensor pow(const Tensor& x, float exponent) {
  require_f32(x, "pow", "x");
  Tensor out = map1(x, [exponent](float v) { return std::pow(v, exponent); });
  return unary(x, out, "pow", x.detach(),
               [exponent](float v) { return exponent * std::pow(v, exponent - 1.0f); });
}

Tensor abs(const Tensor& x) {
  require_f32(x, "abs", "x");
  Tensor out = map1(x, [](float v) { return std::fabs(v); });
  return unary(x, out, "abs", x.detach(),
               [](float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); });
}

Tensor sign(const Tensor& x) {
  require_f32(x, "sign", "x");
  Tensor out = map1(x, [](float v) { return v >= 0.0f ? 1.0f : -1.0f; });
  // The true derivative is zero almost everywhere; straight-through estimators live in quant/.
  return record(out, "sign", {x}, [](const Tensor& g) { return Grads{Tensor::zeros(g.shape())}; });
}

Tensor tanh(const Tensor& x) {
  require_f32(x, "tanh", "x");
  Tensor out = map1(x, [](float v) { return std::tanh(v); });
  return unary(x, out, "tanh", out.detach(), [](float y) { return 1.0f - y * y; });
}

Tensor sigmoid(const Tensor& x) {
  require_f32(x, "sigmoid", "x");
  Tensor out = map1(x, [](float v) {
    // Stable for large |v|: never exponentiates a large positive number.
    return v >= 0.0f ? 1.0f / (1.0f + std::exp(-v)) : std::exp(v) / (1.0f + std::exp(v));
  });
  return unary(x, out, "sigmoid", out.detach(), [](float y) { return y * (1.0f - y); });
}

Tensor relu(const Tensor& x) {
  require_f32(x, "relu", "x");
  Tensor out = map1(x, [](float v) { return v > 0.0f ? v : 0.0f; });
  return unary(x, out, "relu", x.detach(), [](float v) { return v > 0.0f ? 1.0f : 0.0f; });
}

Tensor clamp(const Tensor& x, float lo, float hi) {
  require_f32(x, "clamp", "x");
  check(lo <= hi, "clamp: lower bound {} is above upper bound {}", lo, hi);
  Tensor out = map1(x, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });
  return unary(x, out, "clamp", x.detach(),
               [lo, hi](float v) { return v >= lo && v <= hi ? 1.0f : 0.0f; });
}

// As PyTorch: the gradient is 1 strictly inside (lo, hi) and 0 at and beyond the bounds.
Tensor hardtanh(const Tensor& x, float lo, float hi) {
  require_f32(x, "hardtanh", "x");
  check(lo <= hi, "hardtanh: lower bound {} is above upper bound {}", lo, hi);
  Tensor out = map1(x, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });
  return unary(x, out, "hardtanh", x.detach(),
               [lo, hi](float v) { return v > lo && v < hi ? 1.0f : 0.0f; });
}

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  check(mask.defined() && mask.dtype() == DType::u8, "where: mask must be a u8 tensor, got {}",
        mask.defined() ? dtype_name(mask.dtype()) : "undefined");
  require_f32(a, "where", "a");
  require_f32(b, "where", "b");
  const Shape shape =
      broadcast_shapes(broadcast_shapes(mask.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape);
  const Strides sm = broadcast_strides(mask, shape), sa = broadcast_strides(a, shape),
                sb = broadcast_strides(b, shape);
  const std::uint8_t* pm = mask.data<std::uint8_t>();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  kernels::for_each_row<3>(shape, {sm.data(), sa.data(), sb.data()},
                           [&](std::int64_t o, const std::array<std::int64_t, 3>& off,
                               std::int64_t len, const std::array<std::int64_t, 3>& st) {
                             for (std::int64_t i = 0; i < len; ++i) {
                               po[o + i] = pm[off[0] + i * st[0]] ? pa[off[1] + i * st[1]]
                                                                  : pb[off[2] + i * st[2]];
                             }
                           });
  return record(out, "where", {a, b},
                [md = mask.detach(), sa_ = a.shape(), sb_ = b.shape()](const Tensor& g) {
                  const Tensor zero = Tensor::scalar(0.0f);
                  return Grads{sum_to(where(md, g, zero), sa_), sum_to(where(md, zero, g), sb_)};
                });
}

// ---- comparisons (u8 masks, no gradient) ----

namespace {
template <typename Pred>
Tensor compare(const Tensor& x, float v, std::string_view op, Pred pred) {
  require_f32(x, op, "x");
  return map2<float, std::uint8_t>(x, Tensor::scalar(v), op, DType::u8,
                                   [pred](float a, float b) -> std::uint8_t { return pred(a, b); });
}
}  // namespace

Tensor gt(const Tensor& x, float v) { return compare(x, v, "gt", [](float a, float b) { return a > b; }); }
Tensor ge(const Tensor& x, float v) { return compare(x, v, "ge", [](float a, float b) { return a >= b; }); }
Tensor lt(const Tensor& x, float v) { return compare(x, v, "lt", [](float a, float b) { return a < b; }); }
Tensor le(const Tensor& x, float v) { return compare(x, v, "le", [](float a, float b) { return a <= b; }); }

Tensor eq(const Tensor& a, const Tensor& b) {
  check(a.dtype() == b.dtype(), "eq: dtypes differ ({} vs {})", dtype_name(a.dtype()),
        dtype_name(b.dtype()));
  auto same = [](auto x, auto y) -> std::uint8_t { return x == y; };
  switch (a.dtype()) {
    case DType::f32: return map2<float, std::uint8_t>(a, b, "eq", DType::u8, same);
    case DType::i32: return map2<std::int32_t, std::uint8_t>(a, b, "eq", DType::u8, same);
    case DType::i64: return map2<std::int64_t, std::uint8_t>(a, b, "eq", DType::u8, same);
    case DType::u8: return map2<std::uint8_t, std::uint8_t>(a, b, "eq", DType::u8, same);
  }
  fail("eq: unknown dtype");
}

// ---- operators ----

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, float b) { return add(a, Tensor::scalar(b)); }
Tensor operator-(const Tensor& a, float b) { return sub(a, Tensor::scalar(b)); }
Tensor operator*(const Tensor& a, float b) { return mul(a, Tensor::scalar(b)); }
Tensor operator/(const Tensor& a, float b) { return div(a, Tensor::scalar(b)); }
Tensor operator+(float a, const Tensor& b) { return add(Tensor::scalar(a), b); }
Tensor operator-(float a, const Tensor& b) { return sub(Tensor::scalar(a), b); }
Tensor operator*(float a, const Tensor& b) { return mul(Tensor::scalar(a), b); }
Tensor operator/(float a, const Tensor& b) { return div(Tensor::scalar(a), b); }

}  // namespace lowbit::core
