#pragma once
// The forward kernel of rq_sample (quant/relaxed.hpp) and the float math it shares between its
// scalar reference and its AVX2 twin. Internal to quant/: relaxed.cpp and the tests use it.
//
// The two kernels perform the same float operations in the same order (both files are compiled
// with -ffp-contract=off, so no multiply-add is fused), so they agree bit for bit: the sampled
// levels, and with them training, do not depend on which one the CPU runs.
// tests/quant/test_relaxed.cpp checks that on awkward sizes.

#include "quant/grid_reg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace lowbit::quant::rq_kernels {

// The inline helpers have internal linkage: relaxed_kernels_avx2.cpp compiles them with -mavx2,
// and an ODR-merged copy of that build must not reach code that runs on any x86-64.
namespace {

// Inline float exp and log for the forward's inner loop (libm calls dominated it: ~18 per element).
// Relative error ~2e-7 (float rounding); deterministic; no NaN/inf handling beyond clamping.
inline constexpr float kLog2e = 1.44269504f;
inline constexpr float kLn2Hi = 0.693145752f, kLn2Lo = 1.42860677e-6f;  // Cody-Waite split of ln 2
inline constexpr float kLn2 = 0.693147181f;
inline constexpr float kSqrt2 = 1.41421356f;

inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::nearbyint(x * kLog2e);
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  // e^r on |r| <= ln2 / 2: Taylor to r^6 (error < 2e-8).
  const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  const auto bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// log x for a positive normal float: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, series to s^9 (error < 3e-9).
inline float fast_log(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  int e = static_cast<int>(bits >> 23) - 127;
  bits = (bits & 0x007fffffu) | 0x3f800000u;  // m in [1, 2)
  float m;
  std::memcpy(&m, &bits, sizeof(m));
  if (m > kSqrt2) {
    m *= 0.5f;
    ++e;
  }
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float series = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  return series + static_cast<float>(e) * kLn2;
}

// log(1 + y) for y in [0, 1].
inline float fast_log1p(float y) {
  return y < 1e-3f ? y * (1.0f - y * (0.5f - y * (1.0f / 3))) : fast_log(1.0f + y);
}

// log S(t) = -log(1 + e^-t), stable for either sign (e^-|t| is the same value both ways).
template <typename T>
T log_sigmoid(T t) {
  if constexpr (std::is_same_v<T, float>) {
    const float l = fast_log1p(fast_exp(-std::fabs(t)));
    return t >= 0.0f ? -l : t - l;
  } else {
    return t >= T(0) ? -std::log1p(std::exp(-t)) : t - std::log1p(std::exp(t));
  }
}

inline float sigmoid(float t) {
  const float e = fast_exp(-std::fabs(t));
  return t >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

// Gumbel(0, 1) from a counter-based hash of (key, element, code): independent of the order in
// which elements are processed (threads) and of the window.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// The 23 bits gumbel_from_bits uses of the hash of (key, counter).
inline std::uint32_t gumbel_bits(std::uint64_t key, std::uint64_t counter) {
  return static_cast<std::uint32_t>(mix64(key + 0x9e3779b97f4a7c15ULL * (counter + 1)) >> 41);
}
// u on the 2^-23 grid, offset by half a cell: every u is a float in (0, 1), 1 - 2^-24 at most, so
// G is in about [-2.8, 16.6]; the tails cut off have probability ~6e-8.
inline float gumbel_of_bits23(std::uint32_t bits23) {
  const float u = (static_cast<float>(bits23) + 0.5f) * 0x1.0p-23f;
  return -fast_log(-fast_log(u));
}

struct Window {
  std::int64_t lo, hi;
};

// The codes whose bins [(c + o - 1/2) alpha, (c + o + 1/2) alpha] overlap [x - delta, x + delta],
// clipped to the grid (at least one: the bin holding x, or the end bin x lies beyond).
inline Window window_of(double x, double alpha, double delta, const UniformGrid& g) {
  const double lo = std::ceil((x - delta) / alpha - g.offset - 0.5);
  const double hi = std::floor((x + delta) / alpha - g.offset + 0.5);
  const auto glo = static_cast<double>(g.lo), ghi = static_cast<double>(g.hi);
  return {static_cast<std::int64_t>(std::clamp(lo, glo, ghi)),
          static_cast<std::int64_t>(std::clamp(hi, glo, ghi))};
}

// The scaled upper edge u_c = ((c + o + 1/2) alpha - x) / sigma of bin c; its lower edge is
// l_c = u_c - alpha / sigma = u_(c-1).
template <typename T>
T upper_edge(std::int64_t c, T offset, T x, T alpha, T sigma) {
  return ((static_cast<T>(c) + offset + T(0.5)) * alpha - x) / sigma;
}

// log pi over the window (see relaxed.hpp): logp[j] for code lo + j. log1m_exp_r = log(1 - e^-r),
// r = alpha / sigma, is the same for every interior bin. Bin lo + j has the upper edge u_j
// (j < m - 1) and the lower edge u_(j-1) (j > 0); a one-bin window gets log pi = 0.
template <typename T>
void window_log_probs(T x, T alpha, T sigma, T offset, Window w, T log1m_exp_r, T* logp) {
  const std::int64_t m = w.hi - w.lo + 1;
  T prev_lower = T(0);  // log S(-l) of the bin's lower edge
  for (std::int64_t j = 0; j < m; ++j) {
    T v = j > 0 ? prev_lower : T(0);
    if (j + 1 < m) {
      const T u = upper_edge(w.lo + j, offset, x, alpha, sigma);
      const T ls = log_sigmoid(u);
      v += ls;
      if (j > 0) v += log1m_exp_r;
      prev_lower = ls - u;  // log S(-u) = log S(u) - u: the next bin's lower-edge term
    }
    logp[j] = v;
  }
}

}  // namespace

// Everything the forward needs; one element e writes y[e], windows[2e..2e+1] (lo, hi) and the
// relaxed z over its window, z[e * max_window + j] for j < hi - lo + 1.
struct ForwardArgs {
  const float* x = nullptr;
  float alpha = 0.0f, sigma = 0.0f;
  double delta = 0.0;              // window half-width
  std::int64_t max_window = 1;     // bins any window can hold (z's row length)
  float log1m_exp_r = 0.0f;        // log(1 - e^-(alpha / sigma))
  float inv_lambda = 1.0f;         // 1 / temperature
  UniformGrid grid;
  bool straight_through = false;
  std::uint64_t noise_key = 0;
  float* y = nullptr;
  std::int64_t* windows = nullptr;
  float* z = nullptr;
};

namespace {
// Element x's window, at most max_window bins (floor(2 delta / alpha) + 2 bounds it up to rounding).
inline Window element_window(float x, const ForwardArgs& a) {
  Window w = window_of(x, a.alpha, a.delta, a.grid);
  w.hi = std::min(w.hi, w.lo + a.max_window - 1);
  return w;
}
}  // namespace

// Elements [begin, end). Returns false when some x is NaN or inf (those are skipped).
bool forward_scalar(const ForwardArgs& a, std::int64_t begin, std::int64_t end);
// The same, 8 elements per AVX2 step (the remainder and any group holding a non-finite x go
// through forward_scalar). Only call it when avx2_supported().
bool forward_avx2(const ForwardArgs& a, std::int64_t begin, std::int64_t end);
// The CPU has AVX2, and LOWBIT_RQ_KERNEL is not "scalar" (for A/B timing).
bool avx2_supported();

}  // namespace lowbit::quant::rq_kernels
