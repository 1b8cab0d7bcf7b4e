// batch_norm: one fused differentiable op over x: (N,C) or (N,C,H,W), viewed as (N,C,S) with
// S = H*W (or 1). Kernels and the gradient formulas are in core/kernels/norm.cpp.
//
// Training: batch mean and biased variance normalise; running stats are updated in place with
//   running_mean = (1-m) running_mean + m mean,
//   running_var  = (1-m) running_var  + m var * M/(M-1)   (unbiased, as PyTorch), M = N*S.
//   The biased variance is recovered from the kernel's invstd as 1/invstd^2 - eps (clamped at 0);
//   its error is ~1e-7 (var + eps), far below what running statistics need.
// Eval: mean = running_mean, invstd = 1/sqrt(running_var + eps), gradient through fixed stats.

#include "core/ops/norm.hpp"

#include "core/autograd.hpp"
#include "core/kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowbit::core {
namespace {

void check_channel_vector(const Tensor& t, std::int64_t C, const char* name, const Shape& x_shape) {
  if (!t.defined()) return;
  check(t.dtype() == DType::f32, "batch_norm: {} must be f32, got {}", name,
        dtype_name(t.dtype()));
  check(t.shape() == Shape{C}, "batch_norm: {} has shape {}, expected [{}] for input {}", name,
        t.shape(), C, x_shape);
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  check(x.defined(), "batch_norm: input is undefined");
  check(x.dim() == 2 || x.dim() == 4, "batch_norm: expected x of shape (N,C) or (N,C,H,W), got {}",
        x.shape());
  check(x.dtype() == DType::f32, "batch_norm: expected f32 input, got {} (shape {})",
        dtype_name(x.dtype()), x.shape());
  const std::int64_t N = x.size(0), C = x.size(1), S = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  const std::int64_t M = N * S;  // elements per channel
  check_channel_vector(gamma, C, "gamma", x.shape());
  check_channel_vector(beta, C, "beta", x.shape());
  check_channel_vector(running_mean, C, "running_mean", x.shape());
  check_channel_vector(running_var, C, "running_var", x.shape());
  check(running_mean.defined() == running_var.defined(),
        "batch_norm: running_mean and running_var must be both given or both undefined");
  check(eps >= 0.0f && momentum >= 0.0f && momentum <= 1.0f,
        "batch_norm: need eps >= 0 and momentum in [0, 1], got eps {} momentum {}", eps, momentum);
  if (training) {
    check(M > 1, "batch_norm: training needs more than one value per channel, got input {}",
          x.shape());
  } else {
    check(running_mean.defined(),
          "batch_norm: eval mode needs running_mean and running_var (input {}). HINT: train "
          "with running stats, or call with training=true",
          x.shape());
  }

  const Tensor xc = x.detach().contiguous();  // xc: (N,C,S)
  const Tensor gc = gamma.defined() ? gamma.detach().contiguous() : Tensor();  // gc: (C)
  const Tensor bc = beta.defined() ? beta.detach().contiguous() : Tensor();    // bc: (C)
  Tensor mean = Tensor::empty({C});    // mean: (C)
  Tensor invstd = Tensor::empty({C});  // invstd: (C)
  if (!training) {
    const std::vector<float> rm = running_mean.to_vector<float>();
    const std::vector<float> rv = running_var.to_vector<float>();
    float* mp = mean.data<float>();
    float* ip = invstd.data<float>();
    for (std::int64_t c = 0; c < C; ++c) {
      mp[c] = rm[static_cast<std::size_t>(c)];
      ip[c] = static_cast<float>(1.0 / std::sqrt(double(rv[static_cast<std::size_t>(c)]) + eps));
    }
  }
  Tensor y = Tensor::uninitialized(x.shape());  // y: (N,C,S), overwritten by the kernel
  kernels::kernels().batch_norm_forward(N, C, S, xc.data<float>(), data_or_null(gc),
                                        data_or_null(bc), eps, !training, mean.data<float>(),
                                        invstd.data<float>(), y.data<float>());

  if (training && running_mean.defined()) {
    std::vector<float> rm = running_mean.to_vector<float>();
    std::vector<float> rv = running_var.to_vector<float>();
    const float* mp = mean.data<float>();
    const float* ip = invstd.data<float>();
    const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
    for (std::size_t c = 0; c < rm.size(); ++c) {
      const double is = ip[c];
      const double var = std::max(0.0, 1.0 / (is * is) - eps);  // biased batch variance
      rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * double(mp[c]));
      rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * var * unbias);
    }
    running_mean.copy_(Tensor::from_vector(rm, Shape{C}));
    running_var.copy_(Tensor::from_vector(rv, Shape{C}));
  }

  const bool need_dx = x.requires_grad();
  const bool need_dgamma = gamma.defined() && gamma.requires_grad();
  const bool need_dbeta = beta.defined() && beta.requires_grad();
  return record(y, "batch_norm", {x, gamma, beta},
                [xc, gc, mean, invstd, N, C, S, training, need_dx, need_dgamma,
                 need_dbeta](const Tensor& grad) {
                  const Tensor dyc = grad.contiguous();  // dyc: (N,C,S)
                  Tensor dx = need_dx ? Tensor::empty(xc.shape()) : Tensor();
                  Tensor dgamma = need_dgamma ? Tensor::empty({C}) : Tensor();
                  Tensor dbeta = need_dbeta ? Tensor::empty({C}) : Tensor();
                  kernels::kernels().batch_norm_backward(
                      N, C, S, dyc.data<float>(), xc.data<float>(), mean.data<float>(),
                      invstd.data<float>(), data_or_null(gc), !training,
                      need_dx ? dx.data<float>() : nullptr,
                      need_dgamma ? dgamma.data<float>() : nullptr,
                      need_dbeta ? dbeta.data<float>() : nullptr);
                  return Grads{dx, dgamma, dbeta};
                });
}

}  // namespace lowbit::core
