#pragma once
// Conv2d: 2-D convolution (cross-correlation) with zero padding.
//   x: (N, in, H, W) -> y: (N, out, OH, OW), OH = floor((H + 2p - d(k-1) - 1) / s) + 1, OW alike.
//   weight: (out, in/groups, k, k), bias: (out) or none.
// Init (ResNet convention, He et al. 2015): weight ~ N(0, 2/fan_out), fan_out = out * k * k;
// bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch.

#include "core/ops/conv.hpp"
#include "core/rng.hpp"
#include "layers/module.hpp"

#include <cstdint>

namespace lowbit::layers {

struct Conv2dOptions {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t kernel_size = 3;  // square kernel
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t dilation = 1;
  std::int64_t groups = 1;
  bool bias = true;

  // Output extent of one spatial axis of input extent `in`.
  std::int64_t output_size(std::int64_t in) const;
  core::Conv2dParams params() const;
};

// Checks positivity and divisibility by groups; `who` names the caller in the error.
void validate(const Conv2dOptions& o, std::string_view who);

class Conv2d : public Module {
 public:
  Conv2d(const Conv2dOptions& options, core::Rng& rng);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string describe() const override;

  const Conv2dOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // (out, in/groups, k, k)
  const Tensor& bias() const { return bias_; }      // (out), undefined without bias
  // Output height/width of the last forward (0 before any): what the model summary counts MACs on.
  std::int64_t last_output_pixels() const { return last_output_pixels_; }

 private:
  Conv2dOptions options_;
  std::int64_t last_output_pixels_ = 0;
  Tensor weight_;
  Tensor bias_;
};

// One-line description shared by float and quantized convolutions.
std::string describe_conv(std::string_view type, const Conv2dOptions& o);

}  // namespace lowbit::layers
