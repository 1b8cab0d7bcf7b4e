#pragma once
// export: a trained model (layers/ + quant/ modules) -> the XNOR engine's integer model
// (quant/xnor/model.hpp).
//
// Per layer:
//   Conv2d / Linear (float)          -> conv2d (float; a linear layer is a 1x1 conv on a 1x1 map)
//   QuantConv2d/QuantLinear with binary weights and sign/ApproxSign inputs
//                                    -> sign (when its input is float) + bconv2d, weights packed
//   ... with binary weights and float inputs (BinaryConnect) -> conv2d with the +-H weights (the
//                                       real weights for stochastic BinaryConnect, methods.md 1.5)
//   ... with DoReFa weights (k <= 8) and DoReFa inputs -> quantize + kconv2d
//   BatchNorm                        -> affine with training's eval arithmetic: invstd =
//                                       (float)(1/sqrt((double)var + eps)), scale = gamma*invstd,
//                                       shift = beta - mean*scale (core/kernels/norm.cpp)
//   ReLU, HardTanh, pools, Flatten, BasicBlock, BiRealBlock -> their ops; Identity and Dropout
//                                       vanish (eval mode).
// Folding (DESIGN.md): a binary conv followed by BN, an optional sign-preserving activation
// (hardtanh, identity) and optional max-pools, all consumed by a binary-input layer only, becomes
// bconv2d with per-channel integer thresholds (bits out) and a binary max-pool: the threshold of
// channel o is the smallest (largest when the BN slope is negative) integer dot whose float
// output, computed exactly as training computes it, is >= 0, so sign(BN(dot)) is reproduced bit
// for bit. Otherwise the binary conv outputs dot*alpha + bias in float and BN is an affine.
//
// Flatten: training flattens NCHW, the engine NHWC; the next layer's weights are permuted.
// Unsupported layers or quantizers (LSQ, PACT, a plugin's) are an Error naming the layer.

#include "layers/module.hpp"
#include "quant/xnor/model.hpp"

#include <string>
#include <vector>

namespace lowbit::quant {

struct ExportInput {
  std::int64_t channels = 1, height = 28, width = 28;
  std::vector<float> mean{}, std{};  // the evaluation Normalize (empty: none)
};

// The model must be in eval mode semantics (export does not run it).
xnor::Model export_model(layers::Module& model, const ExportInput& input);

}  // namespace lowbit::quant
