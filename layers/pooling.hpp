#pragma once
// Pooling over (N, C, H, W) inputs, square windows.
//   MaxPool2d / AvgPool2d: -> (N, C, OH, OW), OH = (H + 2 padding - kernel) / stride + 1 (floor).
//     Max: padding never wins. Avg: padding counts as zeros (count_include_pad).
//   GlobalAvgPool: -> (N, C), the mean over H and W.

#include "core/ops/pool.hpp"
#include "layers/module.hpp"

#include <cstdint>

namespace lowbit::layers {

struct Pool2dOptions {
  std::int64_t kernel_size = 2;
  std::int64_t stride = 0;  // 0 = kernel_size
  std::int64_t padding = 0;

  core::Pool2dParams params() const;
  std::int64_t output_size(std::int64_t in) const;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const Pool2dOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string describe() const override;
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const Pool2dOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::string describe() const override;
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

class GlobalAvgPool : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "GlobalAvgPool"; }
};

}  // namespace lowbit::layers
