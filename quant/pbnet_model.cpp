#include "quant/pbnet_model.hpp"

#include "core/error.hpp"
#include "layers/factory.hpp"
#include "layers/pooling.hpp"
#include "layers/sequential.hpp"
#include "quant/pbnet_layers.hpp"

#include <fmt/format.h>

namespace lowbit::quant {
namespace {

// Appends <layer>, <bn>, <act>: one PBNet unit (distribution -> stochastic BN -> binary sample).
void add_unit(layers::Sequential& net, const layers::LayerBuilder& b, const PbnetOptions& o,
              const std::string& layer, std::shared_ptr<PbLayer> pb, const std::string& bn,
              std::int64_t channels, const std::string& act) {
  pb->set_weight_temperature(o.weight_tau_start, o.weight_tau_end);
  net.add(layer, std::move(pb));
  net.add(bn, std::make_shared<StochasticBatchNorm>(channels));
  net.add(act, std::make_shared<ConcreteSign>(o.tau_start, o.tau_end, b.rng_for(act).next_u64(),
                                              o.straight_through));
}

}  // namespace

layers::ModulePtr build_pbnet_vgg_small(const layers::ModelSpec& spec,
                                        const layers::LayerFactory& factory, std::uint64_t seed,
                                        const PbnetOptions& o) {
  const std::string& n = spec.name;
  core::check(spec.image_size >= 8,
              "model '{}' needs image_size >= 8 (three 2x2 poolings), got {}", n, spec.image_size);
  core::check(spec.stem == "cifar" && spec.block == "basic",
              "model '{}': 'stem' and 'block' apply to the resnets only. HINT: remove them", n);
  core::check(spec.dropout == 0.0,
              "model '{}' has no dropout (sampled weights and activations already regularise). "
              "HINT: remove model.dropout", n);
  const std::int64_t w = spec.width > 0 ? spec.width : 128;
  const layers::LayerBuilder b(factory, seed);
  auto net = std::make_shared<layers::Sequential>(n);
  std::int64_t in = spec.in_channels, size = spec.image_size;
  int i = 1;
  for (int stage = 1; stage <= 3; ++stage) {
    const std::int64_t out = w << (stage - 1);
    for (int rep = 0; rep < 2; ++rep, ++i) {
      const std::string conv = fmt::format("conv{}", i);
      core::Rng rng = b.rng_for(conv);
      auto pb = std::make_shared<PbConv2d>(layers::Conv2dOptions{in, out, 3, 1, 1, 1, 1, false},
                                           rng, o.theta_init, o.logit_scale);
      if (i == 1) pb->set_input_bits(32);  // conv1 sees the real image
      add_unit(*net, b, o, conv, pb,
               fmt::format("bn{}", i), out, fmt::format("relu{}", i));
      in = out;
    }
    net->add(fmt::format("pool{}", stage),
             std::make_shared<layers::MaxPool2d>(layers::Pool2dOptions{2, 2, 0}));
    size /= 2;
  }
  net->add("flatten", std::make_shared<layers::Flatten>());
  in = in * size * size;
  for (std::size_t j = 1; j <= spec.hidden.size(); ++j) {
    const std::int64_t out = spec.hidden[j - 1];
    const std::string fc = fmt::format("fc{}", j);
    core::Rng rng = b.rng_for(fc);
    auto pb = std::make_shared<PbLinear>(layers::LinearOptions{in, out, false}, rng, o.theta_init,
                                         o.logit_scale);
    add_unit(*net, b, o, fc, pb,
             fmt::format("bn_fc{}", j), out, fmt::format("relu_fc{}", j));
    in = out;
  }
  net->add("fc", b.linear({in, spec.num_classes, true}, "fc"));
  return net;
}

void register_pbnet_models(core::Registry<layers::ModelBuilder>& registry) {
  registry.add("pbnet_vgg_small", [](const layers::ModelSpec& spec,
                                     const layers::LayerFactory& factory, std::uint64_t seed) {
    return build_pbnet_vgg_small(spec, factory, seed, PbnetOptions{});
  });
}

std::vector<std::pair<std::string, PbLayer*>> pbnet_layers(layers::Module& model) {
  std::vector<std::pair<std::string, PbLayer*>> out;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* p = dynamic_cast<PbLayer*>(m)) out.emplace_back(name, p);
  }
  return out;
}

void pbnet_sample_weights(layers::Module& model, std::uint64_t seed, std::uint64_t member) {
  const auto found = pbnet_layers(model);
  core::check(!found.empty(),
              "sampling weights needs a PBNet model (PbConv2d/PbLinear layers), and this model has "
              "none. HINT: use --samples only with model.name: pbnet_vgg_small");
  const core::Rng base = core::Rng(seed).fork(member);
  for (const auto& [name, layer] : found) {
    core::Rng rng = base.fork(layers::name_stream(name));
    layer->sample_weights(rng);
  }
}

void pbnet_begin_bn_recalibration(layers::Module& model) {
  model.eval();
  int found = 0;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<StochasticBatchNorm*>(m)) {
      bn->begin_recalibration();
      bn->train();
      ++found;
    }
  }
  core::check(found > 0,
              "BN recalibration applies to PBNet models (StochasticBatchNorm layers), and this "
              "model has none. HINT: use --recalibrate-bn only with model.name: pbnet_vgg_small");
}

void pbnet_end_bn_recalibration(layers::Module& model) {
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<StochasticBatchNorm*>(m)) bn->end_recalibration();
  }
  model.eval();
}

void pbnet_use_map_weights(layers::Module& model) {
  for (const auto& [name, layer] : pbnet_layers(model)) layer->use_map_weights();
}

}  // namespace lowbit::quant
