// The runner's integer-code ops (model.hpp: QuantizePow2, Conv2dI8 on i8 input): DBSSQ's
// power-of-two activation codes and the int8 x int8 convolution with int32 accumulation, with the
// convolution's reference twin.
//
// Why a multiply-accumulate and not shifts: the product of two power-of-two codes is a shift,
// but x86 has variable shifts only per 32-bit lane (vpsllvd, 8 or 16 lanes, then a separate add),
// while vpmaddwd multiplies 16-bit pairs and adds them pairwise in one instruction (16 or 32
// multiply-accumulates per instruction): the codes are widened to int16 once and the dot runs on
// vpmaddwd (docs/dbssq-export.md). Integer sums are exact, so every order gives the same result.

#include "quant/xnor/runner_ops.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowbit::quant::xnor::ops {

namespace {

using i64 = std::int64_t;

constexpr i64 kParallelMin = 1 << 15;  // output elements below which one thread runs
constexpr i64 kChunk = 32;             // output pixels per task

inline i64 out_side(i64 in, i64 k, i64 stride, i64 pad) { return (in + 2 * pad - k) / stride + 1; }

inline float conv_output(std::int32_t acc, float scale, const float* bias, i64 o) {
  const double b = bias != nullptr ? static_cast<double>(bias[o]) : 0.0;
  return static_cast<float>(static_cast<double>(acc) * static_cast<double>(scale) + b);
}

// sum of a[i] * b[i] over i < n (n a multiple of kCodePad), exact in int32; compiled for
// AVX-512BW, AVX2 and baseline x86-64, where the compiler turns it into vpmaddwd.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) std::int32_t dot_i16(
    const std::int16_t* __restrict a, const std::int16_t* __restrict b, i64 n) {
  std::int32_t sum = 0;
  for (i64 i = 0; i < n; ++i) sum += static_cast<std::int32_t>(a[i]) * b[i];
  return sum;
}

}  // namespace

std::int8_t pow2_code(float x, float in_scale, int shift_bits) {
  const int J = (1 << shift_bits) - 1;
  // Training computes (x - 0.0f) * (1/3): x - 0.0f is x itself for every float, -0.0 and NaN too.
  const float v = x * in_scale;
  const int sign = v <= 0.0f ? -1 : 1;  // NaN: +1
  const float mag = std::fabs(v);
  int e = 0;
  if (!(mag < 1.0f)) {
    e = 0;  // the top level (and NaN)
  } else if (mag == 0.0f) {
    e = -J;
  } else {
    int p = 0;
    const float m = std::frexp(mag, &p);      // mag = m 2^p, m in [0.5, 1)
    e = std::max(m == 0.5f ? p - 1 : p, -J);  // ceil(log2 mag), exactly
  }
  return static_cast<std::int8_t>(sign * (1 << (e + J)));
}

void quantize_pow2(const float* x, i64 n, int shift_bits, float in_scale, std::int8_t* codes) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (i64 i = 0; i < n; ++i) codes[i] = pow2_code(x[i], in_scale, shift_bits);
}

std::vector<std::int16_t> conv_code_weights(const std::int8_t* w, i64 out_c, i64 taps) {
  const i64 padded = (taps + kCodePad - 1) / kCodePad * kCodePad;
  std::vector<std::int16_t> out(static_cast<std::size_t>(out_c * padded), 0);
  for (i64 o = 0; o < out_c; ++o) {
    for (i64 t = 0; t < taps; ++t) out[static_cast<std::size_t>(o * padded + t)] = w[o * taps + t];
  }
  return out;
}

void conv2d_codes(const std::int8_t* x, const Dims& in, const std::int16_t* wt, const float* scale,
                  const float* bias, i64 out_c, i64 kernel, i64 stride, i64 pad, float* y) {
  const i64 OH = out_side(in.h, kernel, stride, pad), OW = out_side(in.w, kernel, stride, pad);
  const i64 pixels = in.n * OH * OW, taps = kernel * kernel * in.c;
  const i64 padded = (taps + kCodePad - 1) / kCodePad * kCodePad;
  const i64 chunks = (pixels + kChunk - 1) / kChunk;
#pragma omp parallel if (pixels * out_c >= kParallelMin)
  {
    // A chunk's receptive fields as int16 rows of (kh, kw, ci), padded taps and the row's tail 0.
    std::vector<std::int16_t> rows(static_cast<std::size_t>(kChunk * padded));
#pragma omp for schedule(static)
    for (i64 chunk = 0; chunk < chunks; ++chunk) {
      const i64 p0 = chunk * kChunk, count = std::min(kChunk, pixels - p0);
      std::fill(rows.begin(), rows.end(), std::int16_t{0});
      for (i64 r = 0; r < count; ++r) {
        gather_taps(x, in, kernel, stride, pad, OH, OW, p0 + r, rows.data() + r * padded);
      }
      for (i64 r = 0; r < count; ++r) {
        float* yp = y + (p0 + r) * out_c;
        for (i64 o = 0; o < out_c; ++o) {
          const std::int32_t acc = dot_i16(rows.data() + r * padded, wt + o * padded, padded);
          yp[o] = conv_output(acc, scale[o], bias, o);
        }
      }
    }
  }
}

void conv2d_codes_reference(const std::int8_t* x, const Dims& in, const std::int8_t* w,
                            const float* scale, const float* bias, i64 out_c, i64 kernel,
                            i64 stride, i64 pad, float* y) {
  const i64 OH = out_side(in.h, kernel, stride, pad), OW = out_side(in.w, kernel, stride, pad);
  for (i64 n = 0; n < in.n; ++n) {
    for (i64 oh = 0; oh < OH; ++oh) {
      for (i64 ow = 0; ow < OW; ++ow) {
        for (i64 o = 0; o < out_c; ++o) {
          std::int32_t acc = 0;
          for (i64 kh = 0; kh < kernel; ++kh) {
            for (i64 kw = 0; kw < kernel; ++kw) {
              const i64 ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
              if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
              for (i64 c = 0; c < in.c; ++c) {
                acc += static_cast<std::int32_t>(w[((o * kernel + kh) * kernel + kw) * in.c + c]) *
                       x[((n * in.h + ih) * in.w + iw) * in.c + c];
              }
            }
          }
          y[((n * OH + oh) * OW + ow) * out_c + o] = conv_output(acc, scale[o], bias, o);
        }
      }
    }
  }
}

}  // namespace lowbit::quant::xnor::ops
