#pragma once

#include "core/tensor.hpp"

namespace lowbit::core {

// Batch normalisation as one fused op over x: (N,C) or (N,C,H,W), per channel C.
// training: normalise with the batch mean and biased variance, and update the running stats in
//   place: running = (1-momentum)*running + momentum*batch (the running variance takes the unbiased
//   batch variance, as PyTorch does).
// eval: normalise with the running stats.
// gamma, beta: (C) or undefined (no affine). running_mean, running_var: (C), never differentiated.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

}  // namespace lowbit::core
