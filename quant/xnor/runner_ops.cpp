// The runner's float ops on NHWC buffers. Formulas and their order of operations are the
// contract of model.hpp (matching core's training kernels where noted); this file is compiled
// with -ffp-contract=off.

#include "quant/xnor/runner_ops.hpp"

#include "quant/xnor/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace lowbit::quant::xnor::ops {

namespace {

using i64 = std::int64_t;

// Below this many elements an OpenMP region costs more than it saves.
constexpr i64 kParallelMin = 1 << 15;

struct Range {
  i64 lo, hi;
};
// In-bounds taps [lo, hi) of output position o along an axis of extent n.
inline Range window(i64 o, i64 stride, i64 pad, i64 k, i64 n) {
  const i64 start = o * stride - pad;
  return {std::max<i64>(start, 0), std::min<i64>(start + k, n)};
}

inline i64 out_side(i64 in, i64 k, i64 stride, i64 pad) { return (in + 2 * pad - k) / stride + 1; }

}  // namespace

void normalize_input(const float* images, const Dims& d, const InputSpec& spec, float* x) {
  const i64 plane = d.h * d.w;
  std::vector<float> mean(static_cast<std::size_t>(d.c), 0.0f), inv(mean.size(), 1.0f);
  const bool norm = !spec.mean.empty();
  for (std::size_t c = 0; c < mean.size() && norm; ++c) {
    mean[c] = spec.mean[c];
    inv[c] = 1.0f / spec.std[c];  // as data::Normalize: the reciprocal first, then multiply
  }
#pragma omp parallel for schedule(static) if (d.numel() >= kParallelMin)
  for (i64 n = 0; n < d.n; ++n) {
    const float* img = images + n * d.c * plane;  // img: (C, H, W)
    float* out = x + n * plane * d.c;             // out: (H, W, C)
    for (i64 c = 0; c < d.c; ++c) {
      const float m = mean[static_cast<std::size_t>(c)], s = inv[static_cast<std::size_t>(c)];
      for (i64 p = 0; p < plane; ++p) {
        out[p * d.c + c] = norm ? (img[c * plane + p] - m) * s : img[c * plane + p];
      }
    }
  }
}

namespace {

// The float convolution's inner loops, compiled twice (AVX2 and baseline x86-64; the loader picks
// one from the CPU). Both vectorize across output channels only, so every output's sum runs over
// its taps in the same order: the two clones give identical bits.

constexpr i64 kRows = 4, kCols = kConvPanel;  // register block: 4 pixels x 8 channels
constexpr i64 kChunk = 64;                    // pixels per task (their weight slices stay in cache)
constexpr i64 kGroup = 64;                    // output channels per task

// One register block: y[r, o] = (float)(acc * (double)scale[o] + (double)bias[o]) for r < rows
// (<= kRows), o < cols (<= kCols), acc = the double sum over ci < cin of
// (double)w[ci, o] * (double)x[r, ci] in ci order (scale, bias nullptr: no multiply, + 0).
// x: rows with stride ldx; w: (cin, kCols) the block's weight panel; y: rows with stride ldy.
__attribute__((target_clones("avx2", "default"))) void register_block(
    const float* __restrict x, i64 ldx, i64 rows, const float* __restrict w, i64 cin, i64 cols,
    const float* scale, const float* bias, float* __restrict y, i64 ldy) {
  double acc[kRows][kCols] = {};
  if (rows == kRows && cols == kCols) {  // the full block, fixed trip counts
    for (i64 ci = 0; ci < cin; ++ci) {
      const float* wr = w + ci * kCols;
      for (i64 r = 0; r < kRows; ++r) {
        const double xv = x[r * ldx + ci];
        for (i64 o = 0; o < kCols; ++o) acc[r][o] += wr[o] * xv;
      }
    }
  } else {
    for (i64 ci = 0; ci < cin; ++ci) {
      const float* wr = w + ci * kCols;
      for (i64 r = 0; r < rows; ++r) {
        const double xv = x[r * ldx + ci];
        for (i64 o = 0; o < cols; ++o) acc[r][o] += wr[o] * xv;
      }
    }
  }
  for (i64 r = 0; r < rows; ++r) {
    for (i64 o = 0; o < cols; ++o) {
      const double a = scale != nullptr ? acc[r][o] * static_cast<double>(scale[o]) : acc[r][o];
      const double b = bias != nullptr ? static_cast<double>(bias[o]) : 0.0;
      y[r * ldy + o] = static_cast<float>(a + b);
    }
  }
}

}  // namespace

