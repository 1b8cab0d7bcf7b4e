// Portable fast packing (bits from floats, bit planes from codes), the unpacking helpers and
// BN + sign threshold folding. The AVX2 sign packing is in kernels_avx2.cpp, threshold packing
// runs through the GEMM driver's output transform; the reference twins are in
// kernels_reference.cpp.

#include <algorithm>
#include <cstring>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor {

Threshold fold_bn_sign(double gamma, double beta, double mean, double invstd, std::int64_t K) {
  const auto bn = [&](std::int32_t s) { return (s - mean) * invstd * gamma + beta; };
  const auto k = static_cast<std::int32_t>(K);
  return fold_sign_threshold(bn, -k, k);
}

void unpack_signs(const std::uint64_t* bits, std::int64_t rows, std::int64_t k, float* out) {
  const std::int64_t words = words_for(k);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < k; ++c) {
      out[r * k + c] = ((bits[r * words + c / 64] >> (c % 64)) & 1u) ? -1.0f : 1.0f;
    }
  }
}

void unpack_planes(const std::uint64_t* planes, std::int64_t rows, std::int64_t k, int bits,
                   std::uint8_t* out) {
  const std::int64_t words = words_for(k);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < k; ++c) {
      unsigned code = 0;
      for (int p = 0; p < bits; ++p) {
        code |= ((planes[(r * bits + p) * words + c / 64] >> (c % 64)) & 1u) << p;
      }
      out[r * k + c] = static_cast<std::uint8_t>(code);
    }
  }
}

namespace detail {

void pack_signs_fast(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out) {
  const i64 words = words_for(k);
#pragma omp parallel for schedule(static) if (rows * k >= (1 << 18))
  for (i64 r = 0; r < rows; ++r) {
    const float* xr = x + r * ld;
    for (i64 i = 0; i < words; ++i) {
      const i64 n = std::min<i64>(64, k - i * 64);
      std::uint64_t word = 0;
      for (i64 b = 0; b < n; ++b) word |= std::uint64_t{xr[i * 64 + b] < 0.0f} << b;
      out[r * words + i] = word;
    }
  }
}

// Bit p of 8 codes (one per byte of x) gathered into 8 bits: the multiply moves byte i's bit to
// bit 56 + i without carries (every partial product lands on a distinct bit).
static std::uint64_t gather_plane_byte(std::uint64_t x, int p) {
  return (((x >> p) & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56;
}

void pack_planes_fast(const std::uint8_t* codes, i64 rows, i64 k, i64 ld, int bits,
                      std::uint64_t* out) {
  const i64 words = words_for(k);
#pragma omp parallel for schedule(static) if (rows * k >= (1 << 18))
  for (i64 r = 0; r < rows; ++r) {
    const std::uint8_t* cr = codes + r * ld;
    std::uint64_t* o = out + r * bits * words;
    for (i64 i = 0; i < words; ++i) {
      std::uint8_t block[64] = {};  // the last word's codes, zero-padded
      const i64 cn = std::min<i64>(64, k - i * 64);
      std::memcpy(block, cr + i * 64, static_cast<std::size_t>(cn));
      for (int p = 0; p < bits; ++p) {
        std::uint64_t word = 0;
        for (int g = 0; g < 8; ++g) {
          std::uint64_t x;
          std::memcpy(&x, block + 8 * g, 8);
          word |= gather_plane_byte(x, p) << (8 * g);
        }
        o[p * words + i] = word;
      }
    }
  }
}

}  // namespace detail
}  // namespace lowbit::quant::xnor
