// Optimized conv2d kernels: im2col + sgemm per (sample, group), OpenMP over the batch.
//
// Per sample n and group g (Cg = C/groups, Og = O/groups, K = Cg*KH*KW, P = OH*OW):
//   forward          y_g (Og,P)  = w_g (Og,K) * col_g (K,P)  [+ bias per row]
//   backward input   dcol (K,P)  = w_g^T (K,Og) * dy_g (Og,P);   dx_g = col2im(dcol)
//   backward weight  dw_g (Og,K) += dy_g (Og,P) * col_g^T (P,K);  dbias[o] = sum_{n,P} dy
// where col_g = im2col(x[n, group g]) holds, at row (c,kh,kw) and column (oh,ow), the input pixel
// read by that tap (zero in the padding), and col2im is its adjoint (a scatter-add). A 1x1,
// stride-1, unpadded conv needs neither: the (Cg, H*W) input plane already is col_g.
//
// Threading plan (for_each_chunk). The batch is cut into chunks of S consecutive samples; with at
// least as many samples as threads, every thread takes whole chunks with its own buffers; sgemm
// called inside the parallel region runs single-threaded (OpenBLAS's OpenMP build), so there is
// no oversubscription and no fork/join per GEMM, and im2col runs in parallel too. With fewer
// samples than threads (inference at N=1), chunks run one after another and sgemm spreads each
// GEMM over all threads itself.
// Chunk size: one sample per GEMM while P = OH*OW is large (ResNet-18 at 28x28 and 14x14 runs at
// single-thread sgemm peak with N = P), several when P is small. Measured here, single-thread
// OpenBLAS at M=512, K=4608 gives 64 GFLOPS with N = 16 (a 4x4 map) and 180 GFLOPS with N = 256;
// at M=256, K=2304: 97 GFLOPS with N = 49, 179 with N = 784. So a chunk holds enough samples for
// S*P >= kMinGemmColumns (256); its columns sit side by side, col: (K, S*P), and the GEMM output
// (Og, S*P) is scattered to (S, Og, P) (dy is gathered likewise in the backward passes).
// The remaining gap to sgemm (see `bench conv`) is im2col's memory traffic, largest at 1x1
// stride-2 convs, where the GEMM has K = C only.

#include "core/kernels/conv.hpp"

#include "core/kernels/conv_winograd.hpp"
#include "core/kernels/gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace lowbit::core::kernels {
namespace {

using i64 = std::int64_t;

bool is_pointwise(const ConvGeometry& g) {
  return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0;
}

// Output columns [lo, hi) whose tap at offset `off` (= k*dilation - pad) lands inside the input:
// 0 <= ow*stride + off < W.
void valid_columns(i64 off, i64 stride, i64 W, i64 OW, i64& lo, i64& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = W - off <= 0 ? 0 : (W - off - 1) / stride + 1;
  lo = std::min(lo, OW);
  hi = std::clamp(hi, lo, OW);
}

// Calls f(c) for c in [0, Cg); `parallel` splits the channels over the OpenMP threads (used
// when the batch loop runs serially). A plain branch, not an `if` clause: the clause would still
// open a one-thread region per call, which costs at depthwise convs (one call per group).
template <typename F>
void for_each_channel(i64 Cg, bool parallel, F&& f) {
  if (!parallel) {
    for (i64 c = 0; c < Cg; ++c) f(c);
    return;
  }
#pragma omp parallel for schedule(static)
  for (i64 c = 0; c < Cg; ++c) f(c);
}

// x: (Cg,H,W) one sample's group -> col: (Cg*KH*KW, OH*OW) with row stride ld (>= OH*OW).
void im2col(const ConvGeometry& g, i64 Cg, const float* x, float* col, i64 ld, bool parallel) {
  for_each_channel(Cg, parallel, [&](i64 c) {
    const float* plane = x + c * g.H * g.W;  // plane: (H,W)
    for (i64 kh = 0; kh < g.KH; ++kh) {
      for (i64 kw = 0; kw < g.KW; ++kw) {
        float* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;  // row: (OH,OW)
        const i64 off_w = kw * g.dilation_w - g.pad_w;
        i64 lo, hi;
        valid_columns(off_w, g.stride_w, g.W, g.OW, lo, hi);
        for (i64 oh = 0; oh < g.OH; ++oh) {
          float* dst = row + oh * g.OW;
          const i64 ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.H || lo == hi) {
            std::fill(dst, dst + g.OW, 0.0f);
            continue;
          }
          const float* src = plane + ih * g.W + off_w + lo * g.stride_w;  // pixel of column lo
          std::fill(dst, dst + lo, 0.0f);
          if (g.stride_w == 1) {
            std::memcpy(dst + lo, src, static_cast<std::size_t>(hi - lo) * sizeof(float));
          } else {
            for (i64 ow = lo; ow < hi; ++ow) dst[ow] = src[(ow - lo) * g.stride_w];
          }
          std::fill(dst + hi, dst + g.OW, 0.0f);
        }
      }
    }
  });
}

