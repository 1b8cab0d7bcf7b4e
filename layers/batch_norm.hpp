#pragma once
// Batch normalisation (Ioffe & Szegedy 2015) over channel axis 1, through core::batch_norm.
//   BatchNorm1d: x: (N, C);  BatchNorm2d: x: (N, C, H, W);  y has x's shape.
// Training: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with the batch's mean and biased
//   variance; running = (1 - momentum) running + momentum batch (unbiased variance), and
//   num_batches_tracked += 1. Eval: the running statistics replace the batch's.
// Parameters: weight (gamma, init 1), bias (beta, init 0), both (C), when affine.
// Buffers: running_mean (C, init 0), running_var (C, init 1), num_batches_tracked (0-d i64).
// The names match PyTorch's, so state dicts line up.

#include "layers/module.hpp"

#include <cstdint>

namespace lowbit::layers {

struct BatchNormOptions {
  std::int64_t num_features = 0;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
};

class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  const BatchNormOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // gamma (C), undefined unless affine
  const Tensor& bias() const { return bias_; }      // beta (C), undefined unless affine
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  std::int64_t num_batches_tracked() const;
  // The running-average rate from now on (BN re-estimation sets 1/k for a plain average).
  void set_momentum(double momentum);

 protected:
  // rank: 2 for BatchNorm1d, 4 for BatchNorm2d.
  BatchNorm(const BatchNormOptions& options, std::int64_t rank);

 private:
  BatchNormOptions options_;
  std::int64_t rank_;
  Tensor weight_, bias_;
  Tensor running_mean_, running_var_, num_batches_tracked_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNorm(options, 2) {}
  explicit BatchNorm1d(std::int64_t num_features) : BatchNorm1d(BatchNormOptions{num_features}) {}
  std::string type_name() const override { return "BatchNorm1d"; }
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNorm(options, 4) {}
  explicit BatchNorm2d(std::int64_t num_features) : BatchNorm2d(BatchNormOptions{num_features}) {}
  std::string type_name() const override { return "BatchNorm2d"; }
};

}  // namespace lowbit::layers
