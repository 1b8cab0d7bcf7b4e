// The portable POPCNT instruction set for the GEMM driver (compiled with -mpopcnt): a
// register-blocked 2 x 4 tile of 64-bit popcount accumulators, one word at a time. The W panel
// interleaves groups of 4 columns word by word (group g, word k at (g*kw + k)*4), so a tile
// reads its columns through one pointer; A rows stay plain.
// No inline function or template here has external linkage (see kernels_detail.hpp).

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor::detail {

namespace {

constexpr int kMR = 2, kNR = 4;

template <bool kXor>
std::uint64_t count(std::uint64_t a, std::uint64_t w) {
  return static_cast<std::uint64_t>(__builtin_popcountll(kXor ? a ^ w : a & w));
}

// c(r, j) for MR rows and one group of 4 columns (only the first `cols` stored):
// offset - 2*popcount for xor, popcount for and.
template <int MR, bool kXor>
void tile(const std::uint64_t* a, const std::uint64_t* w, i64 kw, std::int32_t offset,
          std::int32_t* c, i64 ldc, i64 cols) {
  std::uint64_t acc[MR][kNR] = {};
  for (i64 k = 0; k < kw; ++k) {
    const std::uint64_t* wk = w + k * kNR;
    for (int r = 0; r < MR; ++r) {
      const std::uint64_t av = a[r * kw + k];
      for (int j = 0; j < kNR; ++j) acc[r][j] += count<kXor>(av, wk[j]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (i64 j = 0; j < cols && j < kNR; ++j) {
      const auto p = static_cast<std::int32_t>(acc[r][j]);
      c[r * ldc + j] = kXor ? offset - 2 * p : p;
    }
  }
}

template <bool kXor>
void popcounts_op(const std::uint64_t* a, i64 rows, const std::uint64_t* w, i64 cols, i64 kw,
                  std::int32_t offset, std::int32_t* c, i64 ldc) {
  for (i64 r0 = 0; r0 < rows; r0 += kMR) {
    for (i64 j0 = 0; j0 < cols; j0 += kNR) {
      const std::uint64_t* ap = a + r0 * kw;
      const std::uint64_t* wp = w + j0 * kw;  // group j0/4 starts at (j0/4)*kw*4 words
      std::int32_t* cp = c + r0 * ldc + j0;
      if (rows - r0 >= kMR) {
        tile<kMR, kXor>(ap, wp, kw, offset, cp, ldc, cols - j0);
      } else {
        tile<1, kXor>(ap, wp, kw, offset, cp, ldc, cols - j0);
      }
    }
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

void pack_w(const std::uint64_t* w, i64 ldw, i64 cols, i64 kw, std::uint64_t* panel) {
  pack_w_interleaved(w, ldw, cols, kw, kNR, panel);
}

void threshold_row(const std::int32_t* dots, i64 n, const std::int32_t* lo, const std::int32_t* hi,
                   std::uint64_t* out) {
  for (i64 c0 = 0; c0 < n; c0 += 64) {
    const i64 cn = n - c0 < 64 ? n - c0 : 64;
    std::uint64_t word = 0;
    for (i64 b = 0; b < cn; ++b) {
      const std::int32_t d = dots[c0 + b];
      word |= static_cast<std::uint64_t>((d < lo[c0 + b]) | (d > hi[c0 + b])) << b;
    }
    out[c0 / 64] = word;
  }
}

}  // namespace

void row_popcounts_popcnt(const std::uint64_t* v, i64 rows, i64 words, std::int32_t* out) {
  for (i64 r = 0; r < rows; ++r) {
    i64 n = 0;
    for (i64 i = 0; i < words; ++i) n += __builtin_popcountll(v[r * words + i]);
    out[r] = static_cast<std::int32_t>(n);
  }
}

void pack_w_interleaved(const std::uint64_t* w, i64 ldw, i64 cols, i64 kw, i64 group,
                        std::uint64_t* panel) {
  for (i64 g = 0; g * group < cols; ++g) {
    for (i64 j = 0; j < group; ++j) {
      const i64 col = g * group + j;
      std::uint64_t* p = panel + g * kw * group + j;
      for (i64 k = 0; k < kw; ++k) p[k * group] = col < cols ? w[col * ldw + k] : 0;
    }
  }
}

// name, tile_rows, a_mult, col_group, w_mult, pack_a (plain rows), pack_w, popcounts, ...
const GemmIsa kPopcntIsa{
    "popcnt",      kMR,    1, kNR, 1, nullptr, pack_w, popcounts, row_popcounts_popcnt,
    threshold_row, nullptr};

}  // namespace lowbit::quant::xnor::detail
