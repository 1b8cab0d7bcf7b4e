#include "quant/training.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "quant/pbnet_layers.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace lowbit::quant {

std::vector<NamedQuantLayer> quant_layers(layers::Module& model) {
  std::vector<NamedQuantLayer> out;
  for (auto& [name, module] : model.named_modules()) {
    if (auto* q = dynamic_cast<QuantLayer*>(module)) out.push_back({name, q});
  }
  return out;
}

namespace {
std::string weight_name(const std::string& layer) { return layer.empty() ? "weight" : layer + ".weight"; }
}  // namespace

std::vector<optim::ParamGroup> make_param_groups(layers::Module& model, double weight_decay,
                                                 optim::NoDecayRule rule) {
  optim::NamedParams rest;
  std::vector<optim::ParamGroup> scaled;
  std::vector<std::string> scaled_names;
  for (const auto& [layer, q] : quant_layers(model)) {
    const double s = q->weight_quantizer().lr_scale();
    if (s == 1.0) continue;
    optim::ParamGroup g;
    g.name = "lr_scale:" + layer;
    g.param_names = {weight_name(layer)};
    g.params = {q->latent_weight()};
    g.weight_decay = weight_decay;
    g.lr_scale = s;
    scaled.push_back(std::move(g));
    scaled_names.push_back(weight_name(layer));
  }
  for (const auto& [name, p] : model.named_parameters()) {
    if (std::find(scaled_names.begin(), scaled_names.end(), name) == scaled_names.end()) {
      rest.emplace_back(name, p);
    }
  }
  std::vector<optim::ParamGroup> groups = optim::make_param_groups(rest, weight_decay, rule);
  for (auto& g : scaled) groups.push_back(std::move(g));
  return groups;
}

void apply_latent_constraints(layers::Module& model) {
  core::NoGradGuard no_grad;
  for (const auto& [layer, q] : quant_layers(model)) {
    const auto c = q->weight_quantizer().latent_clip();
    if (!c) continue;
    core::Tensor w = q->latent_weight();
    float* p = w.data<float>();
    const std::int64_t n = w.numel();
    const float lim = *c;
    for (std::int64_t i = 0; i < n; ++i) p[i] = std::clamp(p[i], -lim, lim);
  }
}

void set_quantizer_epoch(layers::Module& model, std::int64_t epoch, std::int64_t epochs) {
  for (auto& [name, module] : model.named_modules()) {
    if (auto* q = dynamic_cast<Quantizer*>(module)) q->set_epoch(epoch, epochs);
    if (auto* p = dynamic_cast<PbLayer*>(module)) p->set_epoch(epoch, epochs);  // weight temperature
  }
}

core::Tensor quantizer_regularization(layers::Module& model) {
  core::Tensor total;
  for (auto& [name, module] : model.named_modules()) {
    auto* q = dynamic_cast<Quantizer*>(module);
    if (q == nullptr) continue;
    core::Tensor r = q->regularizer();
    if (!r.defined()) continue;
    total = total.defined() ? total + r : r;
  }
  return total;
}

std::vector<std::string> binary_weight_names(layers::Module& model) {
  std::vector<std::string> names;
  for (const auto& [layer, q] : quant_layers(model)) {
    if (q->weight_quantizer().bits() == 1) names.push_back(weight_name(layer));
  }
  return names;
}

}  // namespace lowbit::quant
