// Winograd F(m x m, 3 x 3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for 3x3, stride-1, undilated, ungrouped convolutions.
//
// With tile size a = m + 2, the m x m output tile of channel o at tile t is
//   Y = A^T [ sum_c (G w[o,c] G^T) .* (B^T d[c,t] B) ] A,
// d[c,t] being the a x a input patch at the tile's origin (zero in the padding). Over all tiles
// this is a*a independent GEMMs, one per position xi of the transformed tile:
//   M[xi] (O,T) = U[xi] (O,C) * V[xi] (C,T),   U = G w G^T,  V = B^T d B,  Y = A^T M A,
// which take a*a/(m*m) multiplies per output pixel and channel pair instead of 9: 4 at m = 2,
// 2.25 at m = 4. The input gradient of a stride-1 conv is the conv of dy with the spatially
// flipped, transposed weights and padding 2 - pad, so it runs the same forward. The weight
// gradient takes the chain rule through the same transforms:
//   dM = A dY A^T,   dU[xi] (O,C) = dM[xi] (O,T) * V[xi]^T (T,C),   dw = G^T dU G.
// F(4x4) rounds more than F(2x2) (its transforms hold 1/6, 1/24 and 8); both stay within float
// training noise, and the tests bound the error against the direct reference.
//
// Layout and threading: U (a*a, O, C), V (a*a, C, T) and M (a*a, O, T) hold the whole batch, T =
// N * tiles per plane. Transforms run in parallel over (sample, channel) planes, kLanes tiles at
// a time in the SIMD lanes; the a*a GEMMs are shared out among the threads and each runs on one
// thread (OpenBLAS's OpenMP build does not fork inside a parallel region). Every GEMM and every
// transform is computed whole by one thread in a fixed order, so results do not depend on the
// number of threads.
//
// This file is compiled with -mavx2 -mfma (core/CMakeLists.txt); winograd_tile() checks the CPU.

#include "core/kernels/conv_winograd.hpp"

