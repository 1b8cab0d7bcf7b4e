#pragma once
// Model builders, looked up by name in a core::Registry filled by register_builtin_models().
//
//   register_builtin_models();                       // once, at start-up
//   ModelSpec spec; spec.name = "resnet18"; spec.in_channels = 3; spec.image_size = 32;
//   ModulePtr model = build_model(spec, /*seed=*/42);
//
// Every model maps (N, in_channels, image_size, image_size) to logits (N, num_classes). Weights
// are a pure function of (spec, seed, factory): each layer draws from its own generator forked from
// the seed by its name (LayerBuilder). Convolutions, linear layers and activations are created via
// the LayerFactory, named by their dotted path, so quant/ can swap them per name.
//
// Layer names (what per-layer overrides match): the first layer is "conv1" ("fc1" for mlp), the
// classifier is always "fc".
//   mlp:       flatten, fc1, bn_fc1, relu_fc1, [drop_fc1], fc2, ..., fc
//   lenet:     conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten, fc1, bn_fc1, relu_fc1,
//              [drop_fc1], fc
//   vgg_small: conv1..conv6 each with bn<i>, relu<i>; pool1..pool3 after conv2, conv4, conv6;
//              flatten, hidden fc<j> with bn_fc<j>, relu_fc<j>, [drop_fc<j>]; [dropout]; fc
//   resnet*:   conv1, bn1, relu, [maxpool], layer<s>.<b>.{conv1,bn1,relu1,conv2,bn2,
//              downsample.0,downsample.1,relu2}, avgpool, [dropout], fc  (torchvision's keys)
//   resnet* with block bireal: conv1, bn1, relu, [maxpool], layer<s>.<b>.{conv,bn,
//              downsample.0 (avgpool), downsample.1 (conv1x1), downsample.2 (bn)}, avgpool, fc

#include "core/registry.hpp"
#include "layers/factory.hpp"
#include "layers/module.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lowbit::layers {

struct ModelSpec {
  std::string name;               // builder: mlp, lenet, vgg_small, resnet18, resnet20
  std::int64_t in_channels = 1;   // input C
  std::int64_t image_size = 28;   // input H = W
  std::int64_t num_classes = 10;  // logits per sample
  // Base channel width; 0 = the family default: lenet 32 (convs w, 2w), vgg_small 128 (w, 2w, 4w),
  // resnet18 64 (w, 2w, 4w, 8w), resnet20 16 (w, 2w, 4w). Not used by mlp.
  std::int64_t width = 0;
  // Hidden fully connected widths (each Linear-BN1d-ReLU); empty = the family default: mlp
  // {256, 256}, lenet {512}, vgg_small none ({1024, 1024} gives the BNN paper's CIFAR net).
  // Not used by the resnets.
  std::vector<std::int64_t> hidden;
  std::string stem = "cifar";  // resnets only: "cifar" (3x3 s1, no maxpool) or "imagenet"
                               // (7x7 s2 + 3x3 s2 maxpool)
  std::string block = "basic";  // resnets only: "basic" (BasicBlock) or "bireal" (BiRealBlock: one
                                // shortcut per conv, two blocks per BasicBlock, no ReLU)
  double dropout = 0.0;        // p of Dropout after each hidden FC (or before fc when none)
};

using ModelBuilder = std::function<ModulePtr(const ModelSpec& spec, const LayerFactory& factory,
                                             std::uint64_t seed)>;

// The process-wide model registry (empty until register_builtin_models() runs).
core::Registry<ModelBuilder>& model_registry();
// Adds mlp, lenet, vgg_small, resnet18 and resnet20. Call once per registry (a second call is a
// duplicate-name error, like any repeated registration).
void register_builtin_models(core::Registry<ModelBuilder>& registry = model_registry());

// Checks the fields every builder shares; errors name the field and the fix.
void validate(const ModelSpec& spec);
// Looks up spec.name (a miss suggests the closest name and lists the known ones), validates and
// builds.
ModulePtr build_model(const ModelSpec& spec, std::uint64_t seed, const LayerFactory& factory = {},
                      const core::Registry<ModelBuilder>& registry = model_registry());

// The builders themselves (registered under the names above).
ModulePtr build_mlp(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed);
ModulePtr build_lenet(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed);
ModulePtr build_vgg_small(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed);
ModulePtr build_resnet18(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed);
ModulePtr build_resnet20(const ModelSpec& spec, const LayerFactory& factory, std::uint64_t seed);

}  // namespace lowbit::layers
