#pragma once
// The XNOR/popcount kernels of the inference engine: raw pointers, sizes and strides only
// (no Tensor, no autograd). Every kernel has a reference twin; select.cpp picks the variant once
// from the CPU's features (reference / portable POPCNT / AVX2 / AVX-512 VPOPCNTDQ),
// LOWBIT_XNOR_KERNELS=reference (or =popcnt, =avx2, =avx512) in the environment forces a path. The free functions below run the
// selected path; tests and benchmarks call a path explicitly through kernel_table(path).
//
// Conventions (DESIGN.md):
//  - bit 1 means -1, bit 0 means +1; sign(0) = +1, so x < 0 sets the bit (-0.0 and NaN give +1).
//  - Binary activations are NHWC, packed along C into uint64 words: words(C) = ceil(C/64) words
//    per pixel, bit c%64 of word c/64; padding bits of the last word are 0.
//  - Binary weights are (Cout, KH, KW, words(Cin)) packed the same way.
//  - Dot product of two packed vectors of true length K: K - 2*popcount(a XOR w).
//  - Spatial padding of binary convolutions is ZERO padding, as the float training layer does:
//    padded taps contribute nothing (neither +1 nor -1); the engine counts only in-bounds taps,
//    so an output pixel's dot = sum over in-bounds taps t of (Cin - 2*popcount(a_t XOR w_t)).
//  - k-bit (DoReFa) tensors hold unsigned codes 0..2^bits-1 as `bits` bit planes per pixel/row,
//    each plane packed like a binary vector: (rows, bits, words(K)), plane i = bit i of the codes.
//    Their dot is the unsigned code dot sum_i,j 2^(i+j) popcount(a_i AND w_j); zero padding is
//    code 0, so padded taps contribute nothing here either.
//
// Output transforms fused after the dot product (Larq's "output transform"), per output channel c:
//  - raw int32 dots;
//  - affine: out = dot * scale[c] + bias[c] as float (scale/bias nullptr mean 1 and 0);
//  - threshold: packed bits out, +1 (bit 0) iff dot >= tau[c], or iff dot <= tau[c] for a flipped
//    channel (BN + sign folded, DESIGN.md). tau = INT32_MIN (not flipped) is a constant +1 channel,
//    tau = INT32_MAX (not flipped) a constant -1 channel. fold_sign_threshold() builds them.
//
// Unless stated otherwise sizes are >= 1 and outputs do not alias inputs. Kernels use OpenMP
// threads (omp_get_max_threads()) on large enough problems.

#include <cstdint>
#include <limits>

