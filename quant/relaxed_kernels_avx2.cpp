// forward_avx2: forward_scalar's float operations, in the same order, on 8 elements per step
// (compiled with -mavx2 -ffp-contract=off; see relaxed_kernels.hpp). Windows and the 64-bit hash
// of the Gumbel noise stay scalar per lane; everything transcendental runs in the lanes.

#include "quant/relaxed_kernels.hpp"

#include <immintrin.h>

#include <algorithm>
#include <limits>

namespace lowbit::quant::rq_kernels {

namespace {

inline __m256 set(float v) { return _mm256_set1_ps(v); }

inline __m256 vexp(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, set(-87.0f)), set(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, set(kLog2e)), _MM_FROUND_CUR_DIRECTION);
  const __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, set(kLn2Hi))),
                                 _mm256_mul_ps(n, set(kLn2Lo)));
  __m256 p = set(1.0f / 720);
  p = _mm256_add_ps(set(1.0f / 120), _mm256_mul_ps(r, p));
  p = _mm256_add_ps(set(1.0f / 24), _mm256_mul_ps(r, p));
  p = _mm256_add_ps(set(1.0f / 6), _mm256_mul_ps(r, p));
  p = _mm256_add_ps(set(0.5f), _mm256_mul_ps(r, p));
  p = _mm256_add_ps(set(1.0f), _mm256_mul_ps(r, p));
  p = _mm256_add_ps(set(1.0f), _mm256_mul_ps(r, p));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

inline __m256 vlog(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                                 _mm256_set1_epi32(0x3f800000)));
  const __m256 big = _mm256_cmp_ps(m, set(kSqrt2), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, set(0.5f)), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  // big lanes are -1: ++e
  const __m256 s = _mm256_div_ps(_mm256_sub_ps(m, set(1.0f)), _mm256_add_ps(m, set(1.0f)));
  const __m256 s2 = _mm256_mul_ps(s, s);
  __m256 q = set(1.0f / 9);
  q = _mm256_add_ps(set(1.0f / 7), _mm256_mul_ps(s2, q));
  q = _mm256_add_ps(set(1.0f / 5), _mm256_mul_ps(s2, q));
  q = _mm256_add_ps(set(1.0f / 3), _mm256_mul_ps(s2, q));
  q = _mm256_add_ps(set(1.0f), _mm256_mul_ps(s2, q));
  const __m256 series = _mm256_mul_ps(_mm256_mul_ps(set(2.0f), s), q);
  return _mm256_add_ps(series, _mm256_mul_ps(_mm256_cvtepi32_ps(e), set(kLn2)));
}

inline __m256 negate(__m256 x) { return _mm256_xor_ps(x, set(-0.0f)); }

inline __m256 vlog1p(__m256 y) {
  __m256 small = set(1.0f / 3);
  small = _mm256_sub_ps(set(0.5f), _mm256_mul_ps(y, small));
  small = _mm256_sub_ps(set(1.0f), _mm256_mul_ps(y, small));
  small = _mm256_mul_ps(y, small);
  const __m256 large = vlog(_mm256_add_ps(set(1.0f), y));
  return _mm256_blendv_ps(large, small, _mm256_cmp_ps(y, set(1e-3f), _CMP_LT_OQ));
}

inline __m256 vlog_sigmoid(__m256 t) {
  const __m256 l = vlog1p(vexp(_mm256_or_ps(t, set(-0.0f))));  // e^-|t|
  return _mm256_blendv_ps(_mm256_sub_ps(t, l), negate(l), _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_GE_OQ));
}

inline __m256 vgumbel(__m256i bits23) {
  const __m256 u = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(bits23), set(0.5f)), set(0x1.0p-23f));
  return negate(vlog(negate(vlog(u))));
}

}  // namespace

