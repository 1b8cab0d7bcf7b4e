#include "core/error.hpp"
#include "quant/quantizer.hpp"
#include "quant/dbssq.hpp"
#include "quant/relaxed.hpp"
#include "quant/quantizers.hpp"

#include <cmath>

namespace lowbit::quant {

QuantizerRegistry& quantizer_registry() {
  static QuantizerRegistry registry("quantizer");
  return registry;
}

namespace {

int bits_for(const QuantizerSpec& s) {
  return static_cast<int>(s.role == Role::weight ? s.settings.weight_bits : s.settings.activation_bits);
}

// Glorot's H of a layer (methods.md 1.1): sqrt(1.5 / (fan_in + fan_out)).
double glorot_h(const QuantizerSpec& s) {
  core::check(s.fan_in + s.fan_out > 0, "binary_connect quantizer: the layer has no fans");
  return std::sqrt(1.5 / static_cast<double>(s.fan_in + s.fan_out));
}

QuantizerPtr make_binary_connect(const QuantizerSpec& s) {
  const QuantSettings& q = s.settings;
  const double h = q.h_glorot ? glorot_h(s) : q.h;
  const std::string& mode = q.latent_lr_scale;
  core::check(mode == "auto" || mode == "glorot" || mode == "none",
              "quant: latent_lr_scale '{}' must be one of auto, glorot, none", mode);
  const double lr_scale = mode == "none" ? 1.0 : 1.0 / glorot_h(s);
  // The stream of stochastic draws: fixed by the layer's own generator (LayerBuilder).
  return std::make_shared<BinaryConnectQuantizer>(static_cast<float>(h), q.stochastic, q.clip_latent,
                                                  lr_scale, s.seed);
}

QuantizerPtr make_bireal(const QuantizerSpec& s) {
  const std::string& rule = s.settings.bireal_weight_grad;
  core::check(rule == "paper" || rule == "code",
              "quant: bireal_weight_grad '{}' must be 'paper' (x alpha) or 'code' (clip STE)", rule);
  return std::make_shared<ScaledSignQuantizer>(
      rule == "paper" ? ScaledSignQuantizer::Mode::bireal_paper : ScaledSignQuantizer::Mode::bireal_code,
      s.settings.clip_latent);
}

// DBSSQ (methods.md 7): weights per output channel, activations behind a parameter-free BN.
QuantizerPtr make_dbssq(const QuantizerSpec& s) {
  const QuantSettings& q = s.settings;
  DbssqOptions o;
  o.levels = parse_dbssq_levels(q.dbssq_levels);
  o.bits = bits_for(s);
  o.grad_scaling = q.dbssq_grad_scaling;
  const EpsSchedule schedule = EpsSchedule::parse(q.eps_schedule, q.eps);
  if (s.role == Role::weight) {
    core::check(s.weight_shape.ndim() >= 2,
                "dbssq quantizer: weights need a shape (out, ...), got {}", s.weight_shape);
    return std::make_shared<DbssqWeightQuantizer>(s.weight_shape[0], o, schedule);
  }
  return std::make_shared<DbssqActivationQuantizer>(s.in_channels, o, schedule);
}

// Relaxed Quantization (methods.md 3c): signed grid for weights, unsigned for activations.
QuantizerPtr make_rq(const QuantizerSpec& s) {
  const QuantSettings& q = s.settings;
  RelaxedQuantizer::Options o;
  o.bits = bits_for(s);
  o.is_signed = s.role == Role::weight;
  o.temperature_start = q.rq_temperature;
  o.temperature_end = q.rq_temperature_end;
  o.delta_sigmas = q.rq_delta_sigmas;
  o.straight_through = q.rq_straight_through;
  return std::make_shared<RelaxedQuantizer>(o, s.seed);
}

}  // namespace

void register_builtin_quantizers(QuantizerRegistry& r) {
  r.add("none", {[](const QuantizerSpec&) -> QuantizerPtr { return std::make_shared<NoQuantizer>(); },
                 true, true});
  r.add("binary_connect", {make_binary_connect, true, false});
  r.add("sign", {[](const QuantizerSpec&) -> QuantizerPtr {
                   return std::make_shared<SignQuantizer>(SignGrad::clipped);
                 },
                 false, true});
  r.add("approx_sign", {[](const QuantizerSpec&) -> QuantizerPtr {
                          return std::make_shared<SignQuantizer>(SignGrad::approx_sign);
                        },
                        false, true});
  r.add("xnor", {[](const QuantizerSpec& s) -> QuantizerPtr {
                   return std::make_shared<ScaledSignQuantizer>(ScaledSignQuantizer::Mode::xnor,
                                                                s.settings.clip_latent);
                 },
                 true, false});
  r.add("bireal", {make_bireal, true, false});
  r.add("dorefa", {[](const QuantizerSpec& s) -> QuantizerPtr {
                     if (s.role == Role::weight) return std::make_shared<DorefaWeightQuantizer>(bits_for(s));
                     return std::make_shared<DorefaActivationQuantizer>(bits_for(s));
                   },
                   true, true});
  r.add("lsq", {[](const QuantizerSpec& s) -> QuantizerPtr {
                  return std::make_shared<LsqQuantizer>(bits_for(s), s.role == Role::weight);
                },
                true, true});
  r.add("pact", {[](const QuantizerSpec& s) -> QuantizerPtr {
                   return std::make_shared<PactQuantizer>(bits_for(s),
                                                          static_cast<float>(s.settings.pact_alpha),
                                                          static_cast<float>(s.settings.pact_alpha_decay));
                 },
                 false, true});
  r.add("dbssq", {make_dbssq, true, true});
  r.add("rq", {make_rq, true, true});
}

QuantizerPtr make_quantizer(const std::string& name, const QuantizerSpec& spec,
                            const QuantizerRegistry& registry) {
  const QuantizerFactory& f = registry.get(name);
  const bool weight = spec.role == Role::weight;
  core::check(weight ? f.weights : f.activations,
              "quantizer '{}' cannot quantize {}: it quantizes {} only. HINT: choose another "
              "{}_quantizer or scheme",
              name, weight ? "weights" : "activations", weight ? "activations" : "weights",
              weight ? "weight" : "activation");
  QuantizerPtr q = f.make(spec);
  core::check(q != nullptr, "quantizer '{}': its factory returned nothing", name);
  return q;
}

}  // namespace lowbit::quant
