// The AVX2 instruction set for the GEMM driver and AVX2 sign packing (compiled with -mavx2
// -mpopcnt). No inline function or template here has external linkage (kernels_detail.hpp).
//
// Popcount: the nibble lookup (Mula, Kurz, Lemire 2018, "Faster population counts using AVX2
// instructions"): vpshufb maps each 4-bit nibble to its popcount; byte counts accumulate in
// 8-bit lanes for up to 31 steps (8 per step), then vpsadbw sums them into 64-bit lanes.
//
// Layout, vectorized across output columns like a float GEMM micro-kernel: the W panel holds
// groups of 8 columns, word k of the even columns (0, 2, 4, 6) side by side in one 256-bit vector
// and of the odd ones in another, so each 64-bit lane accumulates one column's count and no
// horizontal sum is needed (the two count vectors interleave into 8 int32 in column order with
// one shift and one or); an A word is broadcast to all four lanes. Operands are stored
// nibble-split, each word as its low nibbles (w & 0x0f..) and its high nibbles
// ((w >> 4) & 0x0f..), because op(a, w)'s nibbles are op of the nibbles for op = xor / and: a
// popcount step is then op, op, 2 vpshufb and 2 adds, with no shift or mask in the inner loop.
//   A panel: row r, word k at (r*kw + k)*2: {lo, hi}.
//   W panel: group g, word k at (g*kw + k)*16: {lo even, lo odd, hi even, hi odd} (4 words each).

#include <immintrin.h>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor::detail {

namespace {

constexpr std::uint64_t kLowNibbles = 0x0f0f0f0f0f0f0f0full;
constexpr i64 kMaxSteps = 31;  // byte counters take 31 steps of at most 8

void pack_a(const std::uint64_t* a, i64 lda, i64 rows, i64 kw, std::uint64_t* panel) {
  for (i64 r = 0; r < rows; ++r) {
    for (i64 k = 0; k < kw; ++k) {
      const std::uint64_t x = a[r * lda + k];
      panel[(r * kw + k) * 2] = x & kLowNibbles;
      panel[(r * kw + k) * 2 + 1] = (x >> 4) & kLowNibbles;
    }
  }
}

void pack_w(const std::uint64_t* w, i64 ldw, i64 cols, i64 kw, std::uint64_t* panel) {
  const __m256i low = _mm256_set1_epi64x(static_cast<long long>(kLowNibbles));
  for (i64 g = 0; g * 8 < cols; ++g) {
    // The group's 8 columns, missing ones as zero rows; even columns first, then odd.
    const std::uint64_t* src[8];
    for (i64 j = 0; j < 8; ++j) {
      const i64 col = g * 8 + (j % 4) * 2 + j / 4;
      src[j] = col < cols ? w + col * ldw : nullptr;
    }
    std::uint64_t* p = panel + g * kw * 16;
    for (i64 k = 0; k < kw; ++k, p += 16) {
      for (int v = 0; v < 2; ++v) {
        const std::uint64_t* const* s = src + v * 4;
        const __m256i x = _mm256_setr_epi64x(
            s[0] ? static_cast<long long>(s[0][k]) : 0, s[1] ? static_cast<long long>(s[1][k]) : 0,
            s[2] ? static_cast<long long>(s[2][k]) : 0, s[3] ? static_cast<long long>(s[3][k]) : 0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + v * 4), _mm256_and_si256(x, low));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 8 + v * 4),
                            _mm256_and_si256(_mm256_srli_epi64(x, 4), low));
      }
    }
  }
}

// 8 channels per compare: -1 where dot < lo or dot > hi; movemask gathers the 8 sign bits.
void threshold_row(const std::int32_t* dots, i64 n, const std::int32_t* lo, const std::int32_t* hi,
                   std::uint64_t* out) {
  for (i64 c0 = 0; c0 < n; c0 += 64) {
    const i64 cn = n - c0 < 64 ? n - c0 : 64;
    std::uint64_t word = 0;
    i64 b = 0;
    for (; b + 8 <= cn; b += 8) {
      const i64 c = c0 + b;
      const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dots + c));
      const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + c));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + c));
      const __m256i minus = _mm256_or_si256(_mm256_cmpgt_epi32(l, d), _mm256_cmpgt_epi32(d, h));
      const auto bits = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(minus)));
      word |= static_cast<std::uint64_t>(bits) << b;
    }
    for (; b < cn; ++b) {
      const std::int32_t d = dots[c0 + b];
      word |= static_cast<std::uint64_t>((d < lo[c0 + b]) | (d > hi[c0 + b])) << b;
    }
    out[c0 / 64] = word;
  }
}

