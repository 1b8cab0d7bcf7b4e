#pragma once
// The model summary of `train --summary` (also printed when training starts): per conv/linear
// layer its weight and input bits, parameters, multiply-accumulates per image, and weight bytes
// as float vs packed at the quantized width; then MACs split by precision and model sizes.

#include "core/shape.hpp"
#include "layers/module.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::quant {

struct LayerCost {
  std::string name, type;
  int weight_bits = 32, input_bits = 32;
  std::int64_t params = 0;       // weight elements (+ bias)
  std::int64_t macs = 0;         // per image
  std::int64_t float_bytes = 0;  // weights and bias as f32
  std::int64_t packed_bytes = 0; // weights at weight_bits (bit-packed), bias as f32
};

struct ModelCost {
  std::vector<LayerCost> layers;
  std::int64_t total_params = 0;
  std::int64_t other_params = 0;  // batch-norm and quantizer parameters (kept as f32)
  std::int64_t float_bytes = 0, packed_bytes = 0;
  std::int64_t macs_float = 0;    // both operands full precision
  std::int64_t macs_binary = 0;   // 1-bit weights and 1-bit inputs (XNOR/popcount)
  std::int64_t macs_low_bit = 0;  // every other mix with at least one quantized operand
};

// Probes `model` with one zero image of shape (1, C, H, W) = item (eval mode, no gradients; the
// training flag is restored) and counts per layer.
ModelCost model_cost(layers::Module& model, const core::Shape& item);
std::string format_summary(const ModelCost& cost);

}  // namespace lowbit::quant
