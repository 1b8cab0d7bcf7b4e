#include "quant/terms/uniform.hpp"

#include "core/error.hpp"
#include "quant/terms/group.hpp"

#include <algorithm>
#include <cmath>

namespace lowbit::quant::terms {

ScaleMode parse_scale_mode(std::string_view name) {
  if (name == "layer") return ScaleMode::per_layer;
  if (name == "channel") return ScaleMode::per_channel;
  core::fail("unknown weight scale mode '{}'; known: channel, layer", name);
}

std::string_view scale_mode_name(ScaleMode mode) {
  return mode == ScaleMode::per_layer ? "layer" : "channel";
}

float weight_scale(const float* w, std::int64_t n, int bits) {
  core::check(bits >= 1 && bits <= kMaxBits, "uniform quantization: bits {} is outside [1, {}]",
              bits, kMaxBits);
  float max_abs = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    core::check(std::isfinite(w[i]), "uniform quantization: weight {} is {}", i, w[i]);
    max_abs = std::max(max_abs, std::fabs(w[i]));
  }
  if (max_abs == 0.0f) return 1.0f;
  return max_abs / static_cast<float>(std::int64_t{1} << (bits - 1));
}

float UniformCodes::scale_of(std::int64_t index) const {
  if (mode == ScaleMode::per_layer) return scales.front();
  const std::int64_t per_channel = codes.numel() / codes.size(0);
  return scales[static_cast<std::size_t>(index / per_channel)];
}

UniformCodes quantize_uniform(const core::Tensor& w, int bits, ScaleMode mode) {
  core::check(w.defined() && w.dtype() == core::DType::f32,
              "uniform quantization: weights must be a defined f32 tensor");
  core::check(w.dim() >= 1, "uniform quantization: weights must have at least one axis");
  const core::Tensor wc = w.contiguous();
  const float* src = wc.data<float>();  // (numel)
  const std::int64_t n = wc.numel();

  UniformCodes u;
  u.bits = bits;
  u.mode = mode;
  u.codes = core::Tensor::uninitialized(w.shape(), core::DType::i32);
  std::int32_t* dst = u.codes.data<std::int32_t>();
  const std::int64_t channels = mode == ScaleMode::per_layer ? 1 : w.size(0);
  const std::int64_t per_channel = channels == 0 ? 0 : n / channels;
  for (std::int64_t c = 0; c < channels; ++c) {
    const float* wp = src + c * per_channel;
    const float sf = weight_scale(wp, per_channel, bits);
    u.scales.push_back(sf);
    for (std::int64_t i = 0; i < per_channel; ++i) {
      dst[c * per_channel + i] = quantize_code(wp[i], sf, bits);
    }
  }
  if (u.scales.empty()) u.scales.push_back(1.0f);  // zero channels: keep scale_of() defined
  return u;
}

core::Tensor dequantize(const UniformCodes& u, const core::Tensor& codes) {
  core::check(codes.dtype() == core::DType::i32 && codes.shape() == u.codes.shape(),
              "dequantize: codes must be i32 of shape {}, got {} {}", u.codes.shape(),
              core::dtype_name(codes.dtype()), codes.shape());
  const core::Tensor cc = codes.contiguous();
  const std::int32_t* q = cc.data<std::int32_t>();
  core::Tensor out = core::Tensor::uninitialized(codes.shape(), core::DType::f32);
  float* y = out.data<float>();
  for (std::int64_t i = 0; i < cc.numel(); ++i) {
    y[i] = static_cast<float>(q[i]) * u.scale_of(i);
  }
  return out;
}

core::Tensor dequantize(const UniformCodes& u) { return dequantize(u, u.codes); }

}  // namespace lowbit::quant::terms