bool forward_avx2(const ForwardArgs& a, std::int64_t begin, std::int64_t end) {
  const UniformGrid& grid = a.grid;
  const std::int64_t levels = grid.levels(), mw = a.max_window;
  constexpr int kMaxWindow = 64;  // larger windows (wide delta, fine grids) take the scalar path
  if (mw > kMaxWindow) return forward_scalar(a, begin, end);
  const __m256 offset = set(grid.offset), alpha = set(a.alpha), sigma = set(a.sigma);
  const __m256 log1m_exp_r = set(a.log1m_exp_r), inv_lambda = set(a.inv_lambda);
  bool finite = true;
  std::int64_t e0 = begin;
  for (; e0 + 8 <= end; e0 += 8) {
    const __m256 x = _mm256_loadu_ps(a.x + e0);
    // x - x is 0 exactly when x is finite.
    if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(x, x), _mm256_setzero_ps(), _CMP_EQ_OQ)) != 0xff) {
      finite = forward_scalar(a, e0, e0 + 8) && finite;
      continue;
    }
    alignas(32) std::int32_t lo[8], count[8];
    std::int32_t most = 1;
    for (int k = 0; k < 8; ++k) {
      const Window w = element_window(a.x[e0 + k], a);
      a.windows[2 * (e0 + k)] = w.lo;
      a.windows[2 * (e0 + k) + 1] = w.hi;
      lo[k] = static_cast<std::int32_t>(w.lo);
      count[k] = static_cast<std::int32_t>(w.hi - w.lo + 1);
      most = std::max(most, count[k]);
    }
    const __m256i lo_v = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
    const __m256i count_v = _mm256_load_si256(reinterpret_cast<const __m256i*>(count));

    __m256 z[kMaxWindow];
    __m256 top = set(-std::numeric_limits<float>::infinity());
    __m256i arg = _mm256_setzero_si256();
    __m256 prev_lower = _mm256_setzero_ps();
    for (std::int32_t j = 0; j < most; ++j) {
      const __m256 active = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count_v, _mm256_set1_epi32(j)));
      const __m256 edge = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count_v, _mm256_set1_epi32(j + 1)));
      const __m256 code = _mm256_cvtepi32_ps(_mm256_add_epi32(lo_v, _mm256_set1_epi32(j)));
      // window_log_probs
      const __m256 u = _mm256_div_ps(
          _mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(code, offset), set(0.5f)), alpha), x),
          sigma);
      const __m256 ls = vlog_sigmoid(u);
      __m256 v = j > 0 ? prev_lower : _mm256_setzero_ps();
      __m256 with_edge = _mm256_add_ps(v, ls);
      if (j > 0) with_edge = _mm256_add_ps(with_edge, log1m_exp_r);
      v = _mm256_blendv_ps(v, with_edge, edge);
      prev_lower = _mm256_sub_ps(ls, u);
      // + Gumbel noise, / lambda
      alignas(32) std::int32_t bits[8];
      for (int k = 0; k < 8; ++k) {
        const auto counter = static_cast<std::uint64_t>((e0 + k) * levels + (lo[k] + j - grid.lo));
        bits[k] = j < count[k] ? static_cast<std::int32_t>(gumbel_bits(a.noise_key, counter)) : 0;
      }
      const __m256 zj = _mm256_mul_ps(
          _mm256_add_ps(v, vgumbel(_mm256_load_si256(reinterpret_cast<const __m256i*>(bits)))), inv_lambda);
      z[j] = zj;
      const __m256 better = _mm256_and_ps(_mm256_cmp_ps(zj, top, _CMP_GT_OQ), active);
      top = _mm256_blendv_ps(top, zj, better);
      arg = _mm256_castps_si256(
          _mm256_blendv_ps(_mm256_castsi256_ps(arg), _mm256_castsi256_ps(_mm256_set1_epi32(j)), better));
    }
    // softmax over the active bins (inactive lanes hold 0 and add nothing)
    __m256 sum = _mm256_setzero_ps();
    for (std::int32_t j = 0; j < most; ++j) {
      const __m256 active = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count_v, _mm256_set1_epi32(j)));
      z[j] = _mm256_and_ps(vexp(_mm256_sub_ps(z[j], top)), active);
      sum = _mm256_add_ps(sum, z[j]);
    }
    __m256 level_sum = _mm256_setzero_ps();
    for (std::int32_t j = 0; j < most; ++j) {
      const __m256 code = _mm256_cvtepi32_ps(_mm256_add_epi32(lo_v, _mm256_set1_epi32(j)));
      z[j] = _mm256_div_ps(z[j], sum);
      level_sum = _mm256_add_ps(level_sum, _mm256_mul_ps(z[j], _mm256_add_ps(code, offset)));
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, z[j]);
      for (int k = 0; k < 8; ++k) {
        if (j < count[k]) a.z[(e0 + k) * mw + j] = lanes[k];
      }
    }
    const __m256 y =
        a.straight_through
            ? _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(lo_v, arg)), offset), alpha)
            : _mm256_mul_ps(level_sum, alpha);
    _mm256_storeu_ps(a.y + e0, y);
  }
  if (e0 < end) finite = forward_scalar(a, e0, end) && finite;
  return finite;
}

}  // namespace lowbit::quant::rq_kernels
