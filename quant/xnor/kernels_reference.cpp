// Reference twins of every XNOR kernel: one output element at a time, straight from the
// definitions in kernels.hpp, bit by bit where packing is concerned. Slow and obviously right;
// the optimized paths are tested against them.

#include <bit>
#include <cstdint>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor::detail {

namespace {

bool get_bit(const std::uint64_t* v, i64 i) { return (v[i / 64] >> (i % 64)) & 1u; }
void set_bit(std::uint64_t* v, i64 i) { v[i / 64] |= std::uint64_t{1} << (i % 64); }

// popcount(a XOR w) over the words of two packed vectors of `bits` bits.
i64 xor_count(const std::uint64_t* a, const std::uint64_t* w, i64 bits) {
  i64 n = 0;
  for (i64 i = 0; i < words_for(bits); ++i) n += std::popcount(a[i] ^ w[i]);
  return n;
}

// sum_i,j 2^(i+j) popcount(a_i AND w_j) of two plane vectors, (abits, words) and (wbits, words).
i64 plane_dot(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits, i64 words) {
  i64 dot = 0;
  for (int i = 0; i < abits; ++i) {
    for (int j = 0; j < wbits; ++j) {
      i64 n = 0;
      for (i64 k = 0; k < words; ++k) n += std::popcount(a[i * words + k] & w[j * words + k]);
      dot += n << (i + j);
    }
  }
  return dot;
}

float affine(i64 dot, const float* scale, const float* bias, i64 c) {
  return static_cast<float>(dot) * (scale ? scale[c] : 1.0f) + (bias ? bias[c] : 0.0f);
}

bool threshold_of(const Thresholds& t, i64 c, std::int32_t dot) {
  return threshold_bit(dot, t.tau[c], t.flip != nullptr && t.flip[c] != 0);
}

// Convolution over in-bounds taps; tap_dot(x, f) is the dot of one input pixel (pixel_words
// words) with one weight tap (tap_words words). Calls emit(row, c, dot) per output element, where
// row = (n*OH + oh)*OW + ow.
template <typename TapDot, typename Emit>
void conv_loop(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
               i64 pixel_words, i64 tap_words, TapDot tap_dot, Emit emit) {
  const i64 OH = s.out_h(), OW = s.out_w(), KK = s.kernel * s.kernel;
  for (i64 n = 0; n < s.batch; ++n) {
    for (i64 oh = 0; oh < OH; ++oh) {
      for (i64 ow = 0; ow < OW; ++ow) {
        const i64 row = (n * OH + oh) * OW + ow;
        for (i64 c = 0; c < s.out_c; ++c) {
          i64 dot = 0;
          for (i64 kh = 0; kh < s.kernel; ++kh) {
            for (i64 kw = 0; kw < s.kernel; ++kw) {
              const i64 ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
              if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;  // zero padding
              const std::uint64_t* x = in + ((n * s.in_h + ih) * s.in_w + iw) * pixel_words;
              const std::uint64_t* f = w + (c * KK + kh * s.kernel + kw) * tap_words;
              dot += tap_dot(x, f);
            }
          }
          emit(row, c, dot);
        }
      }
    }
  }
}

template <typename Emit>
void bconv_loop(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s, Emit emit) {
  conv_loop(
      in, w, s, words_for(s.in_c), words_for(s.in_c),
      [&](const std::uint64_t* x, const std::uint64_t* f) {
        return s.in_c - 2 * xor_count(x, f, s.in_c);
      },
      emit);
}

template <typename Emit>
void plane_conv_loop(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                     const BConvShape& s, Emit emit) {
  const i64 words = words_for(s.in_c);
  conv_loop(
      in, w, s, abits * words, wbits * words,
      [&](const std::uint64_t* x, const std::uint64_t* f) {
        return plane_dot(x, abits, f, wbits, words);
      },
      emit);
}

// Packs `rows` rows of n threshold bits (bit(row, c)) into words_for(n) words per row.
template <typename Bit>
void pack_rows(i64 rows, i64 n, Bit bit, std::uint64_t* out) {
  const i64 words = words_for(n);
  for (i64 r = 0; r < rows; ++r) {
    for (i64 i = 0; i < words; ++i) out[r * words + i] = 0;
    for (i64 c = 0; c < n; ++c) {
      if (bit(r, c)) set_bit(out + r * words, c);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// packing

void pack_signs_reference(const float* x, i64 rows, i64 k, i64 ld, std::uint64_t* out) {
  pack_rows(
      rows, k, [&](i64 r, i64 c) { return x[r * ld + c] < 0.0f; }, out);
}

void pack_thresholds_reference(const std::int32_t* dots, i64 rows, i64 n, i64 ld,
                               const Thresholds& t, std::uint64_t* out) {
  pack_rows(
      rows, n, [&](i64 r, i64 c) { return threshold_of(t, c, dots[r * ld + c]); }, out);
}

void pack_planes_reference(const std::uint8_t* codes, i64 rows, i64 k, i64 ld, int bits,
                           std::uint64_t* out) {
  const i64 words = words_for(k);
  for (i64 r = 0; r < rows; ++r) {
    for (int p = 0; p < bits; ++p) {
      std::uint64_t* plane = out + (r * bits + p) * words;
      for (i64 i = 0; i < words; ++i) plane[i] = 0;
      for (i64 c = 0; c < k; ++c) {
        if ((codes[r * ld + c] >> p) & 1u) set_bit(plane, c);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// binary GEMM

void bgemm_reference(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                     std::int32_t* out, i64 ldo) {
  const i64 words = words_for(K);
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      out[m * ldo + n] =
          static_cast<std::int32_t>(K - 2 * xor_count(a + m * words, w + n * words, K));
    }
  }
}

void bgemm_affine_reference(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                            const float* scale, const float* bias, float* out, i64 ldo) {
  const i64 words = words_for(K);
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      const i64 dot = K - 2 * xor_count(a + m * words, w + n * words, K);
      out[m * ldo + n] = affine(dot, scale, bias, n);
    }
  }
}

void bgemm_threshold_reference(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                               const Thresholds& t, std::uint64_t* out) {
  const i64 words = words_for(K);
  pack_rows(
      M, N,
      [&](i64 m, i64 n) {
        const i64 dot = K - 2 * xor_count(a + m * words, w + n * words, K);
        return threshold_of(t, n, static_cast<std::int32_t>(dot));
      },
      out);
}

// ---------------------------------------------------------------------------------------------
// binary convolution

void bconv2d_reference(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                       std::int32_t* out) {
  bconv_loop(in, w, s, [&](i64 row, i64 c, i64 dot) {
    out[row * s.out_c + c] = static_cast<std::int32_t>(dot);
  });
}

void bconv2d_affine_reference(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                              const float* scale, const float* bias, float* out) {
  bconv_loop(in, w, s, [&](i64 row, i64 c, i64 dot) {
    out[row * s.out_c + c] = affine(dot, scale, bias, c);
  });
}

void bconv2d_threshold_reference(const std::uint64_t* in, const std::uint64_t* w,
                                 const BConvShape& s, const Thresholds& t, std::uint64_t* out) {
  const i64 words = words_for(s.out_c), rows = s.batch * s.out_h() * s.out_w();
  for (i64 i = 0; i < rows * words; ++i) out[i] = 0;
  bconv_loop(in, w, s, [&](i64 row, i64 c, i64 dot) {
    if (threshold_of(t, c, static_cast<std::int32_t>(dot))) set_bit(out + row * words, c);
  });
}

// ---------------------------------------------------------------------------------------------
// k-bit planes

void plane_gemm_reference(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                          i64 M, i64 N, i64 K, std::int32_t* out, i64 ldo) {
  const i64 words = words_for(K);
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      out[m * ldo + n] = static_cast<std::int32_t>(
          plane_dot(a + m * abits * words, abits, w + n * wbits * words, wbits, words));
    }
  }
}

void plane_gemm_affine_reference(const std::uint64_t* a, int abits, const std::uint64_t* w,
                                 int wbits, i64 M, i64 N, i64 K, const float* scale,
                                 const float* bias, float* out, i64 ldo) {
  const i64 words = words_for(K);
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      const i64 dot = plane_dot(a + m * abits * words, abits, w + n * wbits * words, wbits, words);
      out[m * ldo + n] = affine(dot, scale, bias, n);
    }
  }
}

