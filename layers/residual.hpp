#pragma once
// BasicBlock: the ResNet basic block (He et al. 2016, "Deep residual learning"):
//   y = relu2( bn2(conv2( relu1(bn1(conv1(x))) )) + shortcut(x) )
//   conv1: 3x3, stride s, padding 1; conv2: 3x3, stride 1, padding 1; both without bias.
//   shortcut: identity when s == 1 and in == out, else "downsample" = 1x1 conv stride s (no bias)
//   then BN (option B).
// x: (N, in, H, W) -> (N, out, ceil(H/s), ceil(W/s)).
// Children (PyTorch names): conv1, bn1, relu1, conv2, bn2, [downsample.0, downsample.1], relu2.
// Convolutions and activations come from the LayerBuilder, named "<prefix>.conv1" etc.

#include "layers/factory.hpp"
#include "layers/module.hpp"

#include <cstdint>
#include <string>

namespace lowbit::layers {

class BasicBlock : public Module {
 public:
  // prefix: the block's dotted name in the model ("layer2.0"), used to name its layers.
  BasicBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
             const LayerBuilder& builder, const std::string& prefix);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }
  std::string describe() const override;
  bool has_downsample() const { return downsample_ != nullptr; }

 private:
  std::int64_t in_, out_, stride_;
  ModulePtr conv1_, bn1_, relu1_, conv2_, bn2_, downsample_, relu2_;
};

// BiRealBlock (Liu et al. 2018, "Bi-Real Net"): one conv with its own real-valued shortcut and no
// ReLU:   y = bn(conv(x)) + shortcut(x)
//   conv: 3x3, stride s, padding 1, no bias, from the LayerBuilder (a binary conv whose input
//   quantizer is ApproxSign under the bireal scheme); the sign sits inside the conv.
//   shortcut: identity when s == 1 and in == out, else "downsample" = [avgpool] -> 1x1 conv -> BN.
//   The paper's avgpool is 2x2 stride 2; ours is 3x3 stride 2 padding 1 (zeros counted), which
//   gives the conv's output size on odd maps too (7x7 -> 4x4 at 28x28 inputs).
// Children: conv, bn, [downsample.0 (avgpool, stride 2 only), downsample.1 (conv1x1),
// downsample.2 (bn)].
class BiRealBlock : public Module {
 public:
  BiRealBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
              const LayerBuilder& builder, const std::string& prefix);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BiRealBlock"; }
  std::string describe() const override;

 private:
  std::int64_t in_, out_, stride_;
  ModulePtr conv_, bn_, downsample_;
};

}  // namespace lowbit::layers
