// A broken plugin for tests/plugins: built for a plugin API version lowbit does not have.
#include "layers/plugin_api.hpp"

#include "core/error.hpp"

extern "C" int lowbit_plugin_api_version() { return LOWBIT_PLUGIN_API_VERSION + 41; }

extern "C" void lowbit_plugin_register(lowbit::PluginContext*) {
  lowbit::core::fail("the loader must refuse this plugin before registering it");
}
