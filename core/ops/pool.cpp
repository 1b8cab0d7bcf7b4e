// Pooling ops: max_pool2d, avg_pool2d (kernels in core/kernels/pool.cpp) and global_avg_pool2d.
// Output size per axis: O = (I + 2P - K) / S + 1 (floor), as PyTorch with ceil_mode=False.

#include "core/ops/pool.hpp"

#include "core/autograd.hpp"
#include "core/kernels/dispatch.hpp"

#include <cstdint>
#include <string_view>

namespace lowbit::core {
namespace {

// Validates x: (N,C,H,W) f32 and the window; returns the kernel geometry.
kernels::PoolGeometry pool_geometry(const Tensor& x, const Pool2dParams& p, std::string_view op) {
  check(x.defined(), "{}: input is undefined", op);
  check(x.dim() == 4, "{}: expected x of shape (N,C,H,W), got {}", op, x.shape());
  check(x.dtype() == DType::f32, "{}: expected f32 input, got {} (shape {})", op,
        dtype_name(x.dtype()), x.shape());
  check(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
        "{}: kernel {}x{} and stride {}x{} must be positive", op, p.kernel_h, p.kernel_w,
        p.stride_h, p.stride_w);
  check(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w,
        "{}: padding {}x{} must be between 0 and half the kernel {}x{}", op, p.pad_h, p.pad_w,
        p.kernel_h, p.kernel_w);
  const std::int64_t H = x.size(2), W = x.size(3);
  check(H + 2 * p.pad_h >= p.kernel_h && W + 2 * p.pad_w >= p.kernel_w,
        "{}: kernel {}x{} is larger than the padded input {} (padding {}x{})", op, p.kernel_h,
        p.kernel_w, x.shape(), p.pad_h, p.pad_w);
  kernels::PoolGeometry g{};
  g.N = x.size(0);
  g.C = x.size(1);
  g.H = H;
  g.W = W;
  g.KH = p.kernel_h;
  g.KW = p.kernel_w;
  g.SH = p.stride_h;
  g.SW = p.stride_w;
  g.PH = p.pad_h;
  g.PW = p.pad_w;
  g.OH = (H + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  g.OW = (W + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  check(H * W <= INT32_MAX, "{}: plane {}x{} too large for i32 argmax indices", op, H, W);
  return g;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  const kernels::PoolGeometry g = pool_geometry(x, p, "max_pool2d");
  const Tensor xc = x.detach().contiguous();              // xc: (N,C,H,W)
  Tensor y = Tensor::uninitialized({g.N, g.C, g.OH, g.OW});  // y: (N,C,OH,OW), overwritten
  Tensor argmax = Tensor::uninitialized(y.shape(), DType::i32);  // (N,C,OH,OW) into H*W
  kernels::kernels().max_pool2d_forward(g, xc.data<float>(), y.data<float>(),
                                        argmax.data<std::int32_t>());
  return record(y, "max_pool2d", {x}, [g, argmax](const Tensor& grad) {
    const Tensor gc = grad.contiguous();  // gc: (N,C,OH,OW)
    Tensor dx = Tensor::uninitialized({g.N, g.C, g.H, g.W});  // the kernel zeroes, then scatters
    kernels::kernels().max_pool2d_backward(g, gc.data<float>(), argmax.data<std::int32_t>(),
                                           dx.data<float>());
    return Grads{dx};
  });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  const kernels::PoolGeometry g = pool_geometry(x, p, "avg_pool2d");
  const Tensor xc = x.detach().contiguous();        // xc: (N,C,H,W)
  Tensor y = Tensor::empty({g.N, g.C, g.OH, g.OW});  // y: (N,C,OH,OW)
  kernels::kernels().avg_pool2d_forward(g, xc.data<float>(), y.data<float>());
  return record(y, "avg_pool2d", {x}, [g](const Tensor& grad) {
    const Tensor gc = grad.contiguous();
    Tensor dx = Tensor::empty({g.N, g.C, g.H, g.W});
    kernels::kernels().avg_pool2d_backward(g, gc.data<float>(), dx.data<float>());
    return Grads{dx};
  });
}

// y[n,c] = mean over the H*W plane; dx[n,c,h,w] = g[n,c] / (H*W).
Tensor global_avg_pool2d(const Tensor& x) {
  check(x.defined(), "global_avg_pool2d: input is undefined");
  check(x.dim() == 4, "global_avg_pool2d: expected x of shape (N,C,H,W), got {}", x.shape());
  check(x.dtype() == DType::f32, "global_avg_pool2d: expected f32 input, got {} (shape {})",
        dtype_name(x.dtype()), x.shape());
  const Shape in_shape = x.shape();
  const std::int64_t planes = x.size(0) * x.size(1), S = x.size(2) * x.size(3);
  check(S > 0, "global_avg_pool2d: empty spatial plane in input {}", in_shape);
  const Tensor xc = x.detach().contiguous();  // xc: (N*C, S)
  Tensor y = Tensor::empty({x.size(0), x.size(1)});
  const float* xp = xc.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static) if (planes * S > 32768)
  for (std::int64_t p = 0; p < planes; ++p) {
    double s = 0.0;
    for (std::int64_t i = 0; i < S; ++i) s += xp[p * S + i];
    yp[p] = static_cast<float>(s / static_cast<double>(S));
  }
  return record(y, "global_avg_pool2d", {x}, [in_shape, planes, S](const Tensor& grad) {
    const Tensor gc = grad.contiguous();  // gc: (N,C)
    Tensor dx = Tensor::empty(in_shape);
    const float* gp = gc.data<float>();
    float* dp = dx.data<float>();
    const float inv = 1.0f / static_cast<float>(S);
    for (std::int64_t p = 0; p < planes; ++p) {
      const float d = gp[p] * inv;
      for (std::int64_t i = 0; i < S; ++i) dp[p * S + i] = d;
    }
    return Grads{dx};
  });
}

}  // namespace lowbit::core
