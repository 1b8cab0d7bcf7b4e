// The AVX-512 VPOPCNTDQ instruction set for the GEMM driver and AVX-512 sign packing (compiled
// with -mavx512f -mavx512vl -mavx512bw -mavx512vpopcntdq -mpopcnt). No inline function or
// template here has external linkage (kernels_detail.hpp).
//
// Popcount: vpopcntq counts the eight 64-bit lanes of a zmm register in one instruction, so a
// popcount step is op, vpopcntq, vpaddq: three instructions for 512 binary multiply-accumulates,
// where the AVX2 nibble lookup needs six per 256 (kernels_avx2.cpp). The 64-bit counters never
// overflow, so no periodic widening either.
//
// Layout, vectorized across output columns like a float GEMM micro-kernel: the W panel holds
// groups of 8 columns, word k of the group's 8 columns side by side in one 512-bit vector (group
// g, word k at (g*kw + k)*8), so each lane accumulates one column and no horizontal sum is
// needed; an A word is broadcast to all eight lanes. A rows stay plain. A tile is MR rows by 16
// columns (two groups, 2*MR accumulators), with an MR x 8 tile for an odd last group.

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_* as the masked-off source and then warn
// about it (-Wmaybe-uninitialized, an error under -Werror); the values are never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor::detail {

namespace {

constexpr i64 kGroup = 8;  // columns per panel group (one zmm of 64-bit lanes)
constexpr int kMR = 6;     // rows per tile

void pack_w(const std::uint64_t* w, i64 ldw, i64 cols, i64 kw, std::uint64_t* panel) {
  pack_w_interleaved(w, ldw, cols, kw, kGroup, panel);
}

// 16 channels per compare: bit set where dot < lo or dot > hi.
void threshold_row(const std::int32_t* dots, i64 n, const std::int32_t* lo, const std::int32_t* hi,
                   std::uint64_t* out) {
  for (i64 c0 = 0; c0 < n; c0 += 64) {
    const i64 cn = n - c0 < 64 ? n - c0 : 64;
    std::uint64_t word = 0;
    for (i64 b = 0; b < cn; b += 16) {
      const i64 c = c0 + b, len = cn - b < 16 ? cn - b : 16;
      const auto valid = static_cast<__mmask16>((1u << len) - 1u);
      const __m512i d = _mm512_maskz_loadu_epi32(valid, dots + c);
      const __m512i l = _mm512_maskz_loadu_epi32(valid, lo + c);
      const __m512i h = _mm512_maskz_loadu_epi32(valid, hi + c);
      const __mmask16 minus = static_cast<__mmask16>(
          (_mm512_cmplt_epi32_mask(d, l) | _mm512_cmpgt_epi32_mask(d, h)) & valid);
      word |= static_cast<std::uint64_t>(minus) << b;
    }
    out[c0 / 64] = word;
  }
}

#define LOWBIT_XNOR_INLINE __attribute__((always_inline)) inline

template <bool kXor>
LOWBIT_XNOR_INLINE __m512i apply(__m512i a, __m512i w) {
  return kXor ? _mm512_xor_si512(a, w) : _mm512_and_si512(a, w);
}

// acc(r, v) = the popcounts of op(a_r, w) for MR rows and NV groups of 8 columns starting at w
// (group v at v*kw*8 words).
template <int MR, int NV, bool kXor>
LOWBIT_XNOR_INLINE void accumulate(const std::uint64_t* a, const std::uint64_t* w, i64 kw,
                                   __m512i (&acc)[MR][NV]) {
  for (int r = 0; r < MR; ++r) {  // word 0 sets the counters (kw >= 1)
    const __m512i av = _mm512_set1_epi64(static_cast<long long>(a[r * kw]));
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = _mm512_popcnt_epi64(apply<kXor>(av, _mm512_loadu_si512(w + v * kw * kGroup)));
    }
  }
  for (i64 k = 1; k < kw; ++k) {
    __m512i wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = _mm512_loadu_si512(w + (v * kw + k) * kGroup);
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi64(static_cast<long long>(a[r * kw + k]));
      for (int v = 0; v < NV; ++v) {
        acc[r][v] = _mm512_add_epi64(acc[r][v], _mm512_popcnt_epi64(apply<kXor>(av, wv[v])));
      }
    }
  }
}