void conv2d_f32(const float* x, const Dims& in, const float* wt, const float* scale,
                const float* bias, i64 out_c, i64 kernel, i64 stride, i64 pad, float* y) {
  const i64 OH = out_side(in.h, kernel, stride, pad), OW = out_side(in.w, kernel, stride, pad);
  const i64 pixels = in.n * OH * OW, taps = kernel * kernel * in.c;
  // A stride-1 pointwise conv reads its input rows in place; every other conv gathers each
  // output pixel's receptive field into a row of (kh, kw, ci) order, padded taps as zeros
  // (w * 0 adds nothing to a finite sum).
  const bool direct = kernel == 1 && stride == 1 && pad == 0;
  const i64 chunks = (pixels + kChunk - 1) / kChunk, groups = (out_c + kGroup - 1) / kGroup;
#pragma omp parallel if (pixels * out_c * taps >= kParallelMin)
  {
    std::vector<float> patch(direct ? 0 : static_cast<std::size_t>(kChunk * taps));
#pragma omp for schedule(static)
    for (i64 task = 0; task < chunks * groups; ++task) {
      const i64 p0 = task / groups * kChunk, count = std::min(kChunk, pixels - p0);
      const i64 g0 = task % groups * kGroup, g1 = std::min(out_c, g0 + kGroup);
      const float* rows = x + p0 * in.c;  // (count, taps)
      if (!direct) {
        std::fill(patch.begin(), patch.end(), 0.0f);
        for (i64 r = 0; r < count; ++r) {
          gather_taps(x, in, kernel, stride, pad, OH, OW, p0 + r, patch.data() + r * taps);
        }
        rows = patch.data();
      }
      for (i64 o0 = g0; o0 < g1; o0 += kCols) {  // a weight slice (taps, kCols) per pass
        const i64 cols = std::min(kCols, g1 - o0);
        for (i64 r0 = 0; r0 < count; r0 += kRows) {
          register_block(rows + r0 * taps, taps, std::min(kRows, count - r0), wt + o0 * taps, taps,
                         cols, scale != nullptr ? scale + o0 : nullptr,
                         bias != nullptr ? bias + o0 : nullptr, y + (p0 + r0) * out_c + o0, out_c);
        }
      }
    }
  }
}

void affine(const float* x, i64 rows, i64 c, const float* scale, const float* shift, float* y) {
#pragma omp parallel for schedule(static) if (rows * c >= kParallelMin)
  for (i64 r = 0; r < rows; ++r) {
    for (i64 i = 0; i < c; ++i) y[r * c + i] = x[r * c + i] * scale[i] + shift[i];
  }
}

