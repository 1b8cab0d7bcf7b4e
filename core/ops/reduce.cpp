// Reductions: forward and backward side by side. Sums accumulate in double.

#include "core/ops/reduce.hpp"

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/ops/elementwise.hpp"

#include <algorithm>
#include <limits>

namespace lowbit::core {
namespace {

struct Reduction {
  std::vector<bool> reduced;  // per input axis
  Shape keep_shape;           // reduced axes kept with extent 1
  Shape out_shape;            // as requested (keepdim or not)
  std::int64_t count = 1;     // elements folded into each output
};

Reduction plan(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim,
               std::string_view op) {
  Reduction r;
  r.reduced.assign(static_cast<std::size_t>(x.dim()), false);
  for (std::int64_t a : axes) {
    const auto i = static_cast<std::size_t>(normalize_axis(a, x.dim(), op));
    check(!r.reduced[i], "{}: axis {} is listed twice", op, a);
    r.reduced[i] = true;
  }
  std::vector<std::int64_t> keep, out;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    const bool red = r.reduced[static_cast<std::size_t>(i)];
    keep.push_back(red ? 1 : x.size(i));
    if (red) r.count *= x.size(i);
    if (!red || keepdim) out.push_back(red ? 1 : x.size(i));
  }
  r.keep_shape = Shape(keep);
  r.out_shape = Shape(out);
  return r;
}

// Sums x over the reduced axes of r into a contiguous tensor of r.out_shape, times `scale`.
Tensor sum_kernel(const Tensor& x, const Reduction& r, double scale) {
  std::vector<double> acc(static_cast<std::size_t>(r.keep_shape.numel()), 0.0);
  const float* px = x.data<float>();
  // Output strides over the input's axes: 0 on reduced axes.
  Strides so = contiguous_strides(r.keep_shape);
  for (std::size_t i = 0; i < so.size(); ++i) {
    if (r.reduced[i]) so[i] = 0;
  }
  kernels::for_each_row<2>(x.shape(), {x.strides().data(), so.data()},
                           [&](std::int64_t, const std::array<std::int64_t, 2>& off,
                               std::int64_t n, const std::array<std::int64_t, 2>& st) {
                             const float* row = px + off[0];
                             double* dst = acc.data() + off[1];
                             if (st[1] == 0) {
                               double s = 0.0;
                               for (std::int64_t i = 0; i < n; ++i) s += row[i * st[0]];
                               *dst += s;
                             } else {
                               for (std::int64_t i = 0; i < n; ++i) dst[i] += row[i * st[0]];
                             }
                           });
  Tensor out = Tensor::empty(r.out_shape);
  float* po = out.data<float>();
  for (std::size_t i = 0; i < acc.size(); ++i) po[i] = static_cast<float>(acc[i] * scale);
  return out;
}

Tensor reduce_sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim,
                  bool average, std::string_view op) {
  check(x.defined() && x.dtype() == DType::f32, "{}: expected an f32 tensor", op);
  const Reduction r = plan(x, axes, keepdim, op);
  const double scale = average ? 1.0 / static_cast<double>(std::max<std::int64_t>(r.count, 1)) : 1.0;
  Tensor out = sum_kernel(x, r, scale);
  return record(out, op, {x}, [keep = r.keep_shape, in = x.shape(), scale](const Tensor& g) {
    Tensor gx = g.reshape(keep.dims()).expand(in).contiguous();
    if (scale != 1.0) gx = mul(gx, Tensor::scalar(static_cast<float>(scale)));
    return Grads{gx};
  });
}

std::vector<std::int64_t> all_axes(const Tensor& x) {
  std::vector<std::int64_t> axes(static_cast<std::size_t>(x.dim()));
  for (std::int64_t i = 0; i < x.dim(); ++i) axes[static_cast<std::size_t>(i)] = i;
  return axes;
}

// Index along `axis` of the first maximum for every (outer, inner) position of contiguous x.
struct ArgmaxResult {
  Tensor values;   // f32, keepdim shape
  Tensor indices;  // i64, keepdim shape
};

