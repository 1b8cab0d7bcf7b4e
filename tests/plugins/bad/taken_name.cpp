// A broken plugin for tests/plugins: it registers the layer "relu", which lowbit already has.
#include "layers/activation.hpp"
#include "layers/plugin_api.hpp"

#include <memory>

extern "C" int lowbit_plugin_api_version() { return LOWBIT_PLUGIN_API_VERSION; }

extern "C" void lowbit_plugin_register(lowbit::PluginContext* ctx) {
  ctx->add_layer("relu", [](const lowbit::layers::LayerSpec&) -> lowbit::layers::ModulePtr {
    return std::make_shared<lowbit::layers::ReLU>();
  });
}
