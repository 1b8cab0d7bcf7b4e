#pragma once
// Helpers for the model / runner tests: random data, weight packing, a model using every op kind.

#include "quant/xnor/kernels.hpp"
#include "quant/xnor/model.hpp"

#include <cstdint>
#include <random>
#include <vector>

namespace lowbit::quant::xnor::test {

inline std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// n values of +1 / -1.
inline std::vector<float> random_signs(std::mt19937& rng, std::size_t n) {
  std::vector<float> v(n);
  for (auto& x : v) x = (rng() & 1u) ? -1.0f : 1.0f;
  return v;
}

inline std::vector<std::uint8_t> random_codes(std::mt19937& rng, std::size_t n, int bits) {
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = static_cast<std::uint8_t>(rng() % (1u << bits));
  return v;
}

// w: (rows, k) float -> (rows, words(k)) packed signs.
inline std::vector<std::uint64_t> pack_rows(const std::vector<float>& w, std::int64_t rows,
                                            std::int64_t k) {
  std::vector<std::uint64_t> out(static_cast<std::size_t>(rows * words_for(k)));
  pack_signs(w.data(), rows, k, k, out.data());
  return out;
}

// A small model that uses every op kind (and both bconv2d output transforms, bits and f32 max
// pooling, flatten of bits and codes, 1x1 "linear" forms), input (7, 7, 3), 10 classes.
Model make_every_op_model(std::uint32_t seed);

}  // namespace lowbit::quant::xnor::test
