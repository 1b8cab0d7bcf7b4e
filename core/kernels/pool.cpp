// 2-D max and average pooling over NCHW float buffers.
//
// Window (oh, ow) covers input rows oh*SH - PH + [0, KH) and columns ow*SW - PW + [0, KW).
// Max: positions outside the input are -inf (padding never wins); the argmax is the index into the
//   H*W plane of the first maximal element in row-major window order (NaN propagates: the first
//   NaN wins). A window with no input element (only possible when PH >= KH or PW >= KW, which the
//   op rejects) gives -inf and argmax -1, and backward skips it.
// Avg: padded positions count as zeros and every window divides by KH*KW (count_include_pad).
//
// The fast twins run OpenMP over the N*C planes (planes are independent, so backward scatters need
// no atomics) and clip each window to the input once; the reference twins test every tap.

#include "core/kernels/pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lowbit::core::kernels {

// Below this many input elements a parallel region costs more than it saves.
constexpr std::int64_t kParallelMinElements = 1 << 15;
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// True when v should replace the current best (idx < 0: nothing seen yet).
inline bool max_takes(float v, float best, std::int32_t idx) {
  return idx < 0 || v > best || (std::isnan(v) && !std::isnan(best));
}

// Clipped window [lo, hi) along one axis of extent n.
struct Range {
  std::int64_t lo, hi;
};
inline Range window(std::int64_t o, std::int64_t stride, std::int64_t pad, std::int64_t k,
                    std::int64_t n) {
  const std::int64_t start = o * stride - pad;
  return {std::max<std::int64_t>(start, 0), std::min<std::int64_t>(start + k, n)};
}

// The 2x2 stride-2 unpadded window (LeNet's and VGG's pool) on one plane: four taps unrolled,
// taken in the same order as max_takes (first NaN, else first maximum) with selects instead of
// branches, so the loop over ow vectorizes.
void max_pool_2x2_plane(const PoolGeometry& g, const float* xp, float* yp, std::int32_t* ap) {
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    const float* r0 = xp + 2 * oh * g.W;
    const float* r1 = r0 + g.W;
    const auto base = static_cast<std::int32_t>(2 * oh * g.W);
    const auto below = static_cast<std::int32_t>(g.W);
    float* yr = yp + oh * g.OW;
    std::int32_t* ar = ap + oh * g.OW;
#pragma omp simd
    for (std::int64_t ow = 0; ow < g.OW; ++ow) {
      const auto col = base + static_cast<std::int32_t>(2 * ow);
      float best = r0[2 * ow];
      std::int32_t idx = col;
      const float taps[3] = {r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
      const std::int32_t at[3] = {col + 1, col + below, col + below + 1};
      for (int k = 0; k < 3; ++k) {
        const bool take = taps[k] > best || (taps[k] != taps[k] && best == best);
        best = take ? taps[k] : best;
        idx = take ? at[k] : idx;
      }
      yr[ow] = best;
      ar[ow] = idx;
    }
  }
}

bool is_unpadded_2x2(const PoolGeometry& g) {
  return g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0 &&
         2 * g.OH <= g.H && 2 * g.OW <= g.W;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// max pool

void max_pool2d_forward_fast(const PoolGeometry& g, const float* x, float* y,
                             std::int32_t* argmax) {
  const std::int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (planes * in_plane >= kParallelMinElements)
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * in_plane;  // xp: (H,W)
    float* yp = y + p * out_plane;       // yp: (OH,OW)
    std::int32_t* ap = argmax + p * out_plane;
    if (is_unpadded_2x2(g)) {
      max_pool_2x2_plane(g, xp, yp, ap);
      continue;
    }
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const Range rh = window(oh, g.SH, g.PH, g.KH, g.H);
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const Range rw = window(ow, g.SW, g.PW, g.KW, g.W);
        float best = kNegInf;
        std::int32_t idx = -1;
        for (std::int64_t ih = rh.lo; ih < rh.hi; ++ih) {
          const float* row = xp + ih * g.W;
          for (std::int64_t iw = rw.lo; iw < rw.hi; ++iw) {
            const float v = row[iw];
            if (max_takes(v, best, idx)) {
              best = v;
              idx = static_cast<std::int32_t>(ih * g.W + iw);
            }
          }
        }
        yp[oh * g.OW + ow] = best;
        ap[oh * g.OW + ow] = idx;
      }
    }
  }
}

void max_pool2d_forward_reference(const PoolGeometry& g, const float* x, float* y,
                                  std::int32_t* argmax) {
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t c = 0; c < g.C; ++c) {
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          float best = kNegInf;
          std::int32_t idx = -1;
          for (std::int64_t kh = 0; kh < g.KH; ++kh) {
            for (std::int64_t kw = 0; kw < g.KW; ++kw) {
              const std::int64_t ih = oh * g.SH - g.PH + kh, iw = ow * g.SW - g.PW + kw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              const float v = x[((n * g.C + c) * g.H + ih) * g.W + iw];
              if (max_takes(v, best, idx)) {
                best = v;
                idx = static_cast<std::int32_t>(ih * g.W + iw);
              }
            }
          }
          const std::int64_t o = ((n * g.C + c) * g.OH + oh) * g.OW + ow;
          y[o] = best;
          argmax[o] = idx;
        }
      }
    }
  }
}