// The adjoint of im2col: col: (Cg*KH*KW, OH*OW), row stride ld -> x: (Cg,H,W), overwritten.
// Channels are independent (each writes its own plane), so `parallel` splits them like im2col.
void col2im(const ConvGeometry& g, i64 Cg, const float* col, i64 ld, float* x, bool parallel) {
  for_each_channel(Cg, parallel, [&](i64 c) {
    float* plane = x + c * g.H * g.W;
    std::fill(plane, plane + g.H * g.W, 0.0f);
    for (i64 kh = 0; kh < g.KH; ++kh) {
      for (i64 kw = 0; kw < g.KW; ++kw) {
        const float* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
        const i64 off_w = kw * g.dilation_w - g.pad_w;
        i64 lo, hi;
        valid_columns(off_w, g.stride_w, g.W, g.OW, lo, hi);
        if (lo == hi) continue;
        for (i64 oh = 0; oh < g.OH; ++oh) {
          const i64 ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
          if (ih < 0 || ih >= g.H) continue;
          const float* src = row + oh * g.OW;
          float* dst = plane + ih * g.W + off_w + lo * g.stride_w;
          if (g.stride_w == 1) {
            for (i64 ow = lo; ow < hi; ++ow) dst[ow - lo] += src[ow];
          } else {
            for (i64 ow = lo; ow < hi; ++ow) dst[(ow - lo) * g.stride_w] += src[ow];
          }
        }
      }
    }
  });
}

// Uninitialised 64-byte-aligned floats: `threads` slices of `per_thread` floats each.
class Scratch {
 public:
  Scratch(i64 per_thread, int threads) : stride_((per_thread + 15) / 16 * 16) {
    const auto bytes = static_cast<std::size_t>(std::max<i64>(stride_ * threads, 16)) * sizeof(float);
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!data_) throw std::bad_alloc();
  }
  float* slice(int t) const { return data_.get() + stride_ * t; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  i64 stride_;
  std::unique_ptr<float, Free> data_;
};

// Threads the batch loop will use (see the plan above): all of them when every thread gets at
// least one sample, else 1 (and sgemm threads itself).
int batch_threads(i64 N) {
  const int T = omp_in_parallel() ? 1 : omp_get_max_threads();
  return N >= T ? T : 1;
}

// Whether im2col/col2im should thread over channels: only when the batch loop runs serially
// and more than one thread is available.
bool inner_parallel(int threads) {
  return threads == 1 && !omp_in_parallel() && omp_get_max_threads() > 1;
}

// Columns a GEMM should have at least (see the chunk-size note at the top). Maps with at least
// this many positions run one sample per GEMM: gathering several costs more than it gains there.
constexpr i64 kMinGemmColumns = 256;

// Samples per chunk: enough for S*P >= kMinGemmColumns, but no more than leaves every thread a
// chunk.
i64 samples_per_chunk(i64 N, i64 P, int threads) {
  if (2 * P >= kMinGemmColumns) return 1;  // e.g. 14x14 maps: measured slower when paired
  const i64 want = (kMinGemmColumns + P - 1) / std::max<i64>(P, 1);
  const i64 fair = (N + threads - 1) / threads;
  return std::clamp<i64>(std::min(want, fair), 1, std::max<i64>(N, 1));
}

// Calls body(n0, count, t) for the chunks [n0, n0 + count) of [0, N) in steps of S, t = the
// calling thread's index in [0, threads). Static schedule: the chunks each thread sees depend only
// on N, S and `threads`, which keeps per-thread accumulations (backward weight) reproducible.
template <typename Body>
void for_each_chunk(i64 N, i64 S, int threads, Body&& body) {
  const i64 chunks = (N + S - 1) / S;
  auto run = [&](i64 k, int t) { body(k * S, std::min(S, N - k * S), t); };
  if (threads <= 1) {
    for (i64 k = 0; k < chunks; ++k) run(k, 0);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
#pragma omp for schedule(static)
    for (i64 k = 0; k < chunks; ++k) run(k, t);
  }
}

