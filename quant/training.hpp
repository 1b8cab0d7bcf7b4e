#pragma once
// What the training loop does for quantized layers besides forward/backward (methods.md 0.1):
// latent-weight LR scales as parameter groups, the clip after each optimizer step, quantizer
// regularisers added to the loss, and the list of binary weights a routing optimizer sends to Bop.

#include "layers/module.hpp"
#include "optim/param_group.hpp"
#include "quant/quant_layers.hpp"

#include <string>
#include <vector>

namespace lowbit::quant {

struct NamedQuantLayer {
  std::string name;  // the layer's dotted path
  QuantLayer* layer;
};

// Every QuantConv2d / QuantLinear of `model`, in module order.
std::vector<NamedQuantLayer> quant_layers(layers::Module& model);

// optim::make_param_groups' "decay" and "no_decay" groups, except that the latent weights whose
// quantizer asks for an LR multiplier (BinaryConnect's Glorot scale) go to a group of their own
// per layer ("lr_scale:<layer>", same weight decay, lr_scale set), as the authors' scripts do.
std::vector<optim::ParamGroup> make_param_groups(layers::Module& model, double weight_decay,
                                                 optim::NoDecayRule rule);

// Clips every latent weight to its quantizer's range (after each optimizer step).
void apply_latent_constraints(layers::Module& model);

// Tells every quantizer of `model` the epoch about to run (0-based; Quantizer::set_epoch), and
// every PBNet layer (its weight temperature, quant/pbnet_layers.hpp).
void set_quantizer_epoch(layers::Module& model, std::int64_t epoch, std::int64_t epochs);

// Sum of the quantizers' loss terms (PACT's alpha decay), or an undefined tensor when none.
core::Tensor quantizer_regularization(layers::Module& model);

// Names ("conv2.weight") of the latent weights whose quantizer is binary (1 bit): what a routing
// optimizer hands to Bop.
std::vector<std::string> binary_weight_names(layers::Module& model);

}  // namespace lowbit::quant
