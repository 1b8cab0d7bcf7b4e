#include "layers/layer_registry.hpp"

#include "core/error.hpp"
#include "layers/activation.hpp"

namespace lowbit::layers {

LayerRegistry& layer_registry() {
  static LayerRegistry registry("layer");
  return registry;
}

void register_builtin_layers(LayerRegistry& registry) {
  registry.add("relu", [](const LayerSpec&) -> ModulePtr { return std::make_shared<ReLU>(); });
  registry.add("hardtanh",
               [](const LayerSpec&) -> ModulePtr { return std::make_shared<HardTanh>(); });
  registry.add("identity",
               [](const LayerSpec&) -> ModulePtr { return std::make_shared<Identity>(); });
}

ModulePtr make_layer(const std::string& type, const LayerSpec& spec,
                     const LayerRegistry& registry) {
  ModulePtr m = registry.get(type)(spec);
  core::check(m != nullptr, "layer type '{}' returned no module for layer '{}'", type, spec.name);
  return m;
}

ActivationMaker activation_maker(const std::string& type, const LayerRegistry& registry) {
  registry.get(type);  // an unknown type fails here, before any model is built
  return [type, &registry](const std::string& name) { return make_layer(type, {name}, registry); };
}

}  // namespace lowbit::layers
