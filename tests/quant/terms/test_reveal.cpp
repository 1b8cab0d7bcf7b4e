// Uniform codes, term revealing of weight and data tensors, and the activation-scale search.

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "quant/terms/calibrate.hpp"
#include "quant/terms/reveal.hpp"
#include "quant/terms/uniform.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

using namespace lowbit;
using namespace lowbit::quant::terms;
using Catch::Contains;
using core::Shape;
using core::Tensor;
using Codes = std::vector<std::int32_t>;
using Floats = std::vector<float>;

namespace {

Tensor random_weights(const Shape& shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.1f);
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST_CASE("uniform codes: the largest weight maps to 2^(b-1)", "[terms]") {
  const Tensor w = Tensor::from_vector(Floats{1.0f, -0.5f, 0.25f, 0.0f, -0.3f, 0.1f}, {2, 3});
  const UniformCodes u = quantize_uniform(w, 3, ScaleMode::per_layer);  // sf = 1 / 4
  REQUIRE(u.scales == Floats{0.25f});
  CHECK(u.codes.to_vector<std::int32_t>() == Codes{4, -2, 1, 0, -1, 0});
  CHECK(dequantize(u).to_vector<float>() == Floats{1.0f, -0.5f, 0.25f, 0.0f, -0.25f, 0.0f});

  const UniformCodes c = quantize_uniform(w, 3, ScaleMode::per_channel);
  REQUIRE(c.scales == Floats{0.25f, 0.3f / 4.0f});
  CHECK(c.codes.to_vector<std::int32_t>() == Codes{4, -2, 1, 0, -4, 1});
  CHECK(c.scale_of(4) == 0.3f / 4.0f);

  const UniformCodes z = quantize_uniform(Tensor::zeros({3}), 8, ScaleMode::per_layer);
  CHECK(z.scales == Floats{1.0f});
  CHECK(z.codes.to_vector<std::int32_t>() == Codes{0, 0, 0});
  CHECK(parse_scale_mode("channel") == ScaleMode::per_channel);
  CHECK_THROWS_WITH(parse_scale_mode("row"), Contains("known: channel, layer"));
}

TEST_CASE("reveal_weights on a linear weight reproduces the tie example", "[terms]") {
  // bits 8 -> sf = 128 / 128 = 1, so the codes are the values themselves.
  const Tensor w = Tensor::from_vector(Floats{-100, 7, 0, 33, 128, 0, 0, 0}, {2, 4});
  WeightTermOptions o;
  o.bits = 8;
  o.group_size = 4;
  o.budget = 4;
  const RevealedWeights r = reveal_weights(w, o);
  CHECK(r.uniform.scales == Floats{1.0f});
  CHECK(r.codes.to_vector<std::int32_t>() == Codes{-96, 8, 0, 32, 128, 0, 0, 0});
  CHECK(r.values.to_vector<float>() == Floats{-96, 8, 0, 32, 128, 0, 0, 0});
  CHECK(r.kept_terms.to_vector<std::int32_t>() == Codes{2, 1, 0, 1, 1, 0, 0, 0});
  CHECK(r.stats.values == 8);
  CHECK(r.stats.groups == 2);
  CHECK(r.stats.terms_uniform == 8);  // 3 + 2 + 0 + 2 | 1
  CHECK(r.stats.terms_kept == 5);
  CHECK(r.stats.nonzero_values == 4);
  CHECK(r.stats.kept_terms_per_value() == Approx(5.0 / 8.0));
}

TEST_CASE("reveal_weights groups a conv weight along `in` at each (out, kh, kw)", "[terms]") {
  const Shape shape{3, 10, 3, 2};  // (out, in, kh, kw); in = 10 leaves a last group of 2
  const Tensor w = random_weights(shape, 3);
  for (Encoding enc : {Encoding::hese, Encoding::csd}) {
    WeightTermOptions o;
    o.bits = 6;
    o.group_size = 4;
    o.budget = 5;
    o.encoding = enc;
    const RevealedWeights r = reveal_weights(w, o);
    const Codes q = r.uniform.codes.to_vector<std::int32_t>();
    const Codes got = r.codes.to_vector<std::int32_t>();
    const auto at = [&](std::int64_t oc, std::int64_t ic, std::int64_t kh, std::int64_t kw) {
      return static_cast<std::size_t>(((oc * 10 + ic) * 3 + kh) * 2 + kw);
    };
    std::int64_t groups = 0;
    for (std::int64_t oc = 0; oc < 3; ++oc) {
      for (std::int64_t kh = 0; kh < 3; ++kh) {
        for (std::int64_t kw = 0; kw < 2; ++kw) {
          for (std::int64_t start = 0; start < 10; start += 4) {
            Codes group;
            for (std::int64_t ic = start; ic < std::min<std::int64_t>(start + 4, 10); ++ic) {
              group.push_back(q[at(oc, ic, kh, kw)]);
            }
            const Codes expected = quantize_group(group, 5, enc);  // same budget when short
            for (std::size_t c = 0; c < group.size(); ++c) {
              REQUIRE(got[at(oc, start + static_cast<std::int64_t>(c), kh, kw)] == expected[c]);
            }
            ++groups;
          }
        }
      }
    }
    CHECK(r.stats.groups == groups);
    CHECK(r.stats.terms_kept <= 5 * groups);
    const Floats vals = r.values.to_vector<float>();
    for (std::size_t i = 0; i < vals.size(); ++i) {
      REQUIRE(vals[i] == static_cast<float>(got[i]) * r.uniform.scales[0]);
    }
  }
}

TEST_CASE("reveal_weights without a binding budget is plain uniform quantization", "[terms]") {
  const Tensor w = random_weights({8, 20, 3, 3}, 5);
  for (ScaleMode mode : {ScaleMode::per_layer, ScaleMode::per_channel}) {
    WeightTermOptions o;
    o.bits = 8;
    o.budget = kNoBudget;
    o.scale_mode = mode;
    const RevealedWeights r = reveal_weights(w, o);
    CHECK(r.codes.to_vector<std::int32_t>() == r.uniform.codes.to_vector<std::int32_t>());
    CHECK(r.values.to_vector<float>() == dequantize(r.uniform).to_vector<float>());
    CHECK(r.stats.terms_kept == r.stats.terms_uniform);
  }
  // Grouping along the last axis through a negative index.
  WeightTermOptions o;
  o.axis = -1;
  o.group_size = 3;
  o.budget = 2;
  const RevealedWeights r = reveal_weights(w, o);
  CHECK(r.stats.groups == 8 * 20 * 3);
  o.axis = 0;
  o.scale_mode = ScaleMode::per_channel;
  CHECK_THROWS_WITH(reveal_weights(w, o), Contains("per-channel"));
  o.scale_mode = ScaleMode::per_layer;
  o.group_size = 65;
  CHECK_THROWS_AS(reveal_weights(w, o), core::Error);
}

TEST_CASE("reveal_data limits the terms of each value", "[terms]") {
  const Tensor x = Tensor::from_vector(Floats{55.2f, -3.0f, 300.0f, 0.4f, -54.6f}, {5});
  DataTermOptions o;
  o.bits = 8;
  o.terms = 2;
  const RevealedData r = reveal_data(x, 1.0f, o);
  // codes 55, -3, 255 (clamped), 0, -55 -> hese first two terms: 64-16, -(4-1), 256-1, 0, -(48)
  CHECK(r.values.to_vector<float>() == Floats{48.0f, -3.0f, 255.0f, 0.0f, -48.0f});
  CHECK(r.kept_terms.to_vector<std::int32_t>() == Codes{2, 2, 2, 0, 2});
  CHECK(r.stats.terms_uniform == 4 + 2 + 2 + 0 + 4);
  CHECK(r.stats.terms_kept == 8);
  CHECK(r.stats.nonzero_values == 4);

  o.terms = 8;  // no binding limit: plain uniform quantization at scale 0.5
  const RevealedData u = reveal_data(x, 0.5f, o);
  CHECK(u.values.to_vector<float>() == Floats{55.0f, -3.0f, 127.5f, 0.5f, -54.5f});
  CHECK_THROWS_AS(reveal_data(x, 0.0f, o), core::Error);
}

TEST_CASE("DataHistogram follows torch.histc", "[terms]") {
  DataHistogram h(4, -2.0f, 2.0f);  // bins [-2,-1) [-1,0) [0,1) [1,2]
  const Floats v{-2.0f, -1.5f, -0.5f, 0.0f,  0.99f,
                 1.0f,  2.0f,  2.5f,  -3.0f, std::numeric_limits<float>::quiet_NaN()};
  h.add(v.data(), static_cast<std::int64_t>(v.size()));
  CHECK(h.counts() == std::vector<double>{2, 1, 2, 2});
  CHECK(h.total() == 7);
  CHECK(h.bin_value(0) == -2.0);
  CHECK(h.bin_value(3) == 2.0);
  CHECK(h.bin_value(1) == Approx(-2.0 / 3.0));
}

TEST_CASE("choose_data_scale picks the candidate with the least term-quantized error", "[terms]") {
  DataHistogram h;  // the reference: 8192 bins over [-50, 50]
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(0.0f, 6.0f);
  Floats v(20000);
  for (auto& x : v) x = d(rng);
  h.add(v.data(), static_cast<std::int64_t>(v.size()));

  DataTermOptions o;
  o.bits = 8;
  o.terms = 8;
  // Candidates linspace(1e-8, 50, 2048): the step 0.0244 is the smallest one that does not clip
  // [0, 6] at 255 codes, and the only one better than no scale at all.
  const float step = static_cast<float>(1e-8 + (50.0 - 1e-8) / 2047.0);
  const float sf = choose_data_scale(h, o);
  CHECK(sf == Approx(step));
  const TermLimitTable table(o.bits, o.terms, o.encoding);
  const double best = data_scale_error(h, sf, table);
  for (float other : {1e-8f, 2 * step, 3 * step, 0.5f}) {
    CHECK(best <= data_scale_error(h, other, table));
  }

  // A narrower candidate range finds a finer scale with less error.
  ScaleSearch fine;
  fine.max_scale = 0.1f;
  const float sf_fine = choose_data_scale(h, o, fine);
  CHECK(sf_fine < step);
  CHECK(sf_fine > 0.02f);
  CHECK(data_scale_error(h, sf_fine, table) < best);

  CHECK_THROWS_WITH(choose_data_scale(DataHistogram{}, o), Contains("empty"));
}
