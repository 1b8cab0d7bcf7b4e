// A broken plugin for tests/plugins: it has the version symbol but no lowbit_plugin_register.
#include "layers/plugin_api.hpp"

extern "C" int lowbit_plugin_api_version() { return LOWBIT_PLUGIN_API_VERSION; }
