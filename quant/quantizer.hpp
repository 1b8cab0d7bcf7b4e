#pragma once
// Quantizer: an object that pairs a forward quantization with its gradient estimator (larq's
// design). Quantized layers take one for their weights and one for their inputs, by composition.
// A quantizer is a Module, so learned quantizer parameters (LSQ step, PACT alpha) and generators
// (stochastic BinaryConnect) are saved in checkpoints under the layer's name
// ("conv2.weight_quantizer.step").
//
// Latent weights (methods.md 0.1): the layer keeps full-precision weights W_r, the optimizer
// updates them, and each forward uses Q(W_r). A weight quantizer states how the training loop
// treats W_r: a clip range applied after each optimizer step and an LR multiplier.

#include "core/shape.hpp"
#include "core/registry.hpp"
#include "layers/module.hpp"
#include "quant/settings.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace lowbit::quant {

using core::Tensor;

// Weights Q(W) written as out_scale[o] * values[o, ...] (out_scale undefined: Q(W) = values).
// Layers convolve with `values` and scale the output, so a binary conv computes the exact integer
// dot product first and multiplies once, as the XNOR engine does (export reproduces it bit for
// bit).
struct FactoredWeight {
  Tensor values;
  Tensor out_scale;  // (out) or undefined
};

class Quantizer : public layers::Module {
 public:
  // Q(W) for a weight quantizer, factored as above; the default does not factor.
  virtual FactoredWeight factored(const Tensor& w) { return {forward(w), Tensor()}; }
  // Bits of the quantized values: 1 binary, k for k-bit grids, 32 for the identity.
  virtual int bits() const = 0;
  // After each optimizer step the latent weights are clipped to [-c, c] (weight quantizers).
  virtual std::optional<float> latent_clip() const { return std::nullopt; }
  // The multiplier on the learning rate of the latent weights (BinaryConnect's Glorot scale).
  virtual double lr_scale() const { return 1.0; }
  // A term added to the training loss (e.g. PACT's L2 on alpha); undefined when none.
  virtual Tensor regularizer() { return Tensor(); }
  // Called by the trainer at the start of every epoch (0-based, also when a resume starts
  // mid-epoch) for quantizers whose behaviour follows a schedule (DBSSQ's eps).
  virtual void set_epoch(std::int64_t /*epoch*/, std::int64_t /*epochs*/) {}
};

using QuantizerPtr = std::shared_ptr<Quantizer>;

// A value annealed geometrically over training: `start` in epoch 0, `end` in the last epoch
// (epochs - 1), start * (end / start)^(epoch / (epochs - 1)) between; `start` when epochs <= 1.
// The schedules of set_epoch (RQ's and PBNet's temperatures) use it.
inline double anneal_geometric(double start, double end, std::int64_t epoch, std::int64_t epochs) {
  if (epochs <= 1) return start;
  const double t = static_cast<double>(std::clamp<std::int64_t>(epoch, 0, epochs - 1)) /
                   static_cast<double>(epochs - 1);
  return start * std::pow(end / start, t);
}

enum class Role { weight, activation };

// What a factory knows when it builds a quantizer for one layer.
struct QuantizerSpec {
  Role role = Role::weight;
  QuantSettings settings;
  core::Shape weight_shape;      // weights: (out, in, k, k) or (out, in); empty for activations
  std::int64_t fan_in = 0;       // weights: in * k * k
  std::int64_t fan_out = 0;      // weights: out * k * k
  std::int64_t in_channels = 0;  // the layer's input channels (axis 1 of its input)
  std::uint64_t seed = 0;        // for stochastic quantizers: drawn from the layer's generator
};

struct QuantizerFactory {
  std::function<QuantizerPtr(const QuantizerSpec&)> make;
  bool weights = true;      // may quantize weights
  bool activations = true;  // may quantize activations
};

using QuantizerRegistry = core::Registry<QuantizerFactory>;

// The process-wide registry (empty until register_builtin_quantizers() runs).
QuantizerRegistry& quantizer_registry();

// Adds none, binary_connect, sign, approx_sign, xnor, bireal, dorefa, lsq, pact, dbssq.
void register_builtin_quantizers(QuantizerRegistry& registry = quantizer_registry());

// Looks `name` up and builds it for `spec.role`; a name that cannot take that role is an Error
// that says which roles it has.
QuantizerPtr make_quantizer(const std::string& name, const QuantizerSpec& spec,
                            const QuantizerRegistry& registry = quantizer_registry());

}  // namespace lowbit::quant