// Copies planes between the per-sample layout, plane (n0+s, o) at base + ((n0+s)*stride + o)*P,
// and a chunk matrix m: (rows, count*P) with plane (s, o) at row o, columns [s*P, (s+1)*P).
void gather_planes(const float* base, i64 n0, i64 count, i64 stride, i64 rows, i64 P, float* m) {
  for (i64 o = 0; o < rows; ++o) {
    for (i64 s = 0; s < count; ++s) {
      std::memcpy(m + o * count * P + s * P, base + ((n0 + s) * stride + o) * P,
                  static_cast<std::size_t>(P) * sizeof(float));
    }
  }
}
void scatter_planes(const float* m, i64 n0, i64 count, i64 stride, i64 rows, i64 P, float* base) {
  for (i64 o = 0; o < rows; ++o) {
    for (i64 s = 0; s < count; ++s) {
      std::memcpy(base + ((n0 + s) * stride + o) * P, m + o * count * P + s * P,
                  static_cast<std::size_t>(P) * sizeof(float));
    }
  }
}

// What every kernel derives from the geometry: sizes, threads, chunking and scratch layout.
struct Plan {
  i64 Cg, Og, K, P, HW;
  int threads;
  i64 S;            // samples per chunk
  bool direct;      // 1x1/stride-1/unpadded with S == 1: the input plane is the column matrix
  bool inner;       // im2col/col2im thread over channels
  i64 col_size;     // per-thread column buffer (K, S*P), 0 when direct
  i64 chunk_size;   // per-thread chunk matrix (Og, S*P) when S > 1, else 0
  explicit Plan(const ConvGeometry& g)
      : Cg(g.C / g.groups), Og(g.O / g.groups), K(Cg * g.KH * g.KW), P(g.OH * g.OW), HW(g.H * g.W),
        threads(batch_threads(g.N)), S(samples_per_chunk(g.N, P, threads)),
        direct(is_pointwise(g) && S == 1), inner(inner_parallel(threads)),
        col_size(direct ? 0 : K * S * P), chunk_size(S > 1 ? Og * S * P : 0) {}
};

}  // namespace

void conv2d_forward_im2col(const ConvGeometry& g, const float* x, const float* w,
                           const float* bias, float* y) {
  const Plan plan(g);
  const auto [Cg, Og, K, P, HW, threads, S, direct, inner, col_size, chunk_size] = plan;
  const Scratch scratch(col_size + chunk_size, threads);  // col: (K,S*P), out: (Og,S*P)
  for_each_chunk(g.N, S, threads, [&](i64 n0, i64 count, int t) {
    const i64 cols = count * P;
    for (i64 grp = 0; grp < g.groups; ++grp) {
      const float* col = x + (n0 * g.C + grp * Cg) * HW;  // direct: the input plane is col
      if (!direct) {
        for (i64 s = 0; s < count; ++s) {
          im2col(g, Cg, x + ((n0 + s) * g.C + grp * Cg) * HW, scratch.slice(t) + s * P, cols, inner);
        }
        col = scratch.slice(t);
      }
      // count == 1: the GEMM writes y's (Og,P) block itself; else a chunk matrix scattered after.
      float* out = count == 1 ? y + (n0 * g.O + grp * Og) * P : scratch.slice(t) + col_size;
      sgemm_blas(false, false, Og, cols, K, 1.0f, w + grp * Og * K, K, col, cols, 0.0f, out, cols);
      if (count > 1) scatter_planes(out, n0, count, g.O, Og, P, y + grp * Og * P);
      if (bias != nullptr) {
        for (i64 s = 0; s < count; ++s) {
          for (i64 o = 0; o < Og; ++o) {
            const float b = bias[grp * Og + o];
            float* row = y + ((n0 + s) * g.O + grp * Og + o) * P;
            for (i64 p = 0; p < P; ++p) row[p] += b;
          }
        }
      }
    }
  });
}

void conv2d_backward_input_im2col(const ConvGeometry& g, const float* dy, const float* w,
                                  float* dx) {
  const Plan plan(g);
  const auto [Cg, Og, K, P, HW, threads, S, direct, inner, col_size, chunk_size] = plan;
  const Scratch scratch(col_size + chunk_size, threads);  // dcol: (K,S*P), dy: (Og,S*P)
  for_each_chunk(g.N, S, threads, [&](i64 n0, i64 count, int t) {
    const i64 cols = count * P;
    for (i64 grp = 0; grp < g.groups; ++grp) {
      const float* wg = w + grp * Og * K;  // wg: (Og,K)
      const float* dyg = dy + (n0 * g.O + grp * Og) * P;  // count == 1: (Og,P) in place
      if (count > 1) {
        float* m = scratch.slice(t) + col_size;
        gather_planes(dy + grp * Og * P, n0, count, g.O, Og, P, m);
        dyg = m;
      }
      float* dxg = dx + (n0 * g.C + grp * Cg) * HW;
      if (direct) {  // K == Cg and P == H*W: the GEMM writes dx itself
        sgemm_blas(true, false, K, P, Og, 1.0f, wg, K, dyg, P, 0.0f, dxg, P);
        continue;
      }
      float* dcol = scratch.slice(t);
      sgemm_blas(true, false, K, cols, Og, 1.0f, wg, K, dyg, cols, 0.0f, dcol, cols);
      for (i64 s = 0; s < count; ++s) {
        col2im(g, Cg, dcol + s * P, cols, dx + ((n0 + s) * g.C + grp * Cg) * HW, inner);
      }
    }
  });
}

