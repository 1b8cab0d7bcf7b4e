#include "core/error.hpp"
#include "core/random.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using namespace lowbit::core;

TEST_CASE("random tensors equal the matching Rng fills", "[rng]") {
  Rng a(12), b(12);
  const Tensor u = uniform_tensor({3, 5}, -1.0f, 2.0f, a);
  CHECK(u.shape() == Shape{3, 5});
  CHECK(u.dtype() == DType::f32);
  CHECK_FALSE(u.requires_grad());
  std::vector<float> expect(15);
  b.fill_uniform(expect.data(), 15, -1.0f, 2.0f);
  CHECK(u.to_vector<float>() == expect);

  const Tensor n = normal_tensor({7}, 1.0f, 3.0f, a);
  std::vector<float> expect_n(7);
  b.fill_normal(expect_n.data(), 7, 1.0f, 3.0f);
  CHECK(n.to_vector<float>() == expect_n);

  const Tensor m = bernoulli_tensor(Shape{2, 50}, 0.5f, a);
  CHECK(m.dtype() == DType::u8);
  std::vector<std::uint8_t> expect_m(100);
  b.fill_bernoulli(expect_m.data(), 100, 0.5f);
  CHECK(m.to_vector<std::uint8_t>() == expect_m);
  CHECK(a.state() == b.state());
}

TEST_CASE("bernoulli_tensor follows per-element probabilities", "[rng]") {
  Rng rng(4);
  const Tensor p = Tensor::from_vector<float>({0.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f}, {2, 3});
  // A transposed (non-contiguous) view: the mask follows the view's logical order.
  const Tensor pt = p.transpose(0, 1);
  const Tensor m = bernoulli_tensor(pt, rng);
  CHECK(m.shape() == Shape{3, 2});
  CHECK(m.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1, 1, 0, 0});

  const Tensor half = Tensor::full({20000}, 0.25);
  const auto mask = bernoulli_tensor(half, rng).to_vector<std::uint8_t>();
  int fired = 0;
  for (std::uint8_t x : mask) fired += x;
  CHECK(fired == Approx(5000).margin(300));

  const Tensor bad = Tensor::from_vector<float>({0.5f, 1.5f}, {2});
  CHECK_THROWS_WITH(bernoulli_tensor(bad, rng), Catch::Contains("flat index 1"));
  CHECK_THROWS_AS(bernoulli_tensor(Tensor::zeros({2}, DType::i64), rng), Error);
}
