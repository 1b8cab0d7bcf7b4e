// The term-pair cost model (methods.md §6.1, self-check §6.6 item 6).

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "quant/terms/cost.hpp"
#include "quant/terms/reveal.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

using namespace lowbit;
using namespace lowbit::quant::terms;
using core::Shape;
using core::Tensor;
using Codes = std::vector<std::int32_t>;

namespace {

Tensor random_counts(const Shape& shape, unsigned seed, int max_count = 4) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, max_count);
  Codes v(static_cast<std::size_t>(shape.numel()));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector(v, shape);
}

// Direct sum over every output element and every MAC of the convolution.
std::int64_t conv_pairs_direct(const Tensor& wt, const Tensor& xt, const Conv2dGeometry& g) {
  const Codes w = wt.to_vector<std::int32_t>();
  const Codes x = xt.to_vector<std::int32_t>();
  const std::int64_t O = wt.size(0), C = wt.size(1), KH = wt.size(2), KW = wt.size(3);
  const std::int64_t N = xt.size(0), H = xt.size(2), W = xt.size(3);
  const std::int64_t OH = (H + 2 * g.pad_h - g.dilation_h * (KH - 1) - 1) / g.stride_h + 1;
  const std::int64_t OW = (W + 2 * g.pad_w - g.dilation_w * (KW - 1) - 1) / g.stride_w + 1;
  std::int64_t total = 0;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow)
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t kh = 0; kh < KH; ++kh)
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
                const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const std::int64_t wi = ((o * C + c) * KH + kh) * KW + kw;
                const std::int64_t xi = ((n * C + c) * H + ih) * W + iw;
                total += static_cast<std::int64_t>(w[static_cast<std::size_t>(wi)]) *
                         x[static_cast<std::size_t>(xi)];
              }
  return total;
}

}  // namespace

TEST_CASE("linear term pairs: sum over every MAC of weight terms times data terms", "[terms]") {
  const Tensor w = random_counts({5, 7}, 1);
  const Tensor x = random_counts({3, 7}, 2);
  const Codes wv = w.to_vector<std::int32_t>();
  const Codes xv = x.to_vector<std::int32_t>();
  std::int64_t direct = 0;
  for (int n = 0; n < 3; ++n)
    for (int o = 0; o < 5; ++o)
      for (int i = 0; i < 7; ++i) {
        direct += wv[static_cast<std::size_t>(o * 7 + i)] * xv[static_cast<std::size_t>(n * 7 + i)];
      }
  CHECK(linear_term_pairs(w, x) == direct);
  CHECK_THROWS_AS(linear_term_pairs(w, random_counts({3, 6}, 2)), core::Error);
}

TEST_CASE("conv2d term pairs match the direct sum; padding costs nothing", "[terms]") {
  struct Case {
    Shape w, x;
    Conv2dGeometry g;
  };
  const std::vector<Case> cases{
      {{4, 3, 3, 3}, {2, 3, 7, 6}, {}},
      {{4, 3, 3, 3}, {2, 3, 7, 6}, {1, 1, 1, 1, 1, 1}},
      {{2, 5, 3, 2}, {1, 5, 9, 8}, {2, 3, 1, 0, 1, 1}},
      {{3, 2, 3, 3}, {2, 2, 9, 9}, {2, 2, 2, 2, 2, 2}},
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {}},
  };
  unsigned seed = 10;
  for (const Case& c : cases) {
    const Tensor w = random_counts(c.w, seed++);
    const Tensor x = random_counts(c.x, seed++);
    CHECK(conv2d_term_pairs(w, x, c.g) == conv_pairs_direct(w, x, c.g));
  }
  // All-ones counts give the number of MACs that touch real (unpadded) inputs.
  const Tensor ones_w = Tensor::from_vector(Codes(2 * 3 * 3 * 3, 1), {2, 3, 3, 3});
  const Tensor ones_x = Tensor::from_vector(Codes(1 * 3 * 5 * 5, 1), {1, 3, 5, 5});
  CHECK(conv2d_term_pairs(ones_w, ones_x, {}) == 2 * 3 * 3 * 3 * 3 * 3);
  CHECK_THROWS_AS(conv2d_term_pairs(ones_w, random_counts({1, 2, 5, 5}, 1), {}), core::Error);
  CHECK_THROWS_AS(conv2d_term_pairs(ones_w, random_counts({1, 3, 2, 2}, 1), {}), core::Error);
}

TEST_CASE("budget cost model of the reference profiler", "[terms]") {
  BudgetCost c;
  c.weight_bits = 8;
  c.data_bits = 8;
  c.group_size = 8;
  c.budget = 12;
  c.data_terms = 3;
  CHECK(budget_term_pairs(1000, c) == Approx(1000 * 3 * 1.5));
  c.group_size = 1;  // g = 1 caps the weight terms at the bit width
  CHECK(budget_term_pairs(1000, c) == Approx(1000 * 3 * 8));
  c.data_terms = 12;  // and the data terms always
  CHECK(budget_term_pairs(1000, c) == Approx(1000 * 8 * 8));
  CHECK(uniform_term_pairs(1000, 8, 8) == Approx(64000));
  // ResNet-18 in the paper: 8-bit UQ vs g = 8, 1.5 terms per weight, 3 data terms -> 64 / 4.5.
  c = BudgetCost{};
  CHECK(uniform_term_pairs(1, 8, 8) / budget_term_pairs(1, c) == Approx(64.0 / 4.5));
}

TEST_CASE("saturated budgets: exact count equals k/g x d per MAC (methods.md 6.6 item 6)",
          "[terms]") {
  // Groups of 4 codes [128, 85, 85, 85] (85 = 0b1010101 has four hese terms) hold 13 terms and
  // keep exactly k = 6; every input 85 keeps exactly d = 3 of its 4 terms.
  const std::int64_t out = 3, in = 8, batch = 5;
  std::vector<float> wv(static_cast<std::size_t>(out * in));
  for (std::size_t i = 0; i < wv.size(); ++i) wv[i] = i % 4 == 0 ? 1.0f : 85.0f / 128.0f;
  const Tensor w = Tensor::from_vector(wv, {out, in});  // bits 8: sf = 1 / 128
  WeightTermOptions wo;
  wo.bits = 8;
  wo.group_size = 4;
  wo.budget = 6;
  const RevealedWeights rw = reveal_weights(w, wo);
  const Codes codes = rw.uniform.codes.to_vector<std::int32_t>();
  for (std::size_t i = 0; i < codes.size(); ++i) CHECK(codes[i] == (i % 4 == 0 ? 128 : 85));
  CHECK(rw.stats.terms_kept == 6 * out * in / 4);

  DataTermOptions dopt;
  dopt.bits = 8;
  dopt.terms = 3;
  const RevealedData rd = reveal_data(Tensor::full({batch, in}, 85.0f), 1.0f, dopt);
  CHECK(rd.stats.terms_kept == 3 * batch * in);

  const std::int64_t macs = batch * out * in;
  BudgetCost c;
  c.group_size = 4;
  c.budget = 6;
  c.data_terms = 3;
  CHECK(static_cast<double>(linear_term_pairs(rw.kept_terms, rd.kept_terms)) ==
        Approx(budget_term_pairs(macs, c)));
  CHECK(linear_term_pairs(rw.kept_terms, rd.kept_terms) == macs * 6 / 4 * 3);
}