// The lanes of group v that are real columns, when `cols` columns remain from the tile's first.
LOWBIT_XNOR_INLINE __mmask8 valid_lanes(i64 cols, int v) {
  const i64 left = cols - v * kGroup;
  return left >= kGroup ? __mmask8{0xff}
                        : static_cast<__mmask8>(left <= 0 ? 0u : (1u << left) - 1u);
}

// c(r, 0..NV*8-1) for MR rows, only the first `cols` stored: offset - 2*popcount for xor,
// popcount for and.
template <int MR, int NV, bool kXor>
LOWBIT_XNOR_INLINE void tile(const std::uint64_t* a, const std::uint64_t* w, i64 kw,
                             std::int32_t offset, std::int32_t* c, i64 ldc, i64 cols, bool stream) {
  __m512i acc[MR][NV];
  accumulate<MR, NV, kXor>(a, w, kw, acc);
  if (NV == 2 && stream && cols >= 2 * kGroup && (reinterpret_cast<std::uintptr_t>(c) & 63) == 0 &&
      (ldc & 15) == 0) {
    // 16 columns of a row are one 64-byte line: the low halves of both count vectors in column
    // order, stored without reading the line first.
    const __m512i low_halves =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i off16 = _mm512_set1_epi32(offset);
    for (int r = 0; r < MR; ++r) {
      __m512i p = _mm512_permutex2var_epi32(acc[r][0], low_halves, acc[r][NV - 1]);
      if (kXor) p = _mm512_sub_epi32(off16, _mm512_slli_epi32(p, 1));
      _mm512_stream_si512(reinterpret_cast<__m512i*>(c + r * ldc), p);
    }
    return;
  }
  const __m256i off = _mm256_set1_epi32(offset);
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) {
      const __mmask8 valid = valid_lanes(cols, v);
      if (valid == 0) break;
      __m256i p = _mm512_cvtepi64_epi32(acc[r][v]);
      if (kXor) p = _mm256_sub_epi32(off, _mm256_slli_epi32(p, 1));
      std::int32_t* o = c + r * ldc + v * kGroup;
      if (valid == 0xff) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), p);
      } else {
        _mm256_mask_storeu_epi32(o, valid, p);
      }
    }
  }
}

// The threshold bits of MR rows and NV groups (popcounts_threshold in kernels_detail.hpp): one
// byte per group, row r's at byte `bits + r*ldb*8`, bits of columns past `cols` 0.
template <int MR, int NV>
LOWBIT_XNOR_INLINE void tile_threshold(const std::uint64_t* a, const std::uint64_t* w, i64 kw,
                                       const std::int64_t* pxor, const std::int64_t* plim,
                                       std::uint8_t* bits, i64 ldb, i64 cols) {
  __m512i acc[MR][NV];
  accumulate<MR, NV, true>(a, w, kw, acc);
  __m512i flip[NV], lim[NV];
  __mmask8 valid[NV];
  for (int v = 0; v < NV; ++v) {
    valid[v] = valid_lanes(cols, v);
    flip[v] = _mm512_maskz_loadu_epi64(valid[v], pxor + v * kGroup);
    lim[v] = _mm512_maskz_loadu_epi64(valid[v], plim + v * kGroup);
  }
  for (int r = 0; r < MR; ++r) {
    __mmask8 minus[NV];
    for (int v = 0; v < NV; ++v) {
      minus[v] =
          _mm512_mask_cmpgt_epi64_mask(valid[v], _mm512_xor_si512(acc[r][v], flip[v]), lim[v]);
    }
    if constexpr (NV == 2) {  // one 16-bit store (byte 1 is 0 past cols, like byte 0's tail)
      const auto both = static_cast<std::uint16_t>(_mm512_kunpackb(minus[1], minus[0]));
      std::memcpy(bits + r * ldb * 8, &both, 2);
    } else {
      bits[r * ldb * 8] = static_cast<std::uint8_t>(minus[0]);
    }
  }
}

