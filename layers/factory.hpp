#pragma once
// LayerFactory: the hook through which model builders create their convolutions, linear layers and
// activations. Builders never construct Conv2d/Linear/ReLU directly, so quant/ can hand builders a
// factory that returns QuantConv2d/QuantLinear (or a sign activation) for chosen layer names,
// without any builder knowing about quantization:
//
//   LayerFactory f;  // float layers by default
//   f.make_conv = [&](const Conv2dOptions& o, const std::string& name, core::Rng& rng) {
//     if (name == "conv1") return make_float_conv(o, name, rng);  // first layer stays float
//     return ModulePtr(std::make_shared<QuantConv2d>(o, rng, quantizers_for(name)));
//   };
//
// `name` is the layer's full dotted path in the model ("layer1.0.conv1", "fc"); `rng` is the
// layer's own initialisation generator (see LayerBuilder).

#include "core/rng.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "layers/module.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace lowbit::layers {

using ConvMaker =
    std::function<ModulePtr(const Conv2dOptions& options, const std::string& name, core::Rng& rng)>;
using LinearMaker =
    std::function<ModulePtr(const LinearOptions& options, const std::string& name, core::Rng& rng)>;
using ActivationMaker = std::function<ModulePtr(const std::string& name)>;

ModulePtr make_float_conv(const Conv2dOptions& options, const std::string& name, core::Rng& rng);
ModulePtr make_float_linear(const LinearOptions& options, const std::string& name, core::Rng& rng);
ModulePtr make_relu(const std::string& name);

struct LayerFactory {
  ConvMaker make_conv = make_float_conv;        // default: Conv2d
  LinearMaker make_linear = make_float_linear;  // default: Linear
  ActivationMaker make_activation = make_relu;  // default: ReLU
};

// 64-bit FNV-1a of a string: the stream id that ties a layer's generator to its name.
std::uint64_t name_stream(std::string_view name);

// What builders use to create layers: a factory plus the model seed. Each layer gets its own
// generator Rng(seed).fork(name_stream(name)), so a layer's initial weights depend only on the seed
// and its name, not on how many layers were built before it (swapping one layer for a quantized
// one leaves every other layer's initialisation unchanged).
class LayerBuilder {
 public:
  LayerBuilder(const LayerFactory& factory, std::uint64_t seed);

  ModulePtr conv(const Conv2dOptions& options, const std::string& name) const;
  ModulePtr linear(const LinearOptions& options, const std::string& name) const;
  ModulePtr activation(const std::string& name) const;
  // A generator for the layer named `name` (used for init and for Dropout's seed).
  core::Rng rng_for(std::string_view name) const;

 private:
  const LayerFactory& factory_;
  std::uint64_t seed_;
};

}  // namespace lowbit::layers
