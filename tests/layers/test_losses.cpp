// Losses: values against hand computations and gradients against central differences.

#include "layers/losses.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace lowbit;
using core::Tensor;

namespace {

const Tensor kTarget = Tensor::from_vector<std::int64_t>({2, 0, 1}, {3});

}  // namespace

TEST_CASE("cross_entropy value and gradient", "[losses][gradcheck]") {
  const Tensor logits = Tensor::from_vector<float>({1, 2, 3, 0, 0, 0}, {2, 3});
  const Tensor target = Tensor::from_vector<std::int64_t>({2, 1}, {2});
  const double lse1 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double expected = ((lse1 - 3.0) + std::log(3.0)) / 2.0;
  CHECK(layers::cross_entropy(logits, target).item() == Approx(expected).epsilon(1e-5));
  for (const float s : {0.0f, 0.1f}) {
    const auto r = test::gradcheck(
        [&](const std::vector<Tensor>& in) { return layers::cross_entropy(in[0], kTarget, s); },
        {test::uniform({3, 4}, -2, 2, 1)});
    INFO(r.message);
    CHECK(r.ok);
  }
  CHECK_THROWS_WITH(layers::cross_entropy(logits, Tensor::from_vector<std::int64_t>({5, 1}, {2})),
                    Catch::Contains("5"));
}

TEST_CASE("squared_hinge is the batch mean of per-sample sums over classes",
          "[losses][gradcheck]") {
  // Sample 0 (target 1): t = (-1, +1, -1); y = (0.5, 0.2, -2): max(0, 1 + 0.5)^2 = 2.25,
  //   max(0, 1 - 0.2)^2 = 0.64, max(0, 1 - 2)^2 = 0.
  // Sample 1 (target 0): t = (+1, -1, -1); y = (2, 0, 0.5): 0 + 1 + 2.25.
  const Tensor y = Tensor::from_vector<float>({0.5f, 0.2f, -2.0f, 2.0f, 0.0f, 0.5f}, {2, 3});
  const Tensor t = Tensor::from_vector<std::int64_t>({1, 0}, {2});
  CHECK(layers::squared_hinge(y, t).item() == Approx((2.25 + 0.64 + 3.25) / 2.0));
  const auto r = test::gradcheck(
      [&](const std::vector<Tensor>& in) { return layers::squared_hinge(in[0], kTarget); },
      {test::uniform({3, 4}, -1.7f, 1.7f, 2)});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("mse value and gradient", "[losses][gradcheck]") {
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector<float>({1, 0, 3, 1}, {2, 2});
  CHECK(layers::mse(a, b).item() == Approx((4.0 + 9.0) / 4.0));
  const auto r =
      test::gradcheck([](const std::vector<Tensor>& in) { return layers::mse(in[0], in[1]); },
                      {test::uniform({3, 5}, -1, 1, 3), test::uniform({3, 5}, -1, 1, 4)});
  INFO(r.message);
  CHECK(r.ok);
  CHECK_THROWS_WITH(layers::mse(a, Tensor::zeros({4})), Catch::Contains("same shape"));
}

TEST_CASE("distillation_kl is T^2 KL(teacher || student), zero at agreement",
          "[losses][gradcheck]") {
  const Tensor s = test::uniform({3, 4}, -2, 2, 5, false);
  CHECK(layers::distillation_kl(s, s, 3.0f).item() == Approx(0.0).margin(1e-6));
  // Hand value for one sample, T = 2: p = softmax(t/2), q = softmax(s/2).
  const std::vector<float> sv{0.0f, 1.0f}, tv{2.0f, 0.0f};
  const double ps1 = 1.0 / (1.0 + std::exp(-0.5)), pt0 = 1.0 / (1.0 + std::exp(-1.0));
  const double p[2] = {pt0, 1 - pt0}, q[2] = {1 - ps1, ps1};
  const double kl = p[0] * std::log(p[0] / q[0]) + p[1] * std::log(p[1] / q[1]);
  CHECK(layers::distillation_kl(Tensor::from_vector(sv, {1, 2}), Tensor::from_vector(tv, {1, 2}),
                                2.0f)
            .item() == Approx(4.0 * kl).epsilon(1e-5));
  for (const float temperature : {1.0f, 4.0f}) {
    const auto r = test::gradcheck(
        [&](const std::vector<Tensor>& in) {
          return layers::distillation_kl(in[0], in[1], temperature);
        },
        {test::uniform({3, 4}, -2, 2, 6), test::uniform({3, 4}, -2, 2, 7)});
    INFO("T = " << temperature << ": " << r.message);
    CHECK(r.ok);
  }
}