void conv2d_backward_weight_im2col(const ConvGeometry& g, const float* x, const float* dy,
                                   float* dw, float* dbias) {
  const Plan plan(g);
  const auto [Cg, Og, K, P, HW, threads, S, direct, inner, col_size, dy_size] = plan;
  const i64 dw_size = g.O * K;  // dw: (O,Cg,KH,KW) = groups x (Og,K)
  // Per thread: col (K,S*P), the gathered dy (Og,S*P) when S > 1, and for thread t > 0 its own
  // (O,K) accumulator. Thread 0 accumulates straight into dw; the others are summed into dw
  // afterwards in thread order, so the result does not depend on timing.
  const i64 acc_at = col_size + dy_size;
  const Scratch scratch(acc_at + (threads > 1 ? dw_size : 0), threads);
  std::fill(dw, dw + dw_size, 0.0f);
  for (int t = 1; t < threads; ++t) {
    std::fill(scratch.slice(t) + acc_at, scratch.slice(t) + acc_at + dw_size, 0.0f);
  }
  for_each_chunk(g.N, S, threads, [&](i64 n0, i64 count, int t) {
    const i64 cols = count * P;
    float* dw_t = t == 0 ? dw : scratch.slice(t) + acc_at;  // dw_t: (O,K)
    for (i64 grp = 0; grp < g.groups; ++grp) {
      const float* col = x + (n0 * g.C + grp * Cg) * HW;
      if (!direct) {
        for (i64 s = 0; s < count; ++s) {
          im2col(g, Cg, x + ((n0 + s) * g.C + grp * Cg) * HW, scratch.slice(t) + s * P, cols, inner);
        }
        col = scratch.slice(t);
      }
      const float* dyg = dy + (n0 * g.O + grp * Og) * P;
      if (count > 1) {
        float* m = scratch.slice(t) + col_size;
        gather_planes(dy + grp * Og * P, n0, count, g.O, Og, P, m);
        dyg = m;
      }
      sgemm_blas(false, true, Og, K, cols, 1.0f, dyg, cols, col, cols, 1.0f, dw_t + grp * Og * K, K);
    }
  });
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (i64 i = 0; i < dw_size; ++i) {
      float s = dw[i];
      for (int t = 1; t < threads; ++t) s += scratch.slice(t)[acc_at + i];
      dw[i] = s;
    }
  }
  if (dbias != nullptr) conv2d_bias_grad(g, dy, dbias);
}

void conv2d_bias_grad(const ConvGeometry& g, const float* dy, float* dbias) {
  const i64 P = g.OH * g.OW;
#pragma omp parallel for num_threads(batch_threads(g.O)) schedule(static)
  for (i64 o = 0; o < g.O; ++o) {
    double s = 0.0;
    for (i64 n = 0; n < g.N; ++n) {
      const float* row = dy + (n * g.O + o) * P;
      float part = 0.0f;  // one plane in float, the planes summed in double
#pragma omp simd reduction(+ : part)
      for (i64 p = 0; p < P; ++p) part += row[p];
      s += part;
    }
    dbias[o] = static_cast<float>(s);
  }
}

void conv2d_forward_fast(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                         float* y) {
  if (const int tile = winograd_tile(g)) return conv2d_forward_winograd(g, x, w, bias, y, tile);
  conv2d_forward_im2col(g, x, w, bias, y);
}

void conv2d_backward_input_fast(const ConvGeometry& g, const float* dy, const float* w,
                                float* dx) {
  if (const int tile = winograd_tile(g)) return conv2d_backward_input_winograd(g, dy, w, dx, tile);
  conv2d_backward_input_im2col(g, dy, w, dx);
}

void conv2d_backward_weight_fast(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                                 float* dbias) {
  if (const int tile = winograd_tile(g)) {
    return conv2d_backward_weight_winograd(g, x, dy, dw, dbias, tile);
  }
  conv2d_backward_weight_im2col(g, x, dy, dw, dbias);
}

}  // namespace lowbit::core::kernels
