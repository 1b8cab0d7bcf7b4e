#pragma once
// Internals of the XNOR kernels shared by the kernel sources and select.cpp; not part of the
// engine's API (kernels.hpp is).
//
// The optimized GEMM/conv kernels are one portable driver (kernels_driver.cpp: chunking, OpenMP,
// packed-bit im2col, zero-padding correction, output transforms) over an instruction-set "ISA"
// that packs operand panels and computes a block of popcounts (kernels_popcnt.cpp with -mpopcnt,
// kernels_avx2.cpp with -mavx2 -mpopcnt,
// kernels_avx512.cpp with the AVX-512 VPOPCNTDQ flags). The ISA sources are compiled with their own flags, so
// they define no inline functions or templates that another source could share (only builtins
// and intrinsics): a linker-merged copy compiled for AVX2 must never run on the portable path.

#include "quant/xnor/kernels.hpp"

#include <cstdint>

namespace lowbit::quant::xnor::detail {

using i64 = std::int64_t;

// The path for a LOWBIT_XNOR_KERNELS value (nullptr or "": the best the CPU supports); throws
// std::runtime_error for an unknown or unsupported one (select.cpp).
KernelPath select_path(const char* env_value);

// ---- reference twins (kernels_reference.cpp)
void pack_signs_reference(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out);
void pack_thresholds_reference(const std::int32_t* dots, i64 rows, i64 n, i64 ld,
                               const Thresholds& t, std::uint64_t* out);
void pack_planes_reference(const std::uint8_t* codes, i64 rows, i64 k, i64 ld, int bits,
                           std::uint64_t* out);
void bgemm_reference(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                     std::int32_t* out, i64 ldo);
void bgemm_affine_reference(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                            const float* scale, const float* bias, float* out, i64 ldo);
void bgemm_threshold_reference(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                               const Thresholds& t, std::uint64_t* out);
void bconv2d_reference(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                       std::int32_t* out);
void bconv2d_affine_reference(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                              const float* scale, const float* bias, float* out);
void bconv2d_threshold_reference(const std::uint64_t* in, const std::uint64_t* w,
                                 const BConvShape& s, const Thresholds& t, std::uint64_t* out);
void plane_gemm_reference(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                          i64 M, i64 N, i64 K, std::int32_t* out, i64 ldo);
void plane_gemm_affine_reference(const std::uint64_t* a, int abits, const std::uint64_t* w,
                                 int wbits, i64 M, i64 N, i64 K, const float* scale,
                                 const float* bias, float* out, i64 ldo);
void plane_conv2d_reference(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                            const BConvShape& s, std::int32_t* out);
void plane_conv2d_affine_reference(const std::uint64_t* in, int abits, const std::uint64_t* w,
                                   int wbits, const BConvShape& s, const float* scale,
                                   const float* bias, float* out);
void bmaxpool2d_reference(const std::uint64_t* in, const BPoolShape& s, std::uint64_t* out);

// ---- portable fast twins (pack.cpp, pool.cpp); pack_thresholds runs through the driver
void pack_signs_fast(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out);
void pack_planes_fast(const std::uint8_t* codes, i64 rows, i64 k, i64 ld, int bits,
                      std::uint64_t* out);
void bmaxpool2d_fast(const std::uint64_t* in, const BPoolShape& s, std::uint64_t* out);

// ---- AVX2 packing (kernels_avx2.cpp)
void pack_signs_avx2(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out);

// ---- AVX-512 packing (kernels_avx512.cpp)
void pack_signs_avx512(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out);

// ---- the GEMM instruction-set interface
enum class BitOp { xor_op, and_op };

// Panels: the A panel holds `rows` rows of kw words, row r at r * kw * a_mult words; the W panel
// holds the columns in groups of col_group (the last group zero-filled), group g at
// g * col_group * kw * w_mult words. pack_a == nullptr means the A panel is the plain rows.
struct GemmIsa {
  const char* name;
  i64 tile_rows;  // rows of the popcount tile: the driver's row chunks are multiples of it
  i64 a_mult;
  i64 col_group;
  i64 w_mult;
  void (*pack_a)(const std::uint64_t* a, i64 lda, i64 rows, i64 kw, std::uint64_t* panel);
  void (*pack_w)(const std::uint64_t* w, i64 ldw, i64 cols, i64 kw, std::uint64_t* panel);
  // With P(r, j) = popcount(op(a_r, w_j)) summed over the kw words, r < rows, j < cols:
  // c(r, j) = offset - 2*P(r, j) for op xor (the binary dot), P(r, j) for op and;
  // c: (rows, cols) int32 with row stride ldc. stream: c is a large output written once, so the
  // ISA may store whole 64-byte lines with non-temporal stores (no read for ownership).
  void (*popcounts)(const std::uint64_t* a_panel, i64 rows, const std::uint64_t* w_panel, i64 cols,
                    i64 kw, BitOp op, std::int32_t offset, std::int32_t* c, i64 ldc, bool stream);
  // out(r) = popcount of row r of v: (rows, words).
  void (*row_popcounts)(const std::uint64_t* v, i64 rows, i64 words, std::int32_t* out);
  // The threshold output of one row: bit c of out (words_for(n) words, padding 0) is 1 (-1)
  // iff dots[c] < lo[c] or dots[c] > hi[c] (the +1 range [lo, hi] of a threshold).
  void (*threshold_row)(const std::int32_t* dots, i64 n, const std::int32_t* lo,
                        const std::int32_t* hi, std::uint64_t* out);
  // Optional (nullptr: popcounts then threshold_row): the binary popcounts with the threshold
  // fused, for dots that need no correction. Bit j of row r (bits + r*ldb words, bit j%64 of word
  // j/64) is set iff (P(r, j) ^ pxor[j]) > plim[j], signed, with pxor[j] 0 or -1: a one-sided
  // threshold in popcount terms (P > plim, or P < -plim - 1 written as ~P > plim). Bits of the
  // words past cols are left as they are (the caller zeroes them).
  void (*popcounts_threshold)(const std::uint64_t* a_panel, i64 rows, const std::uint64_t* w_panel,
                              i64 cols, i64 kw, const std::int64_t* pxor, const std::int64_t* plim,
                              std::uint64_t* bits, i64 ldb);
};

// Pieces of the POPCNT ISA the others reuse (kernels_popcnt.cpp, -mpopcnt, which every ISA here
// implies): per-row popcounts, and a W panel of groups of `group` columns interleaved word by
// word (group g, word k at (g*kw + k)*group; missing columns zero).
void row_popcounts_popcnt(const std::uint64_t* v, i64 rows, i64 words, std::int32_t* out);
void pack_w_interleaved(const std::uint64_t* w, i64 ldw, i64 cols, i64 kw, i64 group,
                        std::uint64_t* panel);

extern const GemmIsa kPopcntIsa;  // kernels_popcnt.cpp
extern const GemmIsa kAvx2Isa;    // kernels_avx2.cpp
extern const GemmIsa kAvx512Isa;  // kernels_avx512.cpp

// ---- the optimized driver (kernels_driver.cpp)

// Where the driver writes: exactly one of i32, f32, bits is set. i32/f32 rows have stride ld;
// bits rows have words_for(N) words.
struct GemmOut {
  std::int32_t* i32 = nullptr;
  float* f32 = nullptr;
  std::uint64_t* bits = nullptr;
  i64 ld = 0;
  const float* scale = nullptr;
  const float* bias = nullptr;
  Thresholds t;
};

// pack_thresholds with the ISA's threshold_row.
void pack_thresholds_driver(const GemmIsa& isa, const std::int32_t* dots, i64 rows, i64 n, i64 ld,
                            const Thresholds& t, std::uint64_t* out);
// Binary (op xor, abits = wbits = 1, dot = K - 2*popcount) or plane (op and) GEMM.
void gemm_driver(const GemmIsa& isa, BitOp op, const std::uint64_t* a, int abits,
                 const std::uint64_t* w, int wbits, i64 M, i64 N, i64 K, const GemmOut& out);
// Binary or plane convolution; out rows are the output pixels (N*OH*OW), columns Cout.
void conv_driver(const GemmIsa& isa, BitOp op, const std::uint64_t* in, int abits,
                 const std::uint64_t* w, int wbits, const BConvShape& s, const GemmOut& out);

}  // namespace lowbit::quant::xnor::detail
