// mlp, lenet and vgg_small: plain feed-forward stacks (see models.hpp for the layer names).

#include "core/error.hpp"
#include "layers/activation.hpp"
#include "layers/batch_norm.hpp"
#include "layers/dropout.hpp"
#include "layers/models.hpp"
#include "layers/pooling.hpp"
#include "layers/sequential.hpp"

#include <fmt/format.h>

namespace lowbit::layers {
namespace {

// Appends conv<i> (k x k, stride 1, "same" padding, no bias), bn<i>, relu<i>.
void add_conv_bn_relu(Sequential& net, const LayerBuilder& b, int i, std::int64_t in,
                      std::int64_t out, std::int64_t k) {
  const std::string conv = fmt::format("conv{}", i), relu = fmt::format("relu{}", i);
  net.add(conv, b.conv({in, out, k, 1, k / 2, 1, 1, false}, conv));
  net.add(fmt::format("bn{}", i), std::make_shared<BatchNorm2d>(out));
  net.add(relu, b.activation(relu));
}

// Appends flatten, hidden fc<j>-bn_fc<j>-relu_fc<j>[-drop_fc<j>] layers, then the classifier "fc"
// (with "dropout" before it when there are no hidden layers and dropout > 0).
void add_classifier(Sequential& net, const LayerBuilder& b, const ModelSpec& spec,
                    std::int64_t features, const std::vector<std::int64_t>& hidden) {
  net.add("flatten", std::make_shared<Flatten>());
  std::int64_t in = features;
  for (std::size_t j = 1; j <= hidden.size(); ++j) {
    const std::int64_t out = hidden[j - 1];
    const std::string fc = fmt::format("fc{}", j), relu = fmt::format("relu_fc{}", j);
    net.add(fc, b.linear({in, out, false}, fc));
    net.add(fmt::format("bn_fc{}", j), std::make_shared<BatchNorm1d>(out));
    net.add(relu, b.activation(relu));
    if (spec.dropout > 0.0) {
      const std::string drop = fmt::format("drop_fc{}", j);
      net.add(drop, std::make_shared<Dropout>(spec.dropout, b.rng_for(drop).next_u64()));
    }
    in = out;
  }
  if (hidden.empty() && spec.dropout > 0.0) {
    net.add("dropout", std::make_shared<Dropout>(spec.dropout, b.rng_for("dropout").next_u64()));
  }
  net.add("fc", b.linear({in, spec.num_classes, true}, "fc"));
}

void reject_resnet_fields(const ModelSpec& spec) {
  core::check(spec.block == "basic",
              "model '{}': 'block' applies to the resnets only. HINT: remove block: {}", spec.name,
              spec.block);
  core::check(spec.stem == "cifar",
              "model '{}': 'stem' applies to the resnets only. HINT: remove stem: {}", spec.name,
              spec.stem);
}

std::vector<std::int64_t> or_default(const std::vector<std::int64_t>& v,
                                     std::vector<std::int64_t> fallback) {
  return v.empty() ? fallback : v;
}

}  // namespace

// mlp: flatten -> [Linear-BN1d-ReLU(-Dropout)] per hidden width -> Linear(num_classes).
ModulePtr build_mlp(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed) {
  reject_resnet_fields(spec);
  core::check(spec.width == 0,
              "model 'mlp' has no channel width. HINT: set 'hidden' (e.g. [256, 256]) instead");
  const LayerBuilder b(factory, seed);
  auto net = std::make_shared<Sequential>("mlp");
  add_classifier(*net, b, spec, spec.in_channels * spec.image_size * spec.image_size,
                 or_default(spec.hidden, {256, 256}));
  return net;
}

// lenet (a LeNet-style CNN with BN): two conv5x5(pad 2)-BN-ReLU-maxpool2 stages of w and 2w
// channels (w = 32), then FC 512-BN-ReLU and FC num_classes. For 28x28x1 inputs the classifier
// sees 64 x 7 x 7 = 3136 features.
ModulePtr build_lenet(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed) {
  reject_resnet_fields(spec);
  core::check(spec.image_size >= 4, "model 'lenet' needs image_size >= 4, got {}", spec.image_size);
  const std::int64_t w = spec.width > 0 ? spec.width : 32;
  const LayerBuilder b(factory, seed);
  auto net = std::make_shared<Sequential>("lenet");
  std::int64_t in = spec.in_channels, size = spec.image_size;
  for (int stage = 1; stage <= 2; ++stage) {
    const std::int64_t out = stage == 1 ? w : 2 * w;
    add_conv_bn_relu(*net, b, stage, in, out, 5);
    net->add(fmt::format("pool{}", stage), std::make_shared<MaxPool2d>(Pool2dOptions{2, 2, 0}));
    in = out;
    size /= 2;
  }
  add_classifier(*net, b, spec, in * size * size, or_default(spec.hidden, {512}));
  return net;
}

// vgg_small (BNN-paper style, Courbariaux et al. 2016; "VGG-Small" of LQ-Nets):
// 2x(wC3)-MP2-2x(2wC3)-MP2-2x(4wC3)-MP2-[hidden FCs]-FC, w = 128, every conv 3x3 pad 1 followed by
// BN and ReLU.
ModulePtr build_vgg_small(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed) {
  reject_resnet_fields(spec);
  core::check(spec.image_size >= 8,
              "model 'vgg_small' needs image_size >= 8 (three 2x2 poolings), got {}",
              spec.image_size);
  const std::int64_t w = spec.width > 0 ? spec.width : 128;
  const LayerBuilder b(factory, seed);
  auto net = std::make_shared<Sequential>("vgg_small");
  std::int64_t in = spec.in_channels, size = spec.image_size;
  int i = 1;
  for (int stage = 1; stage <= 3; ++stage) {
    const std::int64_t out = w << (stage - 1);
    for (int rep = 0; rep < 2; ++rep, ++i) {
      add_conv_bn_relu(*net, b, i, in, out, 3);
      in = out;
    }
    net->add(fmt::format("pool{}", stage), std::make_shared<MaxPool2d>(Pool2dOptions{2, 2, 0}));
    size /= 2;
  }
  add_classifier(*net, b, spec, in * size * size, spec.hidden);
  return net;
}

}  // namespace lowbit::layers
