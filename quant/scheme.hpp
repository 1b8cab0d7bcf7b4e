#pragma once
// Schemes and per-layer plans: which quantizers each convolution / linear layer of a model gets.
//
//   scheme          weights          inputs (activations)   hidden activation
//   none            none             none                   relu
//   binary_connect  binary_connect   none                   relu
//   bnn             binary_connect   sign (hardtanh STE)    hardtanh
//   xnor            xnor             sign (hardtanh STE)    hardtanh
//   bireal          bireal           approx_sign            identity
//   dorefa          dorefa (k bits)  dorefa (k bits)        relu
//   lsq             lsq              lsq                    relu
//   pact            dorefa           pact                   relu
//   dbssq           dbssq            none (or dbssq)        relu      (methods.md 7)
//   rq              rq (signed)      rq (unsigned)          relu      (methods.md 3c)
//
// For binary activations the hidden activation is hardtanh: sign(hardtanh(x)) = sign(x), and
// its gradient is the same 1[|x| <= 1] as the sign's STE, so float layers fed by it (the
// classifier) see values in [-1, 1] as in BinaryNet.
//
// A layer's settings: the config's defaults, then first/last layer kept full precision
// (keep_first/keep_last), then every override whose `match` glob (`*` any run, `?` one char)
// matches the layer's dotted name, in order (a later match wins).

#include "layers/factory.hpp"
#include "layers/module.hpp"
#include "quant/quantizer.hpp"
#include "quant/settings.hpp"

#include <string>
#include <vector>

namespace lowbit::quant {

struct SchemePreset {
  std::string weight_quantizer;
  std::string activation_quantizer;
  std::string activation;  // relu, hardtanh, identity
};

// The preset of `scheme`; an unknown name is an Error listing the known ones.
const SchemePreset& scheme_preset(const std::string& scheme);
std::vector<std::string> scheme_names();

struct QuantOverride {
  std::string match;       // glob over layer names
  QuantSettings settings;  // starts as a copy of the config's defaults
};

struct QuantConfig {
  QuantSettings defaults;
  bool keep_first = true;  // the first conv/linear layer stays full precision
  bool keep_last = true;   // the last (classifier) layer stays full precision
  std::vector<QuantOverride> overrides;

  bool quantizes_anything() const;
};

bool glob_match(std::string_view pattern, std::string_view name);

// The settings of the layer `name`; first/last as found in the model's build order.
QuantSettings settings_for(const QuantConfig& config, const std::string& name, bool is_first,
                           bool is_last);

// The quantized layers' factory. `weight_layers` lists the model's conv/linear layer names in
// build order (see weight_layer_names). The hidden activation follows the defaults' scheme.
layers::LayerFactory make_layer_factory(const QuantConfig& config,
                                        std::vector<std::string> weight_layers);

// The conv/linear layer names a builder creates, in order (it runs the builder once with a
// recording factory).
std::vector<std::string> weight_layer_names(
    const std::function<layers::ModulePtr(const layers::LayerFactory&)>& build);

// Checks every setting (names exist, bits in range, quantizers fit their roles) without building
// a model: config errors surface before training starts. `where` names the config path.
void validate(const QuantSettings& settings, const std::string& where);
void validate(const QuantConfig& config);

}  // namespace lowbit::quant