namespace lowbit::quant::xnor {

inline constexpr std::int64_t kWordBits = 64;
inline constexpr std::int64_t words_for(std::int64_t bits) { return (bits + 63) / 64; }

// ---------------------------------------------------------------------------------------------
// Thresholds (BN + sign folding)

struct Thresholds {
  const std::int32_t* tau = nullptr;   // tau: (channels)
  const std::uint8_t* flip = nullptr;  // flip: (channels), nonzero = flipped; nullptr: none
};

// True when the output is -1 (bit 1) for this dot: !(dot >= tau) normally, !(dot <= tau) flipped.
inline bool threshold_bit(std::int32_t dot, std::int32_t tau, bool flip) {
  return flip ? dot > tau : dot < tau;
}

struct Threshold {
  std::int32_t tau = std::numeric_limits<std::int32_t>::min();
  std::uint8_t flip = 0;
};

// Folds sign(f(s)) (sign(0) = +1) over the integers lo <= s <= hi into one threshold, for any f
// monotone on [lo, hi] (non-decreasing, e.g. BN with gamma > 0; non-increasing, gamma < 0;
// constant, gamma == 0). Exact for the f given: pass the very float arithmetic the training layer
// uses and threshold_bit(s, tau, flip) == (f(s) < 0) for every s in [lo, hi] (NaN counts as +1).
template <typename F>
Threshold fold_sign_threshold(F&& f, std::int32_t lo, std::int32_t hi) {
  constexpr std::int32_t kMin = std::numeric_limits<std::int32_t>::min();
  constexpr std::int32_t kMax = std::numeric_limits<std::int32_t>::max();
  const auto plus = [&](std::int64_t s) { return !(f(static_cast<std::int32_t>(s)) < 0); };
  const bool plus_lo = plus(lo), plus_hi = plus(hi);
  if (plus_lo == plus_hi) return {plus_lo ? kMin : kMax, 0};  // constant over [lo, hi]
  std::int64_t a = lo, b = hi;  // the sign changes between a and b: plus(a) != plus(b)
  while (b - a > 1) {
    const std::int64_t mid = a + (b - a) / 2;
    (plus(mid) == plus_lo ? a : b) = mid;
  }
  if (plus_hi) return {static_cast<std::int32_t>(b), 0};  // +1 iff s >= b
  return {static_cast<std::int32_t>(a), 1};               // +1 iff s <= a
}

// sign(BN(s)) for BN(s) = (s - mean) * invstd * gamma + beta evaluated in double, folded over the
// possible dots of a K-term binary product, [-K, K].
Threshold fold_bn_sign(double gamma, double beta, double mean, double invstd, std::int64_t K);

// ---------------------------------------------------------------------------------------------
// Packing

// x: (rows, k) float with row stride ld (elements) -> out: (rows, words_for(k)) uint64.
// Bit set where x < 0. Padding bits 0.
void pack_signs(const float* x, std::int64_t rows, std::int64_t k, std::int64_t ld,
                std::uint64_t* out);
// The inverse, for tests and debugging: out (rows, k) float of +1/-1.
void unpack_signs(const std::uint64_t* bits, std::int64_t rows, std::int64_t k, float* out);
// dots: (rows, n) int32 with row stride ld -> out: (rows, words_for(n)) bits through per-column
// thresholds t (n of them). Padding bits 0.
void pack_thresholds(const std::int32_t* dots, std::int64_t rows, std::int64_t n, std::int64_t ld,
                     const Thresholds& t, std::uint64_t* out);
// codes: (rows, k) uint8 with row stride ld, each < 2^bits (1 <= bits <= 8; higher bits ignored)
// -> out: (rows, bits, words_for(k)) bit planes.
void pack_planes(const std::uint8_t* codes, std::int64_t rows, std::int64_t k, std::int64_t ld,
                 int bits, std::uint64_t* out);
// The inverse: out (rows, k) codes.
void unpack_planes(const std::uint64_t* planes, std::int64_t rows, std::int64_t k, int bits,
                   std::uint8_t* out);

// ---------------------------------------------------------------------------------------------
// Binary GEMM (binary linear layer: M rows of activations x N output units)

// out(m, n) = K - 2*popcount(a[m,:] XOR w[n,:]).
// a: (M, words_for(K)) packed rows, w: (N, words_for(K)) packed rows, out: (M, N) int32
// with row stride ldo.
void bgemm(const std::uint64_t* a, const std::uint64_t* w, std::int64_t M, std::int64_t N,
           std::int64_t K, std::int32_t* out, std::int64_t ldo);
// out: (M, N) float with row stride ldo, out(m, n) = dot * scale[n] + bias[n].
void bgemm_affine(const std::uint64_t* a, const std::uint64_t* w, std::int64_t M, std::int64_t N,
                  std::int64_t K, const float* scale, const float* bias, float* out,
                  std::int64_t ldo);
// out: (M, words_for(N)) bits through thresholds t (N of them).
void bgemm_threshold(const std::uint64_t* a, const std::uint64_t* w, std::int64_t M, std::int64_t N,
                     std::int64_t K, const Thresholds& t, std::uint64_t* out);

// ---------------------------------------------------------------------------------------------
// Binary convolution

struct BConvShape {
  std::int64_t batch = 1, in_h = 0, in_w = 0, in_c = 0;  // input (N, H, W, C) packed along C
  std::int64_t out_c = 0, kernel = 3, stride = 1, pad = 0;
  std::int64_t out_h() const { return (in_h + 2 * pad - kernel) / stride + 1; }
  std::int64_t out_w() const { return (in_w + 2 * pad - kernel) / stride + 1; }
};

// Binary convolution with zero padding: out (N, OH, OW, Cout) int32 dot products (see above).
// in: (N, H, W, words(C)), w: (Cout, KH, KW, words(C)).
void bconv2d(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
             std::int32_t* out);
// out: (N, OH, OW, Cout) float, dot * scale[c] + bias[c].
void bconv2d_affine(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                    const float* scale, const float* bias, float* out);
// out: (N, OH, OW, words(Cout)) bits through thresholds t (Cout of them): the next layer's input.
void bconv2d_threshold(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                       const Thresholds& t, std::uint64_t* out);

// ---------------------------------------------------------------------------------------------
// k-bit GEMM / convolution on bit planes (DoReFa, 1 <= abits, wbits <= 4)

// a: (M, abits, words(K)), w: (N, wbits, words(K)) -> out: (M, N) int32 with row stride ldo,
// out(m, n) = sum_k acode(m,k) * wcode(n,k) = sum_i,j 2^(i+j) popcount(a_i AND w_j).
void plane_gemm(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                std::int64_t M, std::int64_t N, std::int64_t K, std::int32_t* out,
                std::int64_t ldo);
// out: (M, N) float with row stride ldo, dot * scale[n] + bias[n].
void plane_gemm_affine(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                       std::int64_t M, std::int64_t N, std::int64_t K, const float* scale,
                       const float* bias, float* out, std::int64_t ldo);
// in: (N, H, W, abits, words(C)), w: (Cout, KH, KW, wbits, words(C)) -> out (N, OH, OW, Cout)
// int32 code dots over in-bounds taps. (The sum of the input codes over the in-bounds taps, which
// an affine weight map w = a*code + b needs, is the dot with an all-ones 1-plane weight.)
void plane_conv2d(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                  const BConvShape& s, std::int32_t* out);
// out: (N, OH, OW, Cout) float, dot * scale[c] + bias[c].
void plane_conv2d_affine(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                         const BConvShape& s, const float* scale, const float* bias, float* out);

// ---------------------------------------------------------------------------------------------
// Binary max-pool: max of +/-1 values = AND of the bits (bit 1 = -1); padded taps are ignored.

struct BPoolShape {
  std::int64_t batch = 1, in_h = 0, in_w = 0, channels = 0;  // (N, H, W, C) packed along C
  std::int64_t kernel = 2, stride = 2, pad = 0;              // requires 2*pad <= kernel
  std::int64_t out_h() const { return (in_h + 2 * pad - kernel) / stride + 1; }
  std::int64_t out_w() const { return (in_w + 2 * pad - kernel) / stride + 1; }
};

// in: (N, H, W, words(C)) -> out: (N, OH, OW, words(C)).
void bmaxpool2d(const std::uint64_t* in, const BPoolShape& s, std::uint64_t* out);

// ---------------------------------------------------------------------------------------------
// Variant selection (select.cpp)

enum class KernelPath { reference, popcnt, avx2, avx512 };

using PackSignsFn = decltype(&pack_signs);
using PackThresholdsFn = decltype(&pack_thresholds);
using PackPlanesFn = decltype(&pack_planes);
using BgemmFn = decltype(&bgemm);
using BgemmAffineFn = decltype(&bgemm_affine);
using BgemmThresholdFn = decltype(&bgemm_threshold);
using Bconv2dFn = decltype(&bconv2d);
using Bconv2dAffineFn = decltype(&bconv2d_affine);
using Bconv2dThresholdFn = decltype(&bconv2d_threshold);
using PlaneGemmFn = decltype(&plane_gemm);
using PlaneGemmAffineFn = decltype(&plane_gemm_affine);
using PlaneConv2dFn = decltype(&plane_conv2d);
using PlaneConv2dAffineFn = decltype(&plane_conv2d_affine);
using Bmaxpool2dFn = decltype(&bmaxpool2d);

// One function pointer per kernel, all of one path.
struct KernelTable {
  KernelPath path;
  PackSignsFn pack_signs;
  PackThresholdsFn pack_thresholds;
  PackPlanesFn pack_planes;
  BgemmFn bgemm;
  BgemmAffineFn bgemm_affine;
  BgemmThresholdFn bgemm_threshold;
  Bconv2dFn bconv2d;
  Bconv2dAffineFn bconv2d_affine;
  Bconv2dThresholdFn bconv2d_threshold;
  PlaneGemmFn plane_gemm;
  PlaneGemmAffineFn plane_gemm_affine;
  PlaneConv2dFn plane_conv2d;
  PlaneConv2dAffineFn plane_conv2d_affine;
  Bmaxpool2dFn bmaxpool2d;
};

// "reference", "popcnt", "avx2", "avx512".
const char* kernel_path_name(KernelPath path);
// Whether this CPU runs the path (reference: always).
bool kernel_path_supported(KernelPath path);
// The kernels of one path; throws std::runtime_error when the CPU lacks its instructions.
const KernelTable& kernel_table(KernelPath path);
// The path the free functions use, chosen once at first use: LOWBIT_XNOR_KERNELS if set (an
// unknown or unsupported value throws std::runtime_error naming the choices), else the best the
// CPU supports (avx512 > avx2 > popcnt > reference).
KernelPath xnor_kernel_path();
inline const char* xnor_kernel_path_name() { return kernel_path_name(xnor_kernel_path()); }
inline const KernelTable& kernels() { return kernel_table(xnor_kernel_path()); }

}  // namespace lowbit::quant::xnor
