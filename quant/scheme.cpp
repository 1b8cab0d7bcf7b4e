#include "quant/scheme.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"
#include "layers/activation.hpp"
#include "quant/quant_layers.hpp"
#include "quant/quantizers.hpp"

#include <map>

namespace lowbit::quant {

namespace {

const std::map<std::string, SchemePreset>& presets() {
  static const std::map<std::string, SchemePreset> table{
      {"none", {"none", "none", "relu"}},
      {"binary_connect", {"binary_connect", "none", "relu"}},
      {"bnn", {"binary_connect", "sign", "hardtanh"}},
      {"xnor", {"xnor", "sign", "hardtanh"}},
      {"bireal", {"bireal", "approx_sign", "identity"}},
      {"dorefa", {"dorefa", "dorefa", "relu"}},
      {"lsq", {"lsq", "lsq", "relu"}},
      {"pact", {"dorefa", "pact", "relu"}},
      {"dbssq", {"dbssq", "none", "relu"}},
      {"rq", {"rq", "rq", "relu"}},
  };
  return table;
}

std::string weight_quantizer_of(const QuantSettings& s) {
  return s.weight_quantizer.empty() ? scheme_preset(s.scheme).weight_quantizer : s.weight_quantizer;
}
std::string activation_quantizer_of(const QuantSettings& s) {
  return s.activation_quantizer.empty() ? scheme_preset(s.scheme).activation_quantizer
                                        : s.activation_quantizer;
}

bool is_full_precision(const QuantSettings& s) {
  return weight_quantizer_of(s) == "none" && activation_quantizer_of(s) == "none" &&
         s.gradient_bits >= 32;
}

struct Fans {
  std::int64_t in, out;
  std::int64_t in_channels = 0;  // the layer's input channels
};

LayerQuantizers make_quantizers(const QuantSettings& s, const core::Shape& weight_shape, Fans fans,
                                core::Rng& rng) {
  QuantizerSpec w;
  w.role = Role::weight;
  w.settings = s;
  w.weight_shape = weight_shape;
  w.fan_in = fans.in;
  w.fan_out = fans.out;
  w.in_channels = fans.in_channels;
  w.seed = rng.next_u64();
  QuantizerSpec a = w;
  a.role = Role::activation;
  a.weight_shape = core::Shape();
  a.seed = rng.next_u64();
  LayerQuantizers q;
  q.weight = make_quantizer(weight_quantizer_of(s), w);
  q.input = make_quantizer(activation_quantizer_of(s), a);
  if (s.gradient_bits < 32) {
    q.gradient = std::make_shared<GradientQuantizer>(static_cast<int>(s.gradient_bits), rng.next_u64());
  }
  return q;
}

}  // namespace

const SchemePreset& scheme_preset(const std::string& scheme) {
  const auto& table = presets();
  const auto it = table.find(scheme);
  if (it == table.end()) {
    const auto names = scheme_names();
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    const std::string near = core::closest_match(scheme, names);
    core::fail("quant: unknown scheme '{}'{}; known schemes: {}", scheme,
               near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), known);
  }
  return it->second;
}

std::vector<std::string> scheme_names() {
  std::vector<std::string> names;
  for (const auto& [name, preset] : presets()) names.push_back(name);
  return names;
}

