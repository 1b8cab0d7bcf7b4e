#pragma once
// Gradient clipping, applied to .grad() in place between backward() and Optimizer::step().
// Parameters without a gradient are ignored.

#include "core/tensor.hpp"

#include <vector>

namespace lowbit::optim {

// torch.nn.utils.clip_grad_norm_ (L2, PyTorch 1.13): with N = sqrt(sum over all gradient
// elements of g^2) (accumulated in double), every gradient is multiplied by
// min(1, max_norm / (N + 1e-6)). Returns N, the norm before clipping (0 when no parameter has a
// gradient). A non-finite N (a NaN or Inf gradient) is returned and the gradients are left
// untouched; the caller decides (skip the step, stop the run). max_norm must be > 0.
double clip_grad_norm(const std::vector<core::Tensor>& params, double max_norm);

// torch.nn.utils.clip_grad_value_: every gradient element is clamped into [-clip_value,
// clip_value] (NaN stays NaN). clip_value must be > 0.
void clip_grad_value(const std::vector<core::Tensor>& params, double clip_value);

}  // namespace lowbit::optim