template <bool kXor>
__m256i apply(__m256i a, __m256i w) {
  return kXor ? _mm256_xor_si256(a, w) : _mm256_and_si256(a, w);
}

#define LOWBIT_XNOR_INLINE __attribute__((always_inline)) inline

// b(r, v) += the byte-wise popcounts of op(a_r, w) over words k0..k1-1 (at most kMaxSteps).
template <int MR, bool kXor>
LOWBIT_XNOR_INLINE void accumulate(const std::uint64_t* a, const std::uint64_t* w, i64 kw, i64 k0,
                                   i64 k1, __m256i (&b)[MR][2]) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  for (i64 k = k0; k < k1; ++k) {
    const __m256i* wk = reinterpret_cast<const __m256i*>(w + k * 16);
    const __m256i wl0 = _mm256_loadu_si256(wk), wl1 = _mm256_loadu_si256(wk + 1);
    const __m256i wh0 = _mm256_loadu_si256(wk + 2), wh1 = _mm256_loadu_si256(wk + 3);
    for (int r = 0; r < MR; ++r) {
      const std::uint64_t* ar = a + (r * kw + k) * 2;
      const __m256i al = _mm256_set1_epi64x(static_cast<long long>(ar[0]));
      const __m256i ah = _mm256_set1_epi64x(static_cast<long long>(ar[1]));
      b[r][0] = _mm256_add_epi8(b[r][0], _mm256_shuffle_epi8(lut, apply<kXor>(al, wl0)));
      b[r][1] = _mm256_add_epi8(b[r][1], _mm256_shuffle_epi8(lut, apply<kXor>(al, wl1)));
      b[r][0] = _mm256_add_epi8(b[r][0], _mm256_shuffle_epi8(lut, apply<kXor>(ah, wh0)));
      b[r][1] = _mm256_add_epi8(b[r][1], _mm256_shuffle_epi8(lut, apply<kXor>(ah, wh1)));
    }
  }
}

// Stores c(r, 0..7) from the 64-bit counts of the even (q[r][0]) and odd (q[r][1]) columns,
// only the first `cols`: offset - 2*popcount for xor, popcount for and.
template <int MR, bool kXor>
LOWBIT_XNOR_INLINE void store(const __m256i (&q)[MR][2], std::int32_t offset, std::int32_t* c,
                              i64 ldc, i64 cols) {
  const __m256i off = _mm256_set1_epi32(offset);
  for (int r = 0; r < MR; ++r) {
    // lane i: even column 2i in the low 32 bits, odd column 2i+1 in the high: column order.
    __m256i p = _mm256_or_si256(q[r][0], _mm256_slli_epi64(q[r][1], 32));
    if (kXor) p = _mm256_sub_epi32(off, _mm256_slli_epi32(p, 1));
    std::int32_t* o = c + r * ldc;
    if (cols >= 8) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), p);
    } else {
      alignas(32) std::int32_t tmp[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), p);
      for (i64 j = 0; j < cols; ++j) o[j] = tmp[j];
    }
  }
}

// One MR x 8 tile with kw <= kMaxSteps: the byte counters are summed once at the end.
template <int MR, bool kXor>
LOWBIT_XNOR_INLINE void tile_short(const std::uint64_t* a, const std::uint64_t* w, i64 kw,
                                   std::int32_t offset, std::int32_t* c, i64 ldc, i64 cols) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i b[MR][2];
  for (int r = 0; r < MR; ++r) b[r][0] = b[r][1] = zero;
  accumulate<MR, kXor>(a, w, kw, 0, kw, b);
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < 2; ++v) b[r][v] = _mm256_sad_epu8(b[r][v], zero);
  }
  store<MR, kXor>(b, offset, c, ldc, cols);
}