// Calls tiles(mr, nv, r0, j0) for every tile of a rows x cols block (mr rows, nv groups of 8
// columns, both std::integral_constant): kMR-row blocks, then one block of the rows left;
// 16-column tiles, then an 8-column one.
template <typename Tiles>
LOWBIT_XNOR_INLINE void for_each_tile(i64 rows, i64 cols, Tiles&& tiles) {
  const auto row_block = [&](auto mr, i64 r0) {
    i64 j0 = 0;
    for (; j0 + kGroup < cols; j0 += 2 * kGroup)
      tiles(mr, std::integral_constant<int, 2>{}, r0, j0);
    if (j0 < cols) tiles(mr, std::integral_constant<int, 1>{}, r0, j0);
  };
  i64 r0 = 0;
  for (; r0 + kMR <= rows; r0 += kMR) row_block(std::integral_constant<int, kMR>{}, r0);
  switch (rows - r0) {
    case 5:
      row_block(std::integral_constant<int, 5>{}, r0);
      break;
    case 4:
      row_block(std::integral_constant<int, 4>{}, r0);
      break;
    case 3:
      row_block(std::integral_constant<int, 3>{}, r0);
      break;
    case 2:
      row_block(std::integral_constant<int, 2>{}, r0);
      break;
    case 1:
      row_block(std::integral_constant<int, 1>{}, r0);
      break;
    default:
      break;
  }
}

template <bool kXor>
void popcounts_op(const std::uint64_t* a, i64 rows, const std::uint64_t* w, i64 cols, i64 kw,
                  std::int32_t offset, std::int32_t* c, i64 ldc, bool stream) {
  for_each_tile(rows, cols, [&](auto mr, auto nv, i64 r0, i64 j0) {
    tile<decltype(mr)::value, decltype(nv)::value, kXor>(a + r0 * kw, w + j0 * kw, kw, offset,
                                                         c + r0 * ldc + j0, ldc, cols - j0, stream);
  });
}

void popcounts(const std::uint64_t* a, i64 rows, const std::uint64_t* w, i64 cols, i64 kw, BitOp op,
               std::int32_t offset, std::int32_t* c, i64 ldc, bool stream) {
  if (op == BitOp::xor_op) {
    popcounts_op<true>(a, rows, w, cols, kw, offset, c, ldc, stream);
  } else {
    popcounts_op<false>(a, rows, w, cols, kw, offset, c, ldc, stream);
  }
  if (stream) _mm_sfence();  // the streamed lines are visible before the caller reads them
}

void popcounts_threshold(const std::uint64_t* a, i64 rows, const std::uint64_t* w, i64 cols, i64 kw,
                         const std::int64_t* pxor, const std::int64_t* plim, std::uint64_t* bits,
                         i64 ldb) {
  auto* bytes = reinterpret_cast<std::uint8_t*>(bits);
  for_each_tile(rows, cols, [&](auto mr, auto nv, i64 r0, i64 j0) {
    tile_threshold<decltype(mr)::value, decltype(nv)::value>(
        a + r0 * kw, w + j0 * kw, kw, pxor + j0, plim + j0, bytes + r0 * ldb * 8 + j0 / 8, ldb,
        cols - j0);
  });
}

}  // namespace

// name, tile_rows, a_mult, col_group, w_mult, pack_a (plain rows), pack_w, popcounts, ...
const GemmIsa kAvx512Isa{"avx512",
                         kMR,
                         1,
                         kGroup,
                         1,
                         nullptr,
                         pack_w,
                         popcounts,
                         row_popcounts_popcnt,
                         threshold_row,
                         popcounts_threshold};

// 16 floats -> 16 bits by an ordered x < 0 compare (-0.0 and NaN give 0, unlike the sign bit).
void pack_signs_avx512(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out) {
  const i64 words = (k + 63) / 64;
  const __m512 zero = _mm512_setzero_ps();
#pragma omp parallel for schedule(static) if (rows * k >= (1 << 18))
  for (i64 r = 0; r < rows; ++r) {
    const float* xr = x + r * ld;
    for (i64 i = 0; i < words; ++i) {
      const i64 c0 = i * 64, cn = k - c0 < 64 ? k - c0 : 64;
      std::uint64_t word = 0;
      for (i64 b = 0; b < cn; b += 16) {
        const i64 len = cn - b < 16 ? cn - b : 16;
        const auto valid = static_cast<__mmask16>((1u << len) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(valid, xr + c0 + b);
        const __mmask16 lt = _mm512_mask_cmp_ps_mask(valid, v, zero, _CMP_LT_OQ);
        word |= static_cast<std::uint64_t>(lt) << b;
      }
      out[r * words + i] = word;
    }
  }
}

}  // namespace lowbit::quant::xnor::detail
