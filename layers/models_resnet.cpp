// ResNets with BasicBlocks (He et al. 2016): resnet18 ([2,2,2,2], widths w,2w,4w,8w, w = 64) and
// the CIFAR resnet20 ([3,3,3], widths w,2w,4w, w = 16). Shortcuts are option B (1x1 conv + BN
// where the shape changes). See models.hpp for the layer names.

#include "core/error.hpp"
#include "layers/activation.hpp"
#include "layers/batch_norm.hpp"
#include "layers/dropout.hpp"
#include "layers/models.hpp"
#include "layers/pooling.hpp"
#include "layers/residual.hpp"
#include "layers/sequential.hpp"

#include <fmt/format.h>

namespace lowbit::layers {
namespace {

ModulePtr build_resnet(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed,
                       const std::vector<int>& blocks, std::int64_t default_width) {
  core::check(spec.hidden.empty(),
              "model '{}' has no hidden fully connected layers. HINT: remove 'hidden' (use "
              "'width' to scale the channels)",
              spec.name);
  core::check(spec.block == "basic" || spec.block == "bireal",
              "model '{}': block must be 'basic' or 'bireal', got '{}'", spec.name, spec.block);
  const std::int64_t w = spec.width > 0 ? spec.width : default_width;
  const LayerBuilder b(factory, seed);
  auto net = std::make_shared<Sequential>(
      fmt::format("{}({} stem, {} blocks, width {})", spec.name.empty() ? "resnet" : spec.name, spec.stem, spec.block, w));
  // Stem. cifar: conv3x3 s1 p1. imagenet: conv7x7 s2 p3, then maxpool 3x3 s2 p1.
  const bool imagenet = spec.stem == "imagenet";
  net->add("conv1", b.conv(imagenet ? Conv2dOptions{spec.in_channels, w, 7, 2, 3, 1, 1, false}
                                    : Conv2dOptions{spec.in_channels, w, 3, 1, 1, 1, 1, false},
                           "conv1"));
  net->add("bn1", std::make_shared<BatchNorm2d>(w));
  net->add("relu", b.activation("relu"));
  if (imagenet) net->add("maxpool", std::make_shared<MaxPool2d>(Pool2dOptions{3, 2, 1}));
  // Stages: stage s has width w * 2^(s-1); its first block has stride 2 (except stage 1).
  std::int64_t in = w;
  for (std::size_t s = 0; s < blocks.size(); ++s) {
    const std::string stage = fmt::format("layer{}", s + 1);
    auto layer = std::make_shared<Sequential>();
    const std::int64_t out = w << s;
    const bool bireal = spec.block == "bireal";
    const int count = bireal ? 2 * blocks[s] : blocks[s];  // a BiRealBlock holds one conv
    for (int k = 0; k < count; ++k) {
      const std::int64_t stride = (s > 0 && k == 0) ? 2 : 1;
      const std::string prefix = fmt::format("{}.{}", stage, k);
      if (bireal) {
        layer->add(std::make_shared<BiRealBlock>(in, out, stride, b, prefix));
      } else {
        layer->add(std::make_shared<BasicBlock>(in, out, stride, b, prefix));
      }
      in = out;
    }
    net->add(stage, layer);
  }
  net->add("avgpool", std::make_shared<GlobalAvgPool>());
  if (spec.dropout > 0.0) {
    net->add("dropout", std::make_shared<Dropout>(spec.dropout, b.rng_for("dropout").next_u64()));
  }
  net->add("fc", b.linear({in, spec.num_classes, true}, "fc"));
  return net;
}

}  // namespace

ModulePtr build_resnet18(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed) {
  return build_resnet(spec, factory, seed, {2, 2, 2, 2}, 64);
}

ModulePtr build_resnet20(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed) {
  return build_resnet(spec, factory, seed, {3, 3, 3}, 16);
}

}  // namespace lowbit::layers