// One MR x 8 tile of any kw: byte counters summed into 64-bit ones every kMaxSteps words.
template <int MR, bool kXor>
LOWBIT_XNOR_INLINE void tile_long(const std::uint64_t* a, const std::uint64_t* w, i64 kw,
                                  std::int32_t offset, std::int32_t* c, i64 ldc, i64 cols) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i q[MR][2];
  for (int r = 0; r < MR; ++r) q[r][0] = q[r][1] = zero;
  for (i64 k0 = 0; k0 < kw; k0 += kMaxSteps) {
    __m256i b[MR][2];
    for (int r = 0; r < MR; ++r) b[r][0] = b[r][1] = zero;
    accumulate<MR, kXor>(a, w, kw, k0, k0 + kMaxSteps < kw ? k0 + kMaxSteps : kw, b);
    for (int r = 0; r < MR; ++r) {
      for (int v = 0; v < 2; ++v)
        q[r][v] = _mm256_add_epi64(q[r][v], _mm256_sad_epu8(b[r][v], zero));
    }
  }
  store<MR, kXor>(q, offset, c, ldc, cols);
}

constexpr int kMR = 3;  // rows per tile (3 x 8 tiles measured best of 2, 3, 4 rows)

template <int MR, bool kXor>
void row_block(const std::uint64_t* a, const std::uint64_t* w, i64 cols, i64 kw,
               std::int32_t offset, std::int32_t* c, i64 ldc) {
  if (kw <= kMaxSteps) {
    for (i64 j0 = 0; j0 < cols; j0 += 8) {
      tile_short<MR, kXor>(a, w + j0 * kw * 2, kw, offset, c + j0, ldc, cols - j0);
    }
  } else {
    for (i64 j0 = 0; j0 < cols; j0 += 8) {
      tile_long<MR, kXor>(a, w + j0 * kw * 2, kw, offset, c + j0, ldc, cols - j0);
    }
  }
}

template <bool kXor>
void popcounts_op(const std::uint64_t* a, i64 rows, const std::uint64_t* w, i64 cols, i64 kw,
                  std::int32_t offset, std::int32_t* c, i64 ldc) {
  i64 r0 = 0;
  for (; r0 + kMR <= rows; r0 += kMR) {
    row_block<kMR, kXor>(a + r0 * kw * 2, w, cols, kw, offset, c + r0 * ldc, ldc);
  }
  const std::uint64_t* ar = a + r0 * kw * 2;
  std::int32_t* cr = c + r0 * ldc;
  switch (rows - r0) {
    case 3:
      row_block<3, kXor>(ar, w, cols, kw, offset, cr, ldc);
      break;
    case 2:
      row_block<2, kXor>(ar, w, cols, kw, offset, cr, ldc);
      break;
    case 1:
      row_block<1, kXor>(ar, w, cols, kw, offset, cr, ldc);
      break;
    default:
      break;
  }
}

void popcounts(const std::uint64_t* a, i64 rows, const std::uint64_t* w, i64 cols, i64 kw, BitOp op,
               std::int32_t offset, std::int32_t* c, i64 ldc, bool /*stream: plain stores*/) {
  if (op == BitOp::xor_op) {
    popcounts_op<true>(a, rows, w, cols, kw, offset, c, ldc);
  } else {
    popcounts_op<false>(a, rows, w, cols, kw, offset, c, ldc);
  }
}

}  // namespace

const GemmIsa kAvx2Isa{
    "avx2", kMR, 2, 8, 2, pack_a, pack_w, popcounts, row_popcounts_popcnt, threshold_row, nullptr};

// 8 floats -> 8 bits by an ordered x < 0 compare (-0.0 and NaN give 0, unlike the sign bit).
void pack_signs_avx2(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out) {
  const i64 words = (k + 63) / 64;
  const __m256 zero = _mm256_setzero_ps();
#pragma omp parallel for schedule(static) if (rows * k >= (1 << 18))
  for (i64 r = 0; r < rows; ++r) {
    const float* xr = x + r * ld;
    for (i64 i = 0; i < words; ++i) {
      const i64 c0 = i * 64, cn = k - c0 < 64 ? k - c0 : 64;
      std::uint64_t word = 0;
      i64 b = 0;
      for (; b + 8 <= cn; b += 8) {
        const __m256 lt = _mm256_cmp_ps(_mm256_loadu_ps(xr + c0 + b), zero, _CMP_LT_OQ);
        word |= static_cast<std::uint64_t>(_mm256_movemask_ps(lt)) << b;
      }
      for (; b < cn; ++b) word |= static_cast<std::uint64_t>(xr[c0 + b] < 0.0f) << b;
      out[r * words + i] = word;
    }
  }
}

}  // namespace lowbit::quant::xnor::detail
