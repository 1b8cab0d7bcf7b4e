#pragma once
// PBNet MAP network -> an ordinary vgg_small BNN, so quant/export.cpp and the XNOR engine run it.
//
// The MAP network of pbnet_vgg_small (w = sign(theta), BN with running stats, h = sign) is a BNN.
// Its target is vgg_small built with quant.scheme bnn (binary_connect weights with H = 1, sign
// inputs, hardtanh activations, first conv and classifier float) with the same spec: layer names
// and state-dict keys match one to one (tests/quant/test_pbnet.cpp checks it).
//   conv1 (float Conv2d)        <- sign(theta)            (+-1 floats on the real image)
//   conv<i> (QuantConv2d)       <- sign(theta)            (binary_connect of +-1 is itself)
//   bn<i> (BatchNorm2d)         <- gamma, beta, running m and v, each gamma and beta times kSignGain
//   fc                          <- the float classifier
// Why the gain: the BNN feeds its float classifier hardtanh(BN(a)), the MAP net sign(BN(a)).
// Scaling BN's affine by kSignGain makes hardtanh(kSignGain BN(a)) = sign(BN(a)) except where
// |BN(a)| < 1 / kSignGain, and leaves sign(BN(a)) (all the binary layers see) unchanged.

#include "layers/module.hpp"

namespace lowbit::quant {

inline constexpr float kSignGain = 1e6f;

// Copies the MAP network of `pbnet` into `bnn` (see above). Every PBNet layer, stochastic BN and
// float layer must have its counterpart of the same name; a missing or different one is an Error
// naming it.
void copy_map_into_bnn(layers::Module& pbnet, layers::Module& bnn);

}  // namespace lowbit::quant
