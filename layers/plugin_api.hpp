#pragma once
// The plugin API: a shared library adds layers, quantizers, optimizers, schedules, datasets or
// models to lowbit, without forking it, through one versioned extern "C" entry point. Its names go
// into the same registries the built-in ones use, so configs name them like built-ins
// (`model.activation: rsign`, `quant.weight_quantizer: ternary`, `data.dataset: ...`).
//
//   // my_layer.cpp, built with lowbit_add_plugin(my_layer my_layer.cpp) (docs/plugins.md)
//   #include "layers/plugin_api.hpp"
//   #include "quant/quantizer.hpp"
//
//   extern "C" int lowbit_plugin_api_version() { return LOWBIT_PLUGIN_API_VERSION; }
//   extern "C" void lowbit_plugin_register(lowbit::PluginContext* ctx) {
//     ctx->add_layer("rsign", [](const lowbit::layers::LayerSpec&) {
//       return std::make_shared<RSign>();
//     });
//     ctx->add(lowbit::quant::quantizer_registry(), "ternary",
//              lowbit::quant::QuantizerFactory{make_ternary, true, false});  // weights only
//   }
//
// Contract:
// - A plugin is loaded into an executable that exports its symbols (train, evaluate, export, infer;
//   lowbit_enable_plugins() in CMake). The plugin uses lowbit's classes and registries from that
//   executable: it must not link lowbit's static libraries, or it would register into a copy of
//   the registries nobody reads. lowbit_add_plugin() builds it that way.
// - C++ types cross the boundary, so a plugin is built with the same compiler, standard library
//   and lowbit headers as the executable. LOWBIT_PLUGIN_API_VERSION changes whenever what crosses
//   it changes; the loader refuses a plugin built for another version.
// - Registration runs once per process, after the built-ins. A name that is already taken (by
//   lowbit or another plugin) is an error naming the plugin, the kind and the name. Errors are
//   core::Error exceptions; the loader adds the plugin's file to the message.
// - A loaded plugin stays mapped until the process exits (its code backs registry entries).

#include "core/registry.hpp"
#include "layers/layer_registry.hpp"

#include <string>
#include <utility>

// The version of the plugin interface this header describes. A plugin returns it from
// lowbit_plugin_api_version(), compiled in when the plugin is built.
#define LOWBIT_PLUGIN_API_VERSION 1

namespace lowbit::layers {

// What the entry point registers through. One context per plugin being loaded.
class PluginContext {
 public:
  explicit PluginContext(std::string plugin) : plugin_(std::move(plugin)) {}

  // The plugin's file (for messages).
  const std::string& plugin() const { return plugin_; }

  // A layer type in layer_registry(), e.g. a hidden activation chosen with `model.activation`.
  void add_layer(const std::string& name, LayerMaker maker) {
    add(layer_registry(), name, std::move(maker));
  }

  // `factory` under `name` in any registry: quant::quantizer_registry(),
  // optim::optimizer_registry(), optim::schedule_registry(), data::dataset_registry(),
  // layers::model_registry().
  template <typename Factory>
  void add(core::Registry<Factory>& registry, const std::string& name, Factory factory) {
    claim(registry.kind(), name, registry.contains(name));
    registry.add(name, std::move(factory));
  }

 private:
  // Records `name` as this plugin's; a taken name throws, naming the plugin and the owner.
  void claim(const std::string& kind, const std::string& name, bool taken);

  std::string plugin_;
};

}  // namespace lowbit::layers

namespace lowbit {
using PluginContext = layers::PluginContext;
}  // namespace lowbit

// The two symbols every plugin defines (declared here so a wrong signature fails to compile).
extern "C" {
// Returns LOWBIT_PLUGIN_API_VERSION as seen when the plugin was compiled.
int lowbit_plugin_api_version();
// Registers the plugin's names through `context`; may throw core::Error.
void lowbit_plugin_register(lowbit::PluginContext* context);
}
