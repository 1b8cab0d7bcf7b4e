#pragma once
// PBNet models and the hooks evaluation uses on them (methods.md 3b).
//
//   quant::register_pbnet_models();   // adds "pbnet_vgg_small" to layers::model_registry()
//
// pbnet_vgg_small: vgg_small's stage layout and layer names with PBNet units: conv<i> PbConv2d
// (binary stochastic weights; conv1 sees the real image), bn<i> StochasticBatchNorm, relu<i>
// ConcreteSign (a binary activation despite the name, kept so names match vgg_small), pool1..3
// MaxPool2d over the sampled +-1 values, flatten, hidden fc<j> PbLinear + bn_fc<j> + relu_fc<j>
// when model.hidden is set, and the classifier "fc": a float Linear with bias (the XNOR engine
// keeps the last layer float too), trained by ordinary cross-entropy on its logits.

#include "core/registry.hpp"
#include "layers/models.hpp"
#include "layers/module.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::quant {

class PbLayer;

// The builder's choices; the config's model.pbnet section sets them (apps/config.hpp).
struct PbnetOptions {
  // theta ~ U(-theta_init, theta_init): q(w = +1) in (0.12, 0.88) for 2, so training starts from
  // unsaturated distributions (E[mu_w^2] = 0.24). A wider init (6) left the net on its initial
  // plateau about twice as long in a synthetic probe.
  float theta_init = 2.0f;
  // theta = logit_scale * weight: with Adam at 1e-3 (what BN and the float classifier tolerate)
  // the logits move at ~3e-2 per step. In the probe, 30 left the plateau after ~100 steps, 10
  // after ~250.
  float logit_scale = 30.0f;
  // The concrete temperature, annealed geometrically per epoch from tau_start to tau_end. Lower
  // temperatures sharpen the relaxed samples but raise the gradient variance: from scratch at
  // tau = 0.5 the probe did not learn within 400 steps, so the default stays at 1.
  float tau_start = 1.0f;
  float tau_end = 1.0f;
  // The weight temperature (PbLayer), annealed geometrically per epoch; 1 = plain PBNet.
  float weight_tau_start = 1.0f;
  float weight_tau_end = 1.0f;
  // Hard +-1 activation samples forward, relaxed gradient backward (quant::concrete_sign).
  bool straight_through = false;
};

layers::ModulePtr build_pbnet_vgg_small(const layers::ModelSpec& spec,
                                        const layers::LayerFactory& factory, std::uint64_t seed,
                                        const PbnetOptions& options);

// Adds "pbnet_vgg_small" (default PbnetOptions).
void register_pbnet_models(core::Registry<layers::ModelBuilder>& registry = layers::model_registry());

// Every PbConv2d / PbLinear of `model` with its dotted name, in module order.
std::vector<std::pair<std::string, PbLayer*>> pbnet_layers(layers::Module& model);

// Ensemble member `member`: every PBNet layer draws its binary weights from q with the generator
// Rng(seed).fork(member).fork(name_stream(layer name)), used by evaluation until
// pbnet_use_map_weights(). Fails when the model has no PBNet layer.
void pbnet_sample_weights(layers::Module& model, std::uint64_t seed, std::uint64_t member);
// Back to the MAP weights sign(theta) (the default).
void pbnet_use_map_weights(layers::Module& model);

// BN recalibration of the binary net being evaluated (MAP or a sampled member): the running
// statistics were estimated on training's distributions and relaxed samples, which differ from a
// deterministic binary net's pre-activations. begin: the model in eval mode except every
// StochasticBatchNorm, which normalises with batch statistics and averages them into its running
// statistics (equal weights per batch); run batches through the model; end: all in eval mode.
void pbnet_begin_bn_recalibration(layers::Module& model);
void pbnet_end_bn_recalibration(layers::Module& model);

}  // namespace lowbit::quant
