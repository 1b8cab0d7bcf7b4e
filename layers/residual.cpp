#include "layers/residual.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/batch_norm.hpp"
#include "layers/pooling.hpp"
#include "layers/sequential.hpp"

namespace lowbit::layers {

BasicBlock::BasicBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
                       const LayerBuilder& builder, const std::string& prefix)
    : in_(in_channels), out_(out_channels), stride_(stride) {
  core::check(in_channels > 0 && out_channels > 0 && stride > 0,
              "BasicBlock '{}': channels and stride must be positive, got in={} out={} stride={}",
              prefix, in_channels, out_channels, stride);
  const auto name = [&](const char* part) { return prefix.empty() ? part : prefix + "." + part; };
  conv1_ = register_module(
      "conv1", builder.conv({in_channels, out_channels, 3, stride, 1, 1, 1, false}, name("conv1")));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
  relu1_ = register_module("relu1", builder.activation(name("relu1")));
  conv2_ = register_module(
      "conv2", builder.conv({out_channels, out_channels, 3, 1, 1, 1, 1, false}, name("conv2")));
  bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    auto ds = std::make_shared<Sequential>();
    ds->add(
        builder.conv({in_channels, out_channels, 1, stride, 0, 1, 1, false}, name("downsample.0")));
    ds->add(std::make_shared<BatchNorm2d>(out_channels));
    downsample_ = register_module("downsample", ds);
  }
  relu2_ = register_module("relu2", builder.activation(name("relu2")));
}

Tensor BasicBlock::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != in_) {
    core::fail("{}: expected input (N, {}, H, W), got {}", describe(), in_, x.shape());
  }
  Tensor y = relu1_->forward(bn1_->forward(conv1_->forward(x)));
  y = bn2_->forward(conv2_->forward(y));
  const Tensor shortcut = downsample_ ? downsample_->forward(x) : x;
  return relu2_->forward(y + shortcut);
}

std::string BasicBlock::describe() const {
  return fmt::format("BasicBlock({}, {}, stride={}, shortcut={})", in_, out_, stride_,
                     downsample_ ? "conv1x1+bn" : "identity");
}

BiRealBlock::BiRealBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
                         const LayerBuilder& builder, const std::string& prefix)
    : in_(in_channels), out_(out_channels), stride_(stride) {
  core::check(in_channels > 0 && out_channels > 0 && stride > 0,
              "BiRealBlock '{}': channels and stride must be positive, got in={} out={} stride={}",
              prefix, in_channels, out_channels, stride);
  const auto name = [&](const char* part) { return prefix.empty() ? part : prefix + "." + part; };
  conv_ = register_module(
      "conv", builder.conv({in_channels, out_channels, 3, stride, 1, 1, 1, false}, name("conv")));
  bn_ = register_module("bn", std::make_shared<BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    auto ds = std::make_shared<Sequential>();
    if (stride != 1) ds->add("0", std::make_shared<AvgPool2d>(Pool2dOptions{3, stride, 1}));
    ds->add("1", builder.conv({in_channels, out_channels, 1, 1, 0, 1, 1, false}, name("downsample.1")));
    ds->add("2", std::make_shared<BatchNorm2d>(out_channels));
    downsample_ = register_module("downsample", ds);
  }
}

Tensor BiRealBlock::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != in_) {
    core::fail("{}: expected input (N, {}, H, W), got {}", describe(), in_, x.shape());
  }
  const Tensor y = bn_->forward(conv_->forward(x));
  return y + (downsample_ ? downsample_->forward(x) : x);
}

std::string BiRealBlock::describe() const {
  return fmt::format("BiRealBlock({}, {}, stride={}, shortcut={})", in_, out_, stride_,
                     downsample_ ? (stride_ != 1 ? "avgpool+conv1x1+bn" : "conv1x1+bn") : "identity");
}

}  // namespace lowbit::layers
