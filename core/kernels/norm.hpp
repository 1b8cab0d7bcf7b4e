#pragma once
// Batch-norm kernels over x: (N,C,S) float buffers (S = H*W, or 1 for (N,C) inputs);
// optimized (OpenMP over channels) and reference twins.

#include <cstdint>

namespace lowbit::core::kernels {

// Training mode: per-channel batch mean and inverse std 1/sqrt(var_biased + eps) are written to
// mean, invstd: (C). y = (x - mean) * invstd * gamma + beta; gamma/beta may be nullptr (1 and 0).
// Eval mode is the same kernel with use_given_stats=true: mean/invstd are read, not computed.
void batch_norm_forward_fast(std::int64_t N, std::int64_t C, std::int64_t S, const float* x,
                             const float* gamma, const float* beta, float eps,
                             bool use_given_stats, float* mean, float* invstd, float* y);
void batch_norm_forward_reference(std::int64_t N, std::int64_t C, std::int64_t S, const float* x,
                                  const float* gamma, const float* beta, float eps,
                                  bool use_given_stats, float* mean, float* invstd, float* y);

// Gradients of the training-mode op (batch statistics) or, with use_given_stats, of the eval-mode
// op (fixed statistics). dx, dgamma, dbeta are overwritten; any may be nullptr to skip.
void batch_norm_backward_fast(std::int64_t N, std::int64_t C, std::int64_t S, const float* dy,
                              const float* x, const float* mean, const float* invstd,
                              const float* gamma, bool use_given_stats, float* dx, float* dgamma,
                              float* dbeta);
void batch_norm_backward_reference(std::int64_t N, std::int64_t C, std::int64_t S,
                                   const float* dy, const float* x, const float* mean,
                                   const float* invstd, const float* gamma, bool use_given_stats,
                                   float* dx, float* dgamma, float* dbeta);

}  // namespace lowbit::core::kernels