ArgmaxResult argmax_kernel(const Tensor& x, std::int64_t axis, std::string_view op) {
  check(x.defined() && x.dtype() == DType::f32, "{}: expected an f32 tensor", op);
  const std::int64_t a = normalize_axis(axis, x.dim(), op);
  check(x.size(a) > 0, "{}: axis {} of shape {} is empty", op, axis, x.shape());
  const Tensor xc = x.contiguous();
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < a; ++i) outer *= x.size(i);
  for (std::int64_t i = a + 1; i < x.dim(); ++i) inner *= x.size(i);
  const std::int64_t n = x.size(a);
  std::vector<std::int64_t> keep = x.shape().dims();
  keep[static_cast<std::size_t>(a)] = 1;
  ArgmaxResult r{Tensor::empty(Shape(keep)), Tensor::empty(Shape(keep), DType::i64)};
  const float* px = xc.data<float>();
  float* pv = r.values.data<float>();
  std::int64_t* pi = r.indices.data<std::int64_t>();
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < inner; ++j) {
      const float* p = px + o * n * inner + j;
      float best = p[0];
      std::int64_t best_k = 0;
      for (std::int64_t k = 1; k < n; ++k) {
        if (p[k * inner] > best) {
          best = p[k * inner];
          best_k = k;
        }
      }
      pv[o * inner + j] = best;
      pi[o * inner + j] = best_k;
    }
  }
  return r;
}

Shape drop_axis(const Shape& s, std::int64_t axis) {
  std::vector<std::int64_t> d = s.dims();
  d.erase(d.begin() + axis);
  return Shape(d);
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_sum(x, all_axes(x), false, false, "sum"); }
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  return reduce_sum(x, axes, keepdim, false, "sum");
}
Tensor mean(const Tensor& x) { return reduce_sum(x, all_axes(x), false, true, "mean"); }
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
  return reduce_sum(x, axes, keepdim, true, "mean");
}

Tensor max(const Tensor& x, std::int64_t axis, bool keepdim) {
  ArgmaxResult r = argmax_kernel(x, axis, "max");
  const std::int64_t a = normalize_axis(axis, x.dim(), "max");
  Tensor out = keepdim ? r.values : r.values.reshape(drop_axis(x.shape(), a).dims());
  return record(out, "max", {x}, [idx = r.indices, in = x.shape(), a](const Tensor& g) {
    // Scatter each output gradient to the position of its maximum.
    Tensor gx = Tensor::zeros(in);
    const Tensor gc = g.contiguous();
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t i = 0; i < a; ++i) outer *= in[i];
    for (std::int64_t i = a + 1; i < in.ndim(); ++i) inner *= in[i];
    const std::int64_t n = in[a];
    const float* pg = gc.data<float>();
    const std::int64_t* pi = idx.data<std::int64_t>();
    float* px = gx.data<float>();
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t j = 0; j < inner; ++j) {
        px[(o * n + pi[o * inner + j]) * inner + j] = pg[o * inner + j];
      }
    }
    return Grads{gx};
  });
}

Tensor argmax(const Tensor& x, std::int64_t axis, bool keepdim) {
  ArgmaxResult r = argmax_kernel(x, axis, "argmax");
  if (keepdim) return r.indices;
  return r.indices.reshape(drop_axis(x.shape(), normalize_axis(axis, x.dim(), "argmax")).dims());
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  check(x.dim() >= shape.ndim(), "sum_to: cannot sum shape {} down to {}", x.shape(), shape);
  const std::int64_t lead = x.dim() - shape.ndim();
  std::vector<std::int64_t> axes;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      axes.push_back(i);
      continue;
    }
    const std::int64_t target = shape[i - lead];
    check(target == x.size(i) || target == 1, "sum_to: cannot sum shape {} down to {}", x.shape(),
          shape);
    if (target == 1 && x.size(i) != 1) axes.push_back(i);
  }
  return sum(x, axes, true).reshape(shape.dims());
}

}  // namespace lowbit::core