void relu(const float* x, i64 n, float* y) {
  for (i64 i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void clip(const float* x, i64 n, float lo, float hi, float* y) {
  for (i64 i = 0; i < n; ++i) y[i] = std::clamp(x[i], lo, hi);
}

void add(const float* a, const float* b, i64 n, float* y) {
  for (i64 i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void quantize(const float* x, i64 n, int bits, std::uint8_t* codes) {
  const auto levels = static_cast<float>((1 << bits) - 1);
  for (i64 i = 0; i < n; ++i) {
    const float v = x[i];
    codes[i] = std::isnan(v)
                   ? 0
                   : static_cast<std::uint8_t>(std::round(std::clamp(v, 0.0f, 1.0f) * levels));
  }
}

void codes_to_float(const std::uint8_t* codes, i64 n, int bits, float* y) {
  const auto levels = static_cast<float>((1 << bits) - 1);
  for (i64 i = 0; i < n; ++i) y[i] = static_cast<float>(codes[i]) / levels;
}

void maxpool_f32(const float* x, const Dims& in, i64 kernel, i64 stride, i64 pad, float* y) {
  const i64 OH = out_side(in.h, kernel, stride, pad), OW = out_side(in.w, kernel, stride, pad);
  const i64 rows = in.n * OH, C = in.c;
#pragma omp parallel for schedule(static) if (rows * OW * C >= kParallelMin)
  for (i64 row = 0; row < rows; ++row) {
    const i64 n = row / OH, oh = row % OH;
    const Range rh = window(oh, stride, pad, kernel, in.h);
    for (i64 ow = 0; ow < OW; ++ow) {
      const Range rw = window(ow, stride, pad, kernel, in.w);
      float* yp = y + (row * OW + ow) * C;
      // As core's max pool: the first maximum wins, a NaN propagates (the first NaN wins).
      std::fill(yp, yp + C, -std::numeric_limits<float>::infinity());
      for (i64 ih = rh.lo; ih < rh.hi; ++ih) {
        for (i64 iw = rw.lo; iw < rw.hi; ++iw) {
          const float* xp = x + ((n * in.h + ih) * in.w + iw) * C;
          for (i64 c = 0; c < C; ++c) {
            const float v = xp[c], best = yp[c];
            if (v > best || (std::isnan(v) && !std::isnan(best))) yp[c] = v;
          }
        }
      }
    }
  }
}

void avgpool_f32(const float* x, const Dims& in, i64 kernel, i64 stride, i64 pad, float* y) {
  const i64 OH = out_side(in.h, kernel, stride, pad), OW = out_side(in.w, kernel, stride, pad);
  const i64 rows = in.n * OH, C = in.c;
  const float inv_area = 1.0f / static_cast<float>(kernel * kernel);
#pragma omp parallel for schedule(static) if (rows * OW * C >= kParallelMin)
  for (i64 row = 0; row < rows; ++row) {
    const i64 n = row / OH, oh = row % OH;
    const Range rh = window(oh, stride, pad, kernel, in.h);
    for (i64 ow = 0; ow < OW; ++ow) {
      const Range rw = window(ow, stride, pad, kernel, in.w);
      float* yp = y + (row * OW + ow) * C;
      std::fill(yp, yp + C, 0.0f);  // float sums of the in-bounds taps, row-major (as core)
      for (i64 ih = rh.lo; ih < rh.hi; ++ih) {
        for (i64 iw = rw.lo; iw < rw.hi; ++iw) {
          const float* xp = x + ((n * in.h + ih) * in.w + iw) * C;
          for (i64 c = 0; c < C; ++c) yp[c] += xp[c];
        }
      }
      for (i64 c = 0; c < C; ++c) yp[c] *= inv_area;
    }
  }
}

void global_avgpool_f32(const float* x, const Dims& in, float* y) {
  const i64 S = in.h * in.w, C = in.c;
#pragma omp parallel if (in.numel() >= kParallelMin)
  {
    std::vector<double> acc(static_cast<std::size_t>(C));
#pragma omp for schedule(static)
    for (i64 n = 0; n < in.n; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (i64 s = 0; s < S; ++s) {  // row-major (h, w), as core's global_avg_pool2d
        const float* xp = x + (n * S + s) * C;
        for (i64 c = 0; c < C; ++c) acc[static_cast<std::size_t>(c)] += xp[c];
      }
      for (i64 c = 0; c < C; ++c) {
        y[n * C + c] =
            static_cast<float>(acc[static_cast<std::size_t>(c)] / static_cast<double>(S));
      }
    }
  }
}

void flatten_bits(const std::uint64_t* x, const Dims& in, std::uint64_t* y) {
  const i64 pixels = in.h * in.w, words = words_for(in.c), out_words = words_for(pixels * in.c);
  for (i64 n = 0; n < in.n; ++n) {
    const std::uint64_t* xp = x + n * pixels * words;  // xp: (H*W, words(C))
    std::uint64_t* yp = y + n * out_words;             // yp: (words(H*W*C))
    if (in.c % kWordBits == 0) {
      std::memcpy(yp, xp, static_cast<std::size_t>(out_words) * sizeof(std::uint64_t));
      continue;
    }
    std::fill(yp, yp + out_words, 0);
    for (i64 p = 0; p < pixels; ++p) {
      for (i64 c = 0; c < in.c; ++c) {
        const std::uint64_t bit = (xp[p * words + c / kWordBits] >> (c % kWordBits)) & 1u;
        const i64 o = p * in.c + c;
        yp[o / kWordBits] |= bit << (o % kWordBits);
      }
    }
  }
}

}  // namespace lowbit::quant::xnor::ops
