#pragma once
// The layer registry: layer types by name, for configs and plugins. Builders create their hidden
// activations through LayerFactory::make_activation; `model.activation: <type>` in a config makes
// that hook build `<type>` from this registry (apps/session.cpp), so a plugin's layer is usable by
// name without any builder knowing it.
//
//   register_builtin_layers();                         // once, at start-up
//   ModulePtr a = make_layer("hardtanh", {.name = "layer1.0.relu1"});
//   LayerFactory f;  f.make_activation = activation_maker("hardtanh");
//
// Built-in types: relu, hardtanh (clamp to [-1, 1]), identity. A layer's state (parameters,
// buffers) is saved in checkpoints under its dotted name like any built-in layer's.

#include "core/registry.hpp"
#include "layers/factory.hpp"
#include "layers/module.hpp"

#include <functional>
#include <string>

namespace lowbit::layers {

// What a layer maker knows about the layer it builds.
struct LayerSpec {
  std::string name;  // the layer's dotted path in the model ("layer1.0.relu1")
};

using LayerMaker = std::function<ModulePtr(const LayerSpec& spec)>;
using LayerRegistry = core::Registry<LayerMaker>;

// The process-wide registry (kind "layer"; empty until register_builtin_layers() runs).
LayerRegistry& layer_registry();

// Adds relu, hardtanh and identity. A second call on the same registry is a duplicate-name error.
void register_builtin_layers(LayerRegistry& registry = layer_registry());

// Looks `type` up (a miss suggests the closest name and lists the known ones) and builds it; a
// maker that returns no module is an error naming the type.
ModulePtr make_layer(const std::string& type, const LayerSpec& spec,
                     const LayerRegistry& registry = layer_registry());

// A LayerFactory::make_activation hook that builds `type` for every activation (checked now).
ActivationMaker activation_maker(const std::string& type,
                                 const LayerRegistry& registry = layer_registry());

}  // namespace lowbit::layers
