#include "quant/pbnet_export.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/batch_norm.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "quant/pbnet_layers.hpp"
#include "quant/quant_layers.hpp"

namespace lowbit::quant {
namespace {

// The weight tensor a MAP weight goes into: a float layer's weight or a quantized layer's latent.
Tensor weight_slot(layers::Module& m, const std::string& name) {
  if (auto* c = dynamic_cast<layers::Conv2d*>(&m)) return c->weight();
  if (auto* l = dynamic_cast<layers::Linear*>(&m)) return l->weight();
  if (auto* q = dynamic_cast<QuantLayer*>(&m)) {
    core::check(q->weight_quantizer().bits() == 1,
                "copy_map_into_bnn: '{}' ({}) does not binarize its weights. HINT: build the target "
                "vgg_small with quant.scheme bnn",
                name, m.describe());
    return q->latent_weight();
  }
  core::fail("copy_map_into_bnn: '{}' is a {}, not a convolution or linear layer", name,
             m.type_name());
}

void copy_checked(Tensor dst, const Tensor& src, const std::string& what) {
  core::check(dst.shape() == src.shape(), "copy_map_into_bnn: {} has shape {} in the BNN, {} in PBNet",
              what, dst.shape(), src.shape());
  dst.copy_(src);
}

}  // namespace

void copy_map_into_bnn(layers::Module& pbnet, layers::Module& bnn) {
  core::NoGradGuard no_grad;
  const layers::StateDict source = pbnet.state_dict();
  for (auto& [name, m] : pbnet.named_modules()) {
    if (name.empty() || m->named_children().size() > 0) continue;
    if (auto* pb = dynamic_cast<PbLayer*>(m)) {
      copy_checked(weight_slot(bnn.submodule(name), name), pb->map_weights(), name + ".weight");
    } else if (dynamic_cast<StochasticBatchNorm*>(m) != nullptr) {
      auto* bn = dynamic_cast<layers::BatchNorm*>(&bnn.submodule(name));
      core::check(bn != nullptr, "copy_map_into_bnn: '{}' is no BatchNorm in the BNN", name);
      copy_checked(bn->weight(), source.at(name + ".weight") * kSignGain, name + ".weight");
      copy_checked(bn->bias(), source.at(name + ".bias") * kSignGain, name + ".bias");
      copy_checked(bn->running_mean(), source.at(name + ".running_mean"), name + ".running_mean");
      copy_checked(bn->running_var(), source.at(name + ".running_var"), name + ".running_var");
    } else if (!m->named_parameters().empty()) {
      const layers::StateDict own = m->state_dict();
      for (const auto& [key, t] : own) {
        Tensor dst = bnn.submodule(name).state_dict().at(key);
        copy_checked(dst, t, name + "." + key);
      }
    }
  }
}

}  // namespace lowbit::quant