void max_pool2d_backward_fast(const PoolGeometry& g, const float* dy, const std::int32_t* argmax,
                              float* dx) {
  const std::int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (planes * in_plane >= kParallelMinElements)
  for (std::int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * in_plane;  // dxp: (H,W)
    const float* dyp = dy + p * out_plane;
    const std::int32_t* ap = argmax + p * out_plane;
    std::fill(dxp, dxp + in_plane, 0.0f);
    for (std::int64_t o = 0; o < out_plane; ++o) {
      if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
    }
  }
}

void max_pool2d_backward_reference(const PoolGeometry& g, const float* dy,
                                   const std::int32_t* argmax, float* dx) {
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t c = 0; c < g.C; ++c) {
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const std::int64_t o = ((n * g.C + c) * g.OH + oh) * g.OW + ow;
          if (argmax[o] < 0) continue;
          dx[(n * g.C + c) * g.H * g.W + argmax[o]] += dy[o];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// average pool (count_include_pad: divisor KH*KW)

void avg_pool2d_forward_fast(const PoolGeometry& g, const float* x, float* y) {
  const std::int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  const float inv_area = 1.0f / static_cast<float>(g.KH * g.KW);
#pragma omp parallel for schedule(static) if (planes * in_plane >= kParallelMinElements)
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * in_plane;  // xp: (H,W)
    float* yp = y + p * out_plane;       // yp: (OH,OW)
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const Range rh = window(oh, g.SH, g.PH, g.KH, g.H);
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const Range rw = window(ow, g.SW, g.PW, g.KW, g.W);
        float s = 0.0f;
        for (std::int64_t ih = rh.lo; ih < rh.hi; ++ih) {
          const float* row = xp + ih * g.W;
          for (std::int64_t iw = rw.lo; iw < rw.hi; ++iw) s += row[iw];
        }
        yp[oh * g.OW + ow] = s * inv_area;
      }
    }
  }
}

void avg_pool2d_forward_reference(const PoolGeometry& g, const float* x, float* y) {
  const double area = static_cast<double>(g.KH * g.KW);
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t c = 0; c < g.C; ++c) {
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          double s = 0.0;
          for (std::int64_t kh = 0; kh < g.KH; ++kh) {
            for (std::int64_t kw = 0; kw < g.KW; ++kw) {
              const std::int64_t ih = oh * g.SH - g.PH + kh, iw = ow * g.SW - g.PW + kw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;  // zero padding
              s += x[((n * g.C + c) * g.H + ih) * g.W + iw];
            }
          }
          y[((n * g.C + c) * g.OH + oh) * g.OW + ow] = static_cast<float>(s / area);
        }
      }
    }
  }
}

void avg_pool2d_backward_fast(const PoolGeometry& g, const float* dy, float* dx) {
  const std::int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  const float inv_area = 1.0f / static_cast<float>(g.KH * g.KW);
#pragma omp parallel for schedule(static) if (planes * in_plane >= kParallelMinElements)
  for (std::int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * in_plane;  // dxp: (H,W)
    const float* dyp = dy + p * out_plane;
    std::fill(dxp, dxp + in_plane, 0.0f);
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const Range rh = window(oh, g.SH, g.PH, g.KH, g.H);
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        const Range rw = window(ow, g.SW, g.PW, g.KW, g.W);
        const float d = dyp[oh * g.OW + ow] * inv_area;
        for (std::int64_t ih = rh.lo; ih < rh.hi; ++ih) {
          float* row = dxp + ih * g.W;
          for (std::int64_t iw = rw.lo; iw < rw.hi; ++iw) row[iw] += d;
        }
      }
    }
  }
}

void avg_pool2d_backward_reference(const PoolGeometry& g, const float* dy, float* dx) {
  const double area = static_cast<double>(g.KH * g.KW);
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t c = 0; c < g.C; ++c) {
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const float d =
              static_cast<float>(dy[((n * g.C + c) * g.OH + oh) * g.OW + ow] / area);
          for (std::int64_t kh = 0; kh < g.KH; ++kh) {
            for (std::int64_t kw = 0; kw < g.KW; ++kw) {
              const std::int64_t ih = oh * g.SH - g.PH + kh, iw = ow * g.SW - g.PW + kw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              dx[((n * g.C + c) * g.H + ih) * g.W + iw] += d;
            }
          }
        }
      }
    }
  }
}

}  // namespace lowbit::core::kernels