void plane_conv2d_reference(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                            const BConvShape& s, std::int32_t* out) {
  plane_conv_loop(in, abits, w, wbits, s, [&](i64 row, i64 c, i64 dot) {
    out[row * s.out_c + c] = static_cast<std::int32_t>(dot);
  });
}

void plane_conv2d_affine_reference(const std::uint64_t* in, int abits, const std::uint64_t* w,
                                   int wbits, const BConvShape& s, const float* scale,
                                   const float* bias, float* out) {
  plane_conv_loop(in, abits, w, wbits, s, [&](i64 row, i64 c, i64 dot) {
    out[row * s.out_c + c] = affine(dot, scale, bias, c);
  });
}

// ---------------------------------------------------------------------------------------------
// binary max-pool: output bit c is 1 (-1) iff every in-bounds tap has bit c set.

void bmaxpool2d_reference(const std::uint64_t* in, const BPoolShape& s, std::uint64_t* out) {
  const i64 words = words_for(s.channels), OH = s.out_h(), OW = s.out_w();
  for (i64 n = 0; n < s.batch; ++n) {
    for (i64 oh = 0; oh < OH; ++oh) {
      for (i64 ow = 0; ow < OW; ++ow) {
        std::uint64_t* o = out + ((n * OH + oh) * OW + ow) * words;
        for (i64 i = 0; i < words; ++i) o[i] = 0;
        for (i64 c = 0; c < s.channels; ++c) {
          bool all_minus = true;
          for (i64 kh = 0; kh < s.kernel; ++kh) {
            for (i64 kw = 0; kw < s.kernel; ++kw) {
              const i64 ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
              if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;
              all_minus = all_minus && get_bit(in + ((n * s.in_h + ih) * s.in_w + iw) * words, c);
            }
          }
          if (all_minus) set_bit(o, c);
        }
      }
    }
  }
}

}  // namespace lowbit::quant::xnor::detail
