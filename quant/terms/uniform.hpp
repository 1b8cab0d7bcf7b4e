#pragma once
// Uniform (sign-magnitude) quantization of weights to integer codes, the starting point of term
// revealing (Kung et al., reference TRConv2dLayer; methods.md §6.2):
//
//   sf = max|W| / 2^{b-1}
//   q  = sign(w) · min(floor(|w| / sf + 0.5), 2^b - 1),   sign(0) = +1
//
// so the largest weight maps to the code ±2^{b-1} and codes span [-2^{b-1}, 2^{b-1}] ("b bits of
// magnitude range"). The reference uses one scale per layer; per_channel takes the max over each
// output channel (axis 0) instead. A layer or channel that is all zeros gets scale 1 (its codes
// are 0 either way).

#include "core/tensor.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace lowbit::quant::terms {

enum class ScaleMode : std::uint8_t { per_layer, per_channel };

// "layer" or "channel"; anything else is an error listing both.
ScaleMode parse_scale_mode(std::string_view name);
std::string_view scale_mode_name(ScaleMode mode);

// max|w| / 2^{bits-1} over w[0..n), or 1 when every value is 0 (bits in [1, kMaxBits]).
float weight_scale(const float* w, std::int64_t n, int bits);

struct UniformCodes {
  core::Tensor codes;         // i32, the shape of the weights
  std::vector<float> scales;  // (1) per layer, or (shape[0]) per output channel
  int bits = 0;
  ScaleMode mode = ScaleMode::per_layer;

  // The scale that applies to flat (row-major) element `index`.
  float scale_of(std::int64_t index) const;
};

// w: f32, any shape with at least one axis (per_channel: the channel is axis 0).
UniformCodes quantize_uniform(const core::Tensor& w, int bits, ScaleMode mode);
// codes · scale as f32, or of other codes (same shape) that share these scales.
core::Tensor dequantize(const UniformCodes& u);
core::Tensor dequantize(const UniformCodes& u, const core::Tensor& codes);

}  // namespace lowbit::quant::terms
