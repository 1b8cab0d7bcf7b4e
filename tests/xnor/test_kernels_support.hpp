#pragma once
// Helpers of the XNOR kernel tests: random +/-1 and code data, float/integer references, and the
// list of kernel paths this CPU runs (every test runs each of them explicitly).

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "quant/xnor/kernels.hpp"

namespace lowbit::test::xnor {

namespace x = lowbit::quant::xnor;
using i64 = std::int64_t;
using Words = std::vector<std::uint64_t>;

inline const std::vector<i64> kAwkward{1, 31, 32, 33, 63, 64, 65, 127, 128, 129};
inline const std::vector<i64> kChannels{1, 63, 64, 65, 127, 129};

// The optimized paths this CPU supports (the reference is what they are compared with).
inline std::vector<x::KernelPath> fast_paths() {
  std::vector<x::KernelPath> paths;
  for (const auto p : {x::KernelPath::popcnt, x::KernelPath::avx2, x::KernelPath::avx512}) {
    if (x::kernel_path_supported(p)) paths.push_back(p);
  }
  return paths;
}

inline const x::KernelTable& ref() { return x::kernel_table(x::KernelPath::reference); }

// n values of +1/-1 (as float).
inline std::vector<float> random_signs(i64 n, std::mt19937_64& gen) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = (gen() & 1u) ? -1.0f : 1.0f;
  return v;
}

// rows x k signs packed by the reference packer.
inline Words pack(const std::vector<float>& v, i64 rows, i64 k) {
  Words out(static_cast<std::size_t>(rows * x::words_for(k)));
  ref().pack_signs(v.data(), rows, k, k, out.data());
  return out;
}

inline std::vector<std::uint8_t> random_codes(i64 n, int bits, std::mt19937_64& gen) {
  std::vector<std::uint8_t> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = static_cast<std::uint8_t>(gen() % (1u << bits));
  return v;
}

inline Words pack_codes(const std::vector<std::uint8_t>& v, i64 rows, i64 k, int bits) {
  Words out(static_cast<std::size_t>(rows * bits * x::words_for(k)));
  ref().pack_planes(v.data(), rows, k, k, bits, out.data());
  return out;
}

// Per-channel thresholds around the reachable dots [-range, range], with some flipped and some
// constant channels.
struct RandomThresholds {
  std::vector<std::int32_t> tau;
  std::vector<std::uint8_t> flip;
  RandomThresholds(i64 n, i64 range, std::mt19937_64& gen) {
    std::uniform_int_distribution<i64> t(-range - 2, range + 2);
    for (i64 c = 0; c < n; ++c) {
      const auto kind = gen() % 8;
      if (kind == 0) {
        tau.push_back(INT32_MIN);
      } else if (kind == 1) {
        tau.push_back(INT32_MAX);
      } else {
        tau.push_back(static_cast<std::int32_t>(t(gen)));
      }
      flip.push_back(static_cast<std::uint8_t>(gen() % 2));
    }
  }
  x::Thresholds view() const { return {tau.data(), flip.data()}; }
};

inline std::vector<float> random_floats(i64 n, std::mt19937_64& gen) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = d(gen);
  return v;
}

// The true dot of +/-1 values in float NHWC/OHWI layouts: out (N, OH, OW, Cout) with zero padding
// (out-of-bounds taps skipped). w: (Cout, KH, KW, C), in: (N, H, W, C); values per element
// given by `bits` planes per element (bits = 1 and +/-1 values for binary).
template <typename T>
std::vector<T> direct_conv(const std::vector<T>& in, const std::vector<T>& w,
                           const x::BConvShape& s) {
  const i64 OH = s.out_h(), OW = s.out_w(), C = s.in_c;
  std::vector<T> out(static_cast<std::size_t>(s.batch * OH * OW * s.out_c));
  for (i64 n = 0; n < s.batch; ++n) {
    for (i64 oh = 0; oh < OH; ++oh) {
      for (i64 ow = 0; ow < OW; ++ow) {
        for (i64 o = 0; o < s.out_c; ++o) {
          T sum = 0;
          for (i64 kh = 0; kh < s.kernel; ++kh) {
            for (i64 kw = 0; kw < s.kernel; ++kw) {
              const i64 ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
              if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;
              const T* xp = in.data() + ((n * s.in_h + ih) * s.in_w + iw) * C;
              const T* wp = w.data() + ((o * s.kernel + kh) * s.kernel + kw) * C;
              for (i64 c = 0; c < C; ++c) sum += xp[c] * wp[c];
            }
          }
          out[static_cast<std::size_t>(((n * OH + oh) * OW + ow) * s.out_c + o)] = sum;
        }
      }
    }
  }
  return out;
}

inline std::string describe(const x::BConvShape& s) {
  return "N=" + std::to_string(s.batch) + " H=" + std::to_string(s.in_h) +
         " W=" + std::to_string(s.in_w) + " C=" + std::to_string(s.in_c) +
         " O=" + std::to_string(s.out_c) + " k=" + std::to_string(s.kernel) +
         " s=" + std::to_string(s.stride) + " p=" + std::to_string(s.pad);
}

}  // namespace lowbit::test::xnor
