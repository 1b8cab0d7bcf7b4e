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
// Threading plan (for_each_sample). With at least as many samples as threads, every thread takes
// whole samples with its own column buffer; sgemm called inside the parallel region runs
// single-threaded (OpenBLAS's OpenMP build), so there is no oversubscription and no fork/join per
// GEMM, and im2col runs in parallel too. With fewer samples than threads (inference at N=1), the
// samples run one after another and sgemm spreads each GEMM over all threads itself.
// Why not one big im2col across the batch and one multithreaded sgemm? On the ResNet-18 shapes
// the per-sample GEMMs (M = Og >= 64, N = P >= 196, K >= 64) already run at single-thread sgemm
// peak: measured here, single-thread OpenBLAS gives 93-104 GFLOPS whether N is 196, 784 or 1568
// at these M and K. Batching would add memory traffic (a (K, N*P) column buffer, ~100 MB at
// 128 channels and batch 32, plus a transpose of y from (O, N*P) to (N,O,P)) for no faster GEMM.
// The remaining gap to sgemm (see `bench conv`) is im2col's memory traffic, largest at 1x1
// stride-2 convs, where the GEMM has K = C only.

#include "core/kernels/conv.hpp"

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

// x: (Cg,H,W) one sample's group -> col: (Cg*KH*KW, OH*OW).
void im2col(const ConvGeometry& g, i64 Cg, const float* x, float* col, bool parallel) {
  const i64 P = g.OH * g.OW;
  for_each_channel(Cg, parallel, [&](i64 c) {
    const float* plane = x + c * g.H * g.W;  // plane: (H,W)
    for (i64 kh = 0; kh < g.KH; ++kh) {
      for (i64 kw = 0; kw < g.KW; ++kw) {
        float* row = col + ((c * g.KH + kh) * g.KW + kw) * P;  // row: (OH,OW)
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

// The adjoint of im2col: col: (Cg*KH*KW, OH*OW) -> x: (Cg,H,W), overwritten. Channels are
// independent (each writes its own plane), so `parallel` splits them like im2col.
void col2im(const ConvGeometry& g, i64 Cg, const float* col, float* x, bool parallel) {
  const i64 P = g.OH * g.OW;
  for_each_channel(Cg, parallel, [&](i64 c) {
    float* plane = x + c * g.H * g.W;
    std::fill(plane, plane + g.H * g.W, 0.0f);
    for (i64 kh = 0; kh < g.KH; ++kh) {
      for (i64 kw = 0; kw < g.KW; ++kw) {
        const float* row = col + ((c * g.KH + kh) * g.KW + kw) * P;
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

// Calls body(n, t) for n in [0, N), t = the calling thread's index in [0, threads).
// Static schedule: the samples each thread sees depend only on N and `threads`, which keeps
// per-thread accumulations (backward weight) reproducible.
template <typename Body>
void for_each_sample(i64 N, int threads, Body&& body) {
  if (threads <= 1) {
    for (i64 n = 0; n < N; ++n) body(n, 0);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
#pragma omp for schedule(static)
    for (i64 n = 0; n < N; ++n) body(n, t);
  }
}

}  // namespace

void conv2d_forward_im2col(const ConvGeometry& g, const float* x, const float* w,
                           const float* bias, float* y) {
  const i64 Cg = g.C / g.groups, Og = g.O / g.groups;
  const i64 K = Cg * g.KH * g.KW, P = g.OH * g.OW, HW = g.H * g.W;
  const bool direct = is_pointwise(g);
  const int threads = batch_threads(g.N);
  const bool inner = inner_parallel(threads);
  const Scratch cols(direct ? 0 : K * P, threads);  // per thread col: (K,P)
  for_each_sample(g.N, threads, [&](i64 n, int t) {
    for (i64 grp = 0; grp < g.groups; ++grp) {
      const float* xg = x + (n * g.C + grp * Cg) * HW;  // xg: (Cg,H,W)
      const float* col = xg;
      if (!direct) {
        im2col(g, Cg, xg, cols.slice(t), inner);
        col = cols.slice(t);
      }
      float* yg = y + (n * g.O + grp * Og) * P;  // yg: (Og,P)
      sgemm_blas(false, false, Og, P, K, 1.0f, w + grp * Og * K, K, col, P, 0.0f, yg, P);
      if (bias != nullptr) {
        for (i64 o = 0; o < Og; ++o) {
          const float b = bias[grp * Og + o];
          float* row = yg + o * P;
          for (i64 p = 0; p < P; ++p) row[p] += b;
        }
      }
    }
  });
}

void conv2d_backward_input_im2col(const ConvGeometry& g, const float* dy, const float* w,
                                  float* dx) {
  const i64 Cg = g.C / g.groups, Og = g.O / g.groups;
  const i64 K = Cg * g.KH * g.KW, P = g.OH * g.OW, HW = g.H * g.W;
  const bool direct = is_pointwise(g);
  const int threads = batch_threads(g.N);
  const bool inner = inner_parallel(threads);
  const Scratch cols(direct ? 0 : K * P, threads);  // per thread dcol: (K,P)
  for_each_sample(g.N, threads, [&](i64 n, int t) {
    for (i64 grp = 0; grp < g.groups; ++grp) {
      const float* dyg = dy + (n * g.O + grp * Og) * P;  // dyg: (Og,P)
      const float* wg = w + grp * Og * K;                // wg: (Og,K)
      float* dxg = dx + (n * g.C + grp * Cg) * HW;       // dxg: (Cg,H,W)
      if (direct) {  // K == Cg and P == H*W: the GEMM writes dx itself
        sgemm_blas(true, false, K, P, Og, 1.0f, wg, K, dyg, P, 0.0f, dxg, P);
      } else {
        float* dcol = cols.slice(t);
        sgemm_blas(true, false, K, P, Og, 1.0f, wg, K, dyg, P, 0.0f, dcol, P);
        col2im(g, Cg, dcol, dxg, inner);
      }
    }
  });
}

void conv2d_backward_weight_im2col(const ConvGeometry& g, const float* x, const float* dy,
                                   float* dw, float* dbias) {
  const i64 Cg = g.C / g.groups, Og = g.O / g.groups;
  const i64 K = Cg * g.KH * g.KW, P = g.OH * g.OW, HW = g.H * g.W;
  const i64 dw_size = g.O * K;  // dw: (O,Cg,KH,KW) = groups x (Og,K)
  const bool direct = is_pointwise(g);
  const int threads = batch_threads(g.N);
  const bool inner = inner_parallel(threads);
  // Thread 0 accumulates straight into dw; thread t > 0 into its own (O,K) buffer, summed into
  // dw afterwards in thread order, so the result does not depend on timing.
  const i64 col_size = direct ? 0 : K * P;
  const Scratch scratch(col_size + (threads > 1 ? dw_size : 0), threads);
  std::fill(dw, dw + dw_size, 0.0f);
  for (int t = 1; t < threads; ++t) {
    std::fill(scratch.slice(t) + col_size, scratch.slice(t) + col_size + dw_size, 0.0f);
  }
  for_each_sample(g.N, threads, [&](i64 n, int t) {
    float* dw_t = t == 0 ? dw : scratch.slice(t) + col_size;  // dw_t: (O,K)
    for (i64 grp = 0; grp < g.groups; ++grp) {
      const float* xg = x + (n * g.C + grp * Cg) * HW;
      const float* col = xg;
      if (!direct) {
        im2col(g, Cg, xg, scratch.slice(t), inner);
        col = scratch.slice(t);
      }
      const float* dyg = dy + (n * g.O + grp * Og) * P;
      sgemm_blas(false, true, Og, K, P, 1.0f, dyg, P, col, P, 1.0f, dw_t + grp * Og * K, K);
    }
  });
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (i64 i = 0; i < dw_size; ++i) {
      float s = dw[i];
      for (int t = 1; t < threads; ++t) s += scratch.slice(t)[col_size + i];
      dw[i] = s;
    }
  }
  if (dbias != nullptr) {
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
}

}  // namespace lowbit::core::kernels