bool QuantConfig::quantizes_anything() const {
  if (!is_full_precision(defaults)) return true;
  for (const auto& o : overrides) {
    if (!is_full_precision(o.settings)) return true;
  }
  return false;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative wildcard match with backtracking to the last '*'.
  std::size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

QuantSettings settings_for(const QuantConfig& config, const std::string& name, bool is_first,
                           bool is_last) {
  QuantSettings s = config.defaults;
  if ((is_first && config.keep_first) || (is_last && config.keep_last)) {
    s.scheme = "none";
    s.weight_quantizer = "";
    s.activation_quantizer = "";
    s.gradient_bits = 32;
  }
  for (const auto& o : config.overrides) {
    if (glob_match(o.match, name)) s = o.settings;
  }
  return s;
}

layers::LayerFactory make_layer_factory(const QuantConfig& config,
                                        std::vector<std::string> weight_layers) {
  struct Plan {
    QuantConfig config;
    std::vector<std::string> order;
    QuantSettings for_layer(const std::string& name) const {
      const bool first = !order.empty() && order.front() == name;
      const bool last = !order.empty() && order.back() == name;
      return settings_for(config, name, first, last);
    }
  };
  auto plan = std::make_shared<const Plan>(Plan{config, std::move(weight_layers)});
  layers::LayerFactory f;
  f.make_conv = [plan](const layers::Conv2dOptions& o, const std::string& name,
                       core::Rng& rng) -> layers::ModulePtr {
    const QuantSettings s = plan->for_layer(name);
    if (is_full_precision(s)) return layers::make_float_conv(o, name, rng);
    const std::int64_t k2 = o.kernel_size * o.kernel_size;
    // Initialise the latent weights first, so they equal the float layer's from the same seed.
    core::Rng quantizer_rng = rng.fork(0x71756e74);  // "qunt"
    auto layer = std::make_shared<QuantConv2d>(
        o, rng,
        make_quantizers(s, core::Shape({o.out_channels, o.in_channels / o.groups, o.kernel_size, o.kernel_size}),
                        {o.in_channels / o.groups * k2, o.out_channels / o.groups * k2,
                         o.in_channels},
                        quantizer_rng));
    return layer;
  };
  f.make_linear = [plan](const layers::LinearOptions& o, const std::string& name,
                         core::Rng& rng) -> layers::ModulePtr {
    const QuantSettings s = plan->for_layer(name);
    if (is_full_precision(s)) return layers::make_float_linear(o, name, rng);
    core::Rng quantizer_rng = rng.fork(0x71756e74);
    return std::make_shared<QuantLinear>(
        o, rng,
        make_quantizers(s, core::Shape({o.out_features, o.in_features}),
                        {o.in_features, o.out_features, o.in_features}, quantizer_rng));
  };
  const std::string activation = scheme_preset(config.defaults.scheme).activation;
  f.make_activation = [activation](const std::string& name) -> layers::ModulePtr {
    if (activation == "hardtanh") return std::make_shared<layers::HardTanh>();
    if (activation == "identity") return std::make_shared<layers::Identity>();
    return layers::make_relu(name);
  };
  return f;
}

std::vector<std::string> weight_layer_names(
    const std::function<layers::ModulePtr(const layers::LayerFactory&)>& build) {
  auto names = std::make_shared<std::vector<std::string>>();
  layers::LayerFactory f;
  f.make_conv = [names](const layers::Conv2dOptions& o, const std::string& name, core::Rng& rng) {
    names->push_back(name);
    return layers::make_float_conv(o, name, rng);
  };
  f.make_linear = [names](const layers::LinearOptions& o, const std::string& name, core::Rng& rng) {
    names->push_back(name);
    return layers::make_float_linear(o, name, rng);
  };
  build(f);
  return *names;
}

void validate(const QuantSettings& s, const std::string& where) {
  scheme_preset(s.scheme);
  const std::string wq = weight_quantizer_of(s), aq = activation_quantizer_of(s);
  core::check(s.weight_bits >= 1 && s.weight_bits <= 8, "config: {}.weight_bits = {} must be in [1, 8]",
              where, s.weight_bits);
  core::check(s.activation_bits >= 1 && s.activation_bits <= 8,
              "config: {}.activation_bits = {} must be in [1, 8]", where, s.activation_bits);
  core::check(s.gradient_bits >= 1 && s.gradient_bits <= 32,
              "config: {}.gradient_bits = {} must be in [1, 32] (32 = off)", where, s.gradient_bits);
  // Build both quantizers once on a dummy layer: unknown names, wrong roles and bad options fail
  // here with the registry's own messages.
  core::Rng rng(0);
  try {
    make_quantizers(s, core::Shape({2, 2, 3, 3}), {18, 18, 2}, rng);
  } catch (const core::Error& e) {
    core::fail("config: {}: {}", where, e.what());
  }
}

void validate(const QuantConfig& config) {
  validate(config.defaults, "quant");
  for (std::size_t i = 0; i < config.overrides.size(); ++i) {
    const auto& o = config.overrides[i];
    core::check(!o.match.empty(), "config: quant.overrides[{}].match is empty. HINT: give a layer "
                "name or glob such as 'layer*.conv*'", i);
    validate(o.settings, fmt::format("quant.overrides[{}]", i));
  }
}

}  // namespace lowbit::quant