#include "core/kernels/gemm.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::core::kernels {
namespace {

using i64 = std::int64_t;

constexpr int kLanes = 8;  // tiles transformed together: one AVX2 register of floats

template <int R, int K>
using Mat = std::array<std::array<float, K>, R>;

template <int R, int K>
constexpr Mat<K, R> transposed(const Mat<R, K>& a) {
  Mat<K, R> t{};
  for (int r = 0; r < R; ++r) {
    for (int k = 0; k < K; ++k) t[k][r] = a[r][k];
  }
  return t;
}

// The transform matrices of F(m x m, r x r), a = m + r - 1: input B^T (a,a), weight G (a,r),
// output A^T (m,a), and the transposes the gradients use. F(4x4, 3x3) and F(2x2, 5x5) share
// their interpolation points and so B^T (scripts/winograd_matrices.py derives them all).
struct F2x3 {  // interpolation points 0, 1, -1, infinity
  static constexpr int m = 2, r = 3, a = 4;
  static constexpr Mat<4, 4> BT{{{-1, 0, 1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}}};
  static constexpr Mat<4, 3> G{{{-1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}}};
  static constexpr Mat<2, 4> AT{{{1, 1, 1, 0}, {0, 1, -1, 1}}};
  static constexpr Mat<4, 2> A = transposed<2, 4>(AT);
  static constexpr Mat<3, 4> GT = transposed<4, 3>(G);
};

struct F4x3 {  // interpolation points 0, 1, -1, 2, -2, infinity
  static constexpr int m = 4, r = 3, a = 6;
  static constexpr Mat<6, 6> BT{{{4, 0, -5, 0, 1, 0},
                                 {0, -4, -4, 1, 1, 0},
                                 {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0},
                                 {0, 2, -1, -2, 1, 0},
                                 {0, 4, 0, -5, 0, 1}}};
  static constexpr Mat<6, 3> G{{{1.0f / 4, 0, 0},
                                {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                {0, 0, 1}}};
  static constexpr Mat<4, 6> AT{{{1, 1, 1, 1, 1, 0},
                                 {0, 1, -1, 2, -2, 0},
                                 {0, 1, 1, 4, 4, 0},
                                 {0, 1, -1, 8, -8, 1}}};
  static constexpr Mat<6, 4> A = transposed<4, 6>(AT);
  static constexpr Mat<3, 6> GT = transposed<6, 3>(G);
};

struct F2x5 {  // interpolation points 0, 1, -1, 2, -2, infinity
  static constexpr int m = 2, r = 5, a = 6;
  static constexpr Mat<6, 6> BT = F4x3::BT;
  static constexpr Mat<6, 5> G{{{1.0f / 4, 0, 0, 0, 0},
                                {-1.0f / 6, -1.0f / 6, -1.0f / 6, -1.0f / 6, -1.0f / 6},
                                {-1.0f / 6, 1.0f / 6, -1.0f / 6, 1.0f / 6, -1.0f / 6},
                                {1.0f / 24, 1.0f / 12, 1.0f / 6, 1.0f / 3, 2.0f / 3},
                                {1.0f / 24, -1.0f / 12, 1.0f / 6, -1.0f / 3, 2.0f / 3},
                                {0, 0, 0, 0, 1}}};
  static constexpr Mat<2, 6> AT{{{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}}};
  static constexpr Mat<6, 2> A = transposed<2, 6>(AT);
  static constexpr Mat<5, 6> GT = transposed<6, 5>(G);
};

// kLanes small matrices side by side: Lanes<R>[i][j][lane].
template <int R>
using Lanes = float[R][R][kLanes];

// The 8x8 transpose of rows r[0..7] (8 floats each), in AVX2 registers.
inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// d[i][j][l] = base[origin[l] + i * stride + j] for the K x K patches of kLanes tiles: eight
// 8-float row loads per patch row, transposed. base must be readable 8 - K floats past a patch.
template <int K>
inline void gather_patches(const float* base, const i64* origin, i64 stride, Lanes<K>& d) {
  static_assert(kLanes == 8 && K <= 8);
  for (int i = 0; i < K; ++i) {
    __m256 r[8];
    for (int l = 0; l < 8; ++l) r[l] = _mm256_loadu_ps(base + origin[l] + i * stride);
    transpose8(r);
    for (int j = 0; j < K; ++j) _mm256_storeu_ps(d[i][j], r[j]);
  }
}

// dst[l] = v[l] for the first n lanes (n <= kLanes); a full vector store when n == kLanes.
inline void store_lanes(float* dst, const float (&v)[kLanes], int n) {
  if (n == kLanes) {
    _mm256_storeu_ps(dst, _mm256_loadu_ps(v));
  } else {
    for (int l = 0; l < n; ++l) dst[l] = v[l];
  }
}

// v[l] = src[l] for the first n lanes, zero after.
inline void load_lanes(float (&v)[kLanes], const float* src, int n) {
  if (n == kLanes) {
    _mm256_storeu_ps(v, _mm256_loadu_ps(src));
  } else {
    for (int l = 0; l < kLanes; ++l) v[l] = l < n ? src[l] : 0.0f;
  }
}

// Calls f(std::integral_constant<int, i>) for i = 0 .. N-1: a loop unrolled at compile time.
template <int N, typename F>
inline void unroll(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// acc += c * v on every lane, for a compile-time constant c: nothing for 0, no multiply for +-1.
template <float c>
inline void add_scaled(float (&acc)[kLanes], const float (&v)[kLanes]) {
  if constexpr (c == 1.0f) {
    for (int l = 0; l < kLanes; ++l) acc[l] += v[l];
  } else if constexpr (c == -1.0f) {
    for (int l = 0; l < kLanes; ++l) acc[l] -= v[l];
  } else if constexpr (c != 0.0f) {
    for (int l = 0; l < kLanes; ++l) acc[l] += c * v[l];
  }
}

// out = L in L^T on every lane; L: (R,K) a constant, in: (K,K), out: (R,R). Unrolled, so each
// product with an entry of L compiles to what that entry needs.
template <int R, int K, const Mat<R, K>& L>
inline void sandwich(const Lanes<K>& in, Lanes<R>& out) {
  float half[R][K][kLanes];  // L in
  unroll<R>([&](auto r) {
    for (int j = 0; j < K; ++j) {
      float acc[kLanes] = {};
      unroll<K>([&](auto k) { add_scaled<L[decltype(r)::value][decltype(k)::value]>(acc, in[k][j]); });
      for (int l = 0; l < kLanes; ++l) half[r][j][l] = acc[l];
    }
  });
  for (int r = 0; r < R; ++r) {
    unroll<R>([&](auto q) {
      float acc[kLanes] = {};
      unroll<K>([&](auto k) { add_scaled<L[decltype(q)::value][decltype(k)::value]>(acc, half[r][k]); });
      for (int l = 0; l < kLanes; ++l) out[r][q][l] = acc[l];
    });
  }
}

// The calling thread's scratch of at least n floats, uninitialised, kept between calls: a large
// conv needs tens of MB, and fresh buffers would cost page faults on every call.
float* workspace(i64 n) {
  thread_local std::unique_ptr<float[]> data;
  thread_local i64 size = 0;
  if (n > size) {
    data.reset();
    data.reset(new float[static_cast<std::size_t>(n)]);
    size = n;
  }
  return data.get();
}

// The tiling of one (OH, OW) output plane into m x m tiles, row-major; origin[t] is the offset of
// tile t's top-left corner in a staging plane of row stride `stride` (tile row * m * stride +
// tile column * m). Entries past the last tile (up to a multiple of kLanes) repeat tile 0, so
// a full group of lanes can always be read.
struct Tiling {
  i64 TH, TW, T1;  // tile rows, tile columns, tiles per plane
  std::vector<i64> origin;
  Tiling(i64 OH, i64 OW, int m, i64 stride)
      : TH((OH + m - 1) / m), TW((OW + m - 1) / m), T1(TH * TW),
        origin(static_cast<std::size_t>((T1 + kLanes - 1) / kLanes * kLanes), 0) {
    for (i64 t = 0; t < T1; ++t) origin[t] = (t / TW) * m * stride + (t % TW) * m;
  }
};

// The conv a pass runs: input (N, C, H, W), zero-padded by (ph, pw), to output (N, O, OH, OW).
struct Planes {
  i64 N, C, H, W, O, OH, OW, ph, pw;
};

// U (a*a, rows, cols) = G w G^T for the r x r kernel of each (row, col) pair. The kernel of a
// pair is w[row, col] (w: (rows, cols, r, r)), or, with `flip_transpose`, w[col, row] rotated by
// 180 degrees (w: (cols, rows, r, r)), which makes U the transform of the input-gradient conv.
template <typename W>
void transform_weights(const float* w, i64 rows, i64 cols, bool flip_transpose, float* U) {
  constexpr int r = W::r, a = W::a;
#pragma omp parallel for schedule(static)
  for (i64 row = 0; row < rows; ++row) {
    for (i64 q0 = 0; q0 < cols; q0 += kLanes) {
      const int n = static_cast<int>(std::min<i64>(kLanes, cols - q0));
      Lanes<r> g{};
      Lanes<a> u;
      for (int l = 0; l < n; ++l) {
        const i64 q = q0 + l;
        const float* k = w + (flip_transpose ? q * rows + row : row * cols + q) * r * r;
        for (int i = 0; i < r; ++i) {
          for (int j = 0; j < r; ++j) {
            g[i][j][l] = flip_transpose ? k[(r - 1 - i) * r + r - 1 - j] : k[i * r + j];
          }
        }
      }
      sandwich<a, r, W::G>(g, u);
      for (int i = 0; i < a; ++i) {
        for (int j = 0; j < a; ++j) {
          store_lanes(U + ((i * a + j) * rows + row) * cols + q0, u[i][j], n);
        }
      }
    }
  }
}

// For every tile of one staged plane (row stride `stride`): out = L d L^T of its K x K patch d,
// out[xi] stored at dst[xi * xi_stride + tile], kLanes tiles at a time.
template <int a, int K, const Mat<a, K>& L>
void transform_plane(const float* stage, i64 stride, const Tiling& tiles, float* dst,
                     i64 xi_stride) {
  for (i64 t0 = 0; t0 < tiles.T1; t0 += kLanes) {
    Lanes<K> d;
    Lanes<a> out;
    gather_patches<K>(stage, tiles.origin.data() + t0, stride, d);
    sandwich<a, K, L>(d, out);
    const int n_valid = static_cast<int>(std::min<i64>(kLanes, tiles.T1 - t0));
    for (int i = 0; i < a; ++i) {
      for (int j = 0; j < a; ++j) store_lanes(dst + (i * a + j) * xi_stride + t0, out[i][j], n_valid);
    }
  }
}

// V (a*a, C, T) = B^T d B for every tile of every (sample, channel) plane of x.
template <typename W>
void transform_input(const Planes& s, const float* x, float* V) {
  constexpr int m = W::m, r = W::r, a = W::a;
  const i64 SW = (s.OW + m - 1) / m * m + r - 1;  // staging plane: padded input, zero beyond
  const i64 SH = (s.OH + m - 1) / m * m + r - 1;
  const Tiling tiles(s.OH, s.OW, m, SW);
  const i64 T = s.N * tiles.T1;
#pragma omp parallel
  {
    std::vector<float> stage(static_cast<std::size_t>(SH * SW + 8));  // + gather_patches' slack
#pragma omp for schedule(static)
    for (i64 nc = 0; nc < s.N * s.C; ++nc) {
      const i64 n = nc / s.C, c = nc % s.C;
      std::fill(stage.begin(), stage.end(), 0.0f);
      const float* plane = x + nc * s.H * s.W;
      for (i64 h = 0; h < s.H && h + s.ph < SH; ++h) {
        const i64 width = std::min(s.W, SW - s.pw);
        std::copy(plane + h * s.W, plane + h * s.W + width, stage.data() + (h + s.ph) * SW + s.pw);
      }
      transform_plane<a, a, W::BT>(stage.data(), SW, tiles, V + c * T + n * tiles.T1, s.C * T);
    }
  }
}

// y (N, O, OH, OW) = A^T M A (+ bias) for every tile, cut to the plane.
template <typename W>
void transform_output(const Planes& s, const float* M, const float* bias, float* y) {
  constexpr int m = W::m, a = W::a;
  const Tiling tiles(s.OH, s.OW, m, s.OW);  // origin indexes y's plane directly
  const i64 T = s.N * tiles.T1;
#pragma omp parallel for schedule(static)
  for (i64 no = 0; no < s.N * s.O; ++no) {
    const i64 n = no / s.O, o = no % s.O;
    const float b = bias != nullptr ? bias[o] : 0.0f;
    float* plane = y + no * s.OH * s.OW;
    for (i64 t0 = 0; t0 < tiles.T1; t0 += kLanes) {
      const int n_valid = static_cast<int>(std::min<i64>(kLanes, tiles.T1 - t0));
      Lanes<a> mt;
      Lanes<m> out;
      for (int i = 0; i < a; ++i) {
        for (int j = 0; j < a; ++j) {
          load_lanes(mt[i][j], M + ((i * a + j) * s.O + o) * T + n * tiles.T1 + t0, n_valid);
        }
      }
      sandwich<m, a, W::AT>(mt, out);
      for (int l = 0; l < n_valid; ++l) {
        const i64 t = t0 + l;
        const i64 r0 = t / tiles.TW * m, c0 = t % tiles.TW * m;
        const int rows = static_cast<int>(std::min<i64>(m, s.OH - r0));
        const int cols = static_cast<int>(std::min<i64>(m, s.OW - c0));
        for (int i = 0; i < rows; ++i) {
          for (int j = 0; j < cols; ++j) plane[(r0 + i) * s.OW + c0 + j] = out[i][j][l] + b;
        }
      }
    }
  }
}

// dM (a*a, O, T) = A dY A^T for every tile of every (sample, channel) plane of dy, dY being zero
// beyond the plane.
template <typename W>
void transform_output_grad(const Planes& s, const float* dy, float* dM) {
  constexpr int m = W::m, a = W::a;
  const i64 SW = (s.OW + m - 1) / m * m;
  const i64 SH = (s.OH + m - 1) / m * m;
  const Tiling tiles(s.OH, s.OW, m, SW);
  const i64 T = s.N * tiles.T1;
#pragma omp parallel
  {
    std::vector<float> stage(static_cast<std::size_t>(SH * SW + 8), 0.0f);
#pragma omp for schedule(static)
    for (i64 no = 0; no < s.N * s.O; ++no) {
      const i64 n = no / s.O, o = no % s.O;
      const float* plane = dy + no * s.OH * s.OW;
      for (i64 h = 0; h < s.OH; ++h) {  // the zero margin is never written
        std::copy(plane + h * s.OW, plane + (h + 1) * s.OW, stage.data() + h * SW);
      }
      transform_plane<a, m, W::A>(stage.data(), SW, tiles, dM + o * T + n * tiles.T1, s.O * T);
    }
  }
}

// dw (O, C, r, r) = G^T dU G for every (o, c) pair; dU: (a*a, O, C).
template <typename W>
void transform_weight_grad(const float* dU, i64 O, i64 C, float* dw) {
  constexpr int r = W::r, a = W::a;
#pragma omp parallel for schedule(static)
  for (i64 o = 0; o < O; ++o) {
    for (i64 c0 = 0; c0 < C; c0 += kLanes) {
      const int n = static_cast<int>(std::min<i64>(kLanes, C - c0));
      Lanes<a> u;
      Lanes<r> g;
      for (int i = 0; i < a; ++i) {
        for (int j = 0; j < a; ++j) {
          load_lanes(u[i][j], dU + ((i * a + j) * O + o) * C + c0, n);
        }
      }
      sandwich<r, a, W::GT>(u, g);
      for (int l = 0; l < n; ++l) {
        float* k = dw + (o * C + c0 + l) * r * r;
        for (int i = 0; i < r; ++i) {
          for (int j = 0; j < r; ++j) k[i * r + j] = g[i][j][l];
        }
      }
    }
  }
}

// Calls gemm(xi) for every xi in [0, count), each on one thread.
template <typename F>
void for_each_gemm(int count, F&& gemm) {
#pragma omp parallel for schedule(static)
  for (int xi = 0; xi < count; ++xi) gemm(xi);
}

// Tiles a chunk of samples should hold: the transformed chunk, (C + O) * a*a * tiles floats, then
// stays in cache between its transforms and GEMMs, while the GEMMs still get wide enough
// (measured here: streaming the whole batch's V and M through memory cost more than the GEMMs).
constexpr i64 kChunkTiles = 256;

// The sample chunks of a pass: S samples each (the last may hold fewer), T1 tiles per sample.
struct Chunks {
  i64 T1, S;
  Chunks(const Planes& s, int m)
      : T1(((s.OH + m - 1) / m) * ((s.OW + m - 1) / m)),
        S(std::clamp<i64>((kChunkTiles + T1 - 1) / T1, 1, s.N)) {}
  template <typename F>
  void each(i64 N, F&& f) const {  // f(first sample, samples)
    for (i64 n0 = 0; n0 < N; n0 += S) f(n0, std::min(S, N - n0));
  }
};

// s cut to `count` samples; the caller offsets the buffers to the first of them.
Planes slice(Planes s, i64 count) {
  s.N = count;
  return s;
}

// y = conv(x, w) + bias with the weights already transformed: U (a*a, O, C).
template <typename W>
void forward(const Planes& s, const float* x, const float* U, const float* bias, float* y,
             float* scratch) {
  constexpr int m = W::m, a = W::a;
  const Chunks chunks(s, m);
  float* V = scratch;                         // V: (a*a, C, S*T1)
  float* M = V + a * a * s.C * chunks.S * chunks.T1;  // M: (a*a, O, S*T1)
  chunks.each(s.N, [&](i64 n0, i64 count) {
    const Planes part = slice(s, count);
    const i64 T = count * chunks.T1;
    transform_input<W>(part, x + n0 * s.C * s.H * s.W, V);
    for_each_gemm(a * a, [&](int xi) {
      sgemm_blas(false, false, s.O, T, s.C, 1.0f, U + xi * s.O * s.C, s.C, V + xi * s.C * T, T,
                 0.0f, M + xi * s.O * T, T);
    });
    transform_output<W>(part, M, bias, y + n0 * s.O * s.OH * s.OW);
  });
}

// Floats forward() and backward_weight_pass() need besides U: V and M of one chunk.
i64 chunk_floats(const Planes& s, int m, int a) {
  const Chunks chunks(s, m);
  return a * a * (s.C + s.O) * chunks.S * chunks.T1;
}

template <typename W>
void forward_pass(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y) {
  constexpr int m = W::m, a = W::a;
  const Planes s{g.N, g.C, g.H, g.W, g.O, g.OH, g.OW, g.pad_h, g.pad_w};
  float* U = workspace(a * a * g.O * g.C + chunk_floats(s, m, a));
  transform_weights<W>(w, g.O, g.C, false, U);
  forward<W>(s, x, U, bias, y, U + a * a * g.O * g.C);
}

// dx = conv(dy, flipped w^T) with padding r - 1 - pad: a forward pass from (N, O, OH, OW) to
// (N, C, H, W).
template <typename W>
void backward_input_pass(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  constexpr int m = W::m, r = W::r, a = W::a;
  const Planes s{g.N, g.O, g.OH, g.OW, g.C, g.H, g.W, r - 1 - g.pad_h, r - 1 - g.pad_w};
  float* U = workspace(a * a * g.C * g.O + chunk_floats(s, m, a));
  transform_weights<W>(w, g.C, g.O, true, U);
  forward<W>(s, dy, U, nullptr, dx, U + a * a * g.C * g.O);
}

// dw = G^T dU G with dU[xi] = sum over chunks of dM[xi] V[xi]^T; each xi's sum is kept by the
// same thread in chunk order.
template <typename W>
void backward_weight_pass(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  constexpr int m = W::m, a = W::a;
  const Planes s{g.N, g.C, g.H, g.W, g.O, g.OH, g.OW, g.pad_h, g.pad_w};
  const Chunks chunks(s, m);
  float* dU = workspace(a * a * s.O * s.C + chunk_floats(s, m, a));  // dU: (a*a, O, C)
  float* V = dU + a * a * s.O * s.C;                              // V: (a*a, C, S*T1)
  float* dM = V + a * a * s.C * chunks.S * chunks.T1;             // dM: (a*a, O, S*T1)
  chunks.each(s.N, [&](i64 n0, i64 count) {
    const Planes part = slice(s, count);
    const i64 T = count * chunks.T1;
    transform_input<W>(part, x + n0 * s.C * s.H * s.W, V);
    transform_output_grad<W>(part, dy + n0 * s.O * s.OH * s.OW, dM);
    const float beta = n0 == 0 ? 0.0f : 1.0f;
    for_each_gemm(a * a, [&](int xi) {
      sgemm_blas(false, true, s.O, s.C, T, 1.0f, dM + xi * s.O * T, T, V + xi * s.C * T, T, beta,
                 dU + xi * s.O * s.C, s.C);
    });
  });
  transform_weight_grad<W>(dU, s.O, s.C, dw);
}

// Calls f(W{}) with the transforms for g's kernel size and `tile`; throws when there are none.
template <typename F>
void with_transforms(const ConvGeometry& g, int tile, F&& f) {
  if (winograd_supports(g)) {
    if (g.KH == 3 && tile == 2) return f(F2x3{});
    if (g.KH == 3 && tile == 4) return f(F4x3{});
    if (g.KH == 5 && tile == 2) return f(F2x5{});
  }
  throw std::invalid_argument("conv2d winograd: no F(" + std::to_string(tile) + "x" +
                              std::to_string(tile) + ", " + std::to_string(g.KH) + "x" +
                              std::to_string(g.KW) + ") kernel for this geometry");
}

// The CPU runs this file's code, and LOWBIT_CONV=im2col (for A/B timing) does not turn it off.
bool winograd_enabled() {
  const char* v = std::getenv("LOWBIT_CONV");
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         !(v != nullptr && std::string_view(v) == "im2col");
}

// Channels below which the GEMMs are too thin for Winograd to beat im2col.
constexpr i64 kMinChannels = 16;

}  // namespace

bool winograd_supports(const ConvGeometry& g) {
  const bool window = (g.KH == 3 || g.KH == 5) && g.KW == g.KH;
  return window && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 &&
         g.dilation_w == 1 && g.groups == 1 && g.pad_h >= 0 && g.pad_h < g.KH && g.pad_w >= 0 &&
         g.pad_w < g.KW && g.OH >= 1 && g.OW >= 1;
}

int winograd_tile(const ConvGeometry& g) {
  static const bool enabled = winograd_enabled();
  if (!enabled || g.exact || !winograd_supports(g) || g.C < kMinChannels || g.O < kMinChannels) {
    return 0;
  }
  if (g.KH == 5) return 2;
  // One F(4x4) tile would cover a whole 4x4 plane: F(2x2) then has four tiles per plane for
  // the GEMMs and a transformed weight half the size, and measured faster.
  return g.OH * g.OW <= 16 ? 2 : 4;
}

void conv2d_forward_winograd(const ConvGeometry& g, const float* x, const float* w,
                             const float* bias, float* y, int tile) {
  with_transforms(g, tile, [&](auto t) { forward_pass<decltype(t)>(g, x, w, bias, y); });
}

void conv2d_backward_input_winograd(const ConvGeometry& g, const float* dy, const float* w,
                                    float* dx, int tile) {
  with_transforms(g, tile, [&](auto t) { backward_input_pass<decltype(t)>(g, dy, w, dx); });
}

void conv2d_backward_weight_winograd(const ConvGeometry& g, const float* x, const float* dy,
                                     float* dw, float* dbias, int tile) {
  with_transforms(g, tile, [&](auto t) { backward_weight_pass<decltype(t)>(g, x, dy, dw); });
  if (dbias != nullptr) conv2d_bias_grad(g, dy, dbias);
}

}  // namespace lowbit::core::kernels
