#pragma once
// The runner's non-kernel ops over raw NHWC buffers (runner_ops.cpp): float convolution, the
// elementwise ops, float pooling, flatten of packed bits, input normalization; and the integer
// code ops (runner_codes.cpp): power-of-two activation codes and the int8 convolution. Each computes the
// formula model.hpp documents for its op, in that order of operations (runner_ops.cpp is built
// with -ffp-contract=off so no FMA changes a rounding). Binary and k-bit math lives in kernels.hpp.

#include "quant/xnor/model.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace lowbit::quant::xnor::ops {

struct Dims {
  std::int64_t n = 1, h = 1, w = 1, c = 1;  // NHWC
  std::int64_t pixels() const { return n * h * w; }
  std::int64_t numel() const { return n * h * w * c; }
};

// images: (n, C, H, W) f32 in [0, 1] -> x: (n, H, W, C), x = (v - mean[c]) * (1.0f / std[c])
// (or v itself when the spec has no normalization).
void normalize_input(const float* images, const Dims& d, const InputSpec& spec, float* x);

// Conv2d and Conv2dI8 (model.hpp). x: (n, H, W, Cin); wt: the weights in panels,
// conv_weight_panels(); scale: (out_c) or nullptr (Conv2d); bias: (out_c) or nullptr;
// y: (n, OH, OW, out_c). out = (float)(acc [* scale] + bias).
void conv2d_f32(const float* x, const Dims& in, const float* wt, const float* scale,
                const float* bias, std::int64_t out_c, std::int64_t kernel, std::int64_t stride,
                std::int64_t pad, float* y);

// The float conv's weight layout: panels of 8 output channels, (ceil(out_c/8), taps, 8) floats,
// taps = K*K*Cin in (kh, kw, ci) order, the last panel zero-filled. w: (out_c, K, K, Cin).
inline constexpr std::int64_t kConvPanel = 8;
template <class T>
std::vector<float> conv_weight_panels(const T* w, std::int64_t out_c, std::int64_t taps) {
  const std::int64_t panels = (out_c + kConvPanel - 1) / kConvPanel;
  std::vector<float> out(static_cast<std::size_t>(panels * taps * kConvPanel), 0.0f);
  for (std::int64_t o = 0; o < out_c; ++o) {
    for (std::int64_t t = 0; t < taps; ++t) {
      out[static_cast<std::size_t>(((o / kConvPanel) * taps + t) * kConvPanel + o % kConvPanel)] =
          static_cast<float>(w[o * taps + t]);
    }
  }
  return out;
}

// The receptive field of output pixel p (flat over n, OH, OW) of a convolution over x
// (n, H, W, C) into row[(kh*K + kw)*C + c], converted to Dst; padded taps are left as they are
// (the caller zero-fills the row).
template <class Src, class Dst>
void gather_taps(const Src* x, const Dims& in, std::int64_t kernel, std::int64_t stride,
                 std::int64_t pad, std::int64_t OH, std::int64_t OW, std::int64_t p, Dst* row) {
  const std::int64_t n = p / (OH * OW), oh = p / OW % OH, ow = p % OW;
  for (std::int64_t kh = 0; kh < kernel; ++kh) {
    const std::int64_t ih = oh * stride - pad + kh;
    if (ih < 0 || ih >= in.h) continue;
    for (std::int64_t kw = 0; kw < kernel; ++kw) {
      const std::int64_t iw = ow * stride - pad + kw;
      if (iw < 0 || iw >= in.w) continue;
      const Src* src = x + ((n * in.h + ih) * in.w + iw) * in.c;
      std::copy(src, src + in.c, row + (kh * kernel + kw) * in.c);
    }
  }
}

// Per-channel y = x * scale[c] + shift[c]; x, y: (rows, c).
void affine(const float* x, std::int64_t rows, std::int64_t c, const float* scale,
            const float* shift, float* y);
void relu(const float* x, std::int64_t n, float* y);
void clip(const float* x, std::int64_t n, float lo, float hi, float* y);
void add(const float* a, const float* b, std::int64_t n, float* y);
// codes = round(clamp(x, 0, 1) * (2^bits - 1)), NaN -> 0.
void quantize(const float* x, std::int64_t n, int bits, std::uint8_t* codes);
void codes_to_float(const std::uint8_t* codes, std::int64_t n, int bits, float* y);

// ---- integer codes (runner_codes.cpp)

// QuantizePow2 (model.hpp) of one value, and of n values into codes.
std::int8_t pow2_code(float x, float in_scale, int shift_bits);
void quantize_pow2(const float* x, std::int64_t n, int shift_bits, float in_scale,
                   std::int8_t* codes);

// Conv2dI8 on i8 input (model.hpp): x: (n, H, W, Cin) codes; wt: conv_code_weights(); scale:
// (out_c); bias: (out_c) or nullptr; y: (n, OH, OW, out_c).
void conv2d_codes(const std::int8_t* x, const Dims& in, const std::int16_t* wt, const float* scale,
                  const float* bias, std::int64_t out_c, std::int64_t kernel, std::int64_t stride,
                  std::int64_t pad, float* y);
// Its reference twin on the plain (out_c, K, K, Cin) int8 weights: one output at a time.
void conv2d_codes_reference(const std::int8_t* x, const Dims& in, const std::int8_t* w,
                            const float* scale, const float* bias, std::int64_t out_c,
                            std::int64_t kernel, std::int64_t stride, std::int64_t pad, float* y);
// The weights widened to int16, each output channel's taps zero-padded to a multiple of kCodePad.
inline constexpr std::int64_t kCodePad = 32;
std::vector<std::int16_t> conv_code_weights(const std::int8_t* w, std::int64_t out_c,
                                            std::int64_t taps);

// Max / average pooling on f32 NHWC (see MaxPool / AvgPool in model.hpp).
void maxpool_f32(const float* x, const Dims& in, std::int64_t kernel, std::int64_t stride,
                 std::int64_t pad, float* y);
void avgpool_f32(const float* x, const Dims& in, std::int64_t kernel, std::int64_t stride,
                 std::int64_t pad, float* y);
// x: (n, H, W, C) -> y: (n, C)
void global_avgpool_f32(const float* x, const Dims& in, float* y);

// Packed bits (n, H, W, words(C)) -> (n, words(H*W*C)), element (h, w, c) to bit (h*W + w)*C + c.
void flatten_bits(const std::uint64_t* x, const Dims& in, std::uint64_t* y);

}  // namespace lowbit::quant::xnor::ops
