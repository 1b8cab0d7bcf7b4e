#include "optim/clip.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "optim/kernels.hpp"
#include "optim/optimizer.hpp"

#include <cmath>

namespace lowbit::optim {

double clip_grad_norm(const std::vector<core::Tensor>& params, double max_norm) {
  core::check(std::isfinite(max_norm) && max_norm > 0.0,
              "clip_grad_norm: max_norm must be finite and > 0, got {}. HINT: leave clipping "
              "off instead of passing 0",
              max_norm);
  core::NoGradGuard no_grad;
  std::vector<core::Tensor> grads;
  double sum = 0.0;
  for (const core::Tensor& p : params) {
    core::Tensor g = contiguous_grad(p);
    if (!g.defined()) continue;
    sum += kernels::sum_squares(g.data<float>(), g.numel());
    grads.push_back(g);
  }
  const double norm = std::sqrt(sum);
  if (!std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    for (core::Tensor& g : grads) {
      kernels::scale_inplace(g.data<float>(), g.numel(), static_cast<float>(coef));
    }
  }
  return norm;
}

void clip_grad_value(const std::vector<core::Tensor>& params, double clip_value) {
  core::check(std::isfinite(clip_value) && clip_value > 0.0,
              "clip_grad_value: clip_value must be finite and > 0, got {}", clip_value);
  core::NoGradGuard no_grad;
  const auto v = static_cast<float>(clip_value);
  for (const core::Tensor& p : params) {
    core::Tensor g = contiguous_grad(p);
    if (!g.defined()) continue;
    kernels::clamp_inplace(g.data<float>(), g.numel(), -v, v);
  }
}

}  // namespace lowbit::optim
