#include "core/ops.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace lowbit::core;
using lowbit::test::gradcheck;
using lowbit::test::uniform;
using Catch::Matchers::Contains;

namespace {
void require_gradcheck(const lowbit::test::GradFn& f, std::vector<Tensor> inputs) {
  const auto r = gradcheck(f, std::move(inputs));
  INFO(r.message);
  REQUIRE(r);
}
}  // namespace

TEST_CASE("elementwise: binary ops broadcast and match hand values", "[elementwise]") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor b = Tensor::from_vector<float>({10, 20, 30}, Shape{3});
  CHECK((a + b).to_vector<float>() == std::vector<float>{11, 22, 33, 14, 25, 36});
  CHECK((b - a).to_vector<float>() == std::vector<float>{9, 18, 27, 6, 15, 24});
  Tensor c = Tensor::from_vector<float>({2, 4}, Shape{2, 1});
  CHECK((a * c).to_vector<float>() == std::vector<float>{2, 4, 6, 16, 20, 24});
  CHECK((a / 2.0f).to_vector<float>() == std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3});
  CHECK((1.0f - a).to_vector<float>() == std::vector<float>{0, -1, -2, -3, -4, -5});
  CHECK_THROWS_WITH(a + Tensor::ones(Shape{2}), Contains("add") && Contains("[2, 3]") &&
                                                   Contains("[2]"));
  CHECK_THROWS_WITH(a + Tensor::ones(Shape{3}, DType::i64), Contains("add") && Contains("i64"));
}

TEST_CASE("elementwise: sign(0) = +1 and hand values of unary ops", "[elementwise]") {
  Tensor x = Tensor::from_vector<float>({-2, -0.0f, 0, 0.5f, 3}, Shape{5});
  CHECK(sign(x).to_vector<float>() == std::vector<float>{-1, 1, 1, 1, 1});
  CHECK(relu(x).to_vector<float>() == std::vector<float>{0, 0, 0, 0.5f, 3});
  CHECK(hardtanh(x).to_vector<float>() == std::vector<float>{-1, -0.0f, 0, 0.5f, 1});
  CHECK(clamp(x, -1, 2).to_vector<float>() == std::vector<float>{-1, -0.0f, 0, 0.5f, 2});
  CHECK(abs(x).to_vector<float>() == std::vector<float>{2, 0, 0, 0.5f, 3});
  const auto s = sigmoid(Tensor::from_vector<float>({-100, 0, 100}, Shape{3})).to_vector<float>();
  CHECK(s[0] == Approx(0).margin(1e-30));
  CHECK(s[1] == 0.5f);
  CHECK(s[2] == 1.0f);
  CHECK(where(gt(x, 0.0f), x, -x).to_vector<float>() == std::vector<float>{2, 0, -0.0f, 0.5f, 3});
  CHECK(eq(x, Tensor::scalar(0.0f)).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{0, 1, 1, 0, 0});
}

TEST_CASE("gradcheck: binary ops with broadcasting", "[elementwise][gradcheck]") {
  const auto a = uniform(Shape{3, 4}, -1, 1, 1);
  const auto b = uniform(Shape{4}, 0.5f, 2.0f, 2);
  const auto c = uniform(Shape{3, 1}, 0.5f, 2.0f, 3);
  require_gradcheck([](const auto& in) { return in[0] + in[1]; }, {a, b});
  require_gradcheck([](const auto& in) { return in[2] - in[0]; }, {a, b, c});
  require_gradcheck([](const auto& in) { return in[0] * in[1] * in[2]; }, {a, b, c});
  require_gradcheck([](const auto& in) { return in[0] / in[1] + in[0] / in[2]; }, {a, b, c});
  require_gradcheck([](const auto& in) { return -in[0] * 3.0f + 2.0f / in[1]; }, {a, b});
}

TEST_CASE("gradcheck: binary ops on non-contiguous views", "[elementwise][gradcheck]") {
  const auto a = uniform(Shape{4, 3}, -1, 1, 4);
  const auto b = uniform(Shape{3, 4}, -1, 1, 5);
  require_gradcheck([](const auto& in) { return in[0].transpose(0, 1) * in[1]; }, {a, b});
  require_gradcheck([](const auto& in) { return in[0].slice(0, 0, 4, 2) + in[1].slice(0, 1, 3).transpose(0, 1).slice(0, 0, 3).transpose(0, 1); },
                    {a, uniform(Shape{3, 3}, -1, 1, 6)});
}

TEST_CASE("gradcheck: unary ops", "[elementwise][gradcheck]") {
  // Away from kinks: |x| in [0.2, 0.9] with either sign, positive inputs for log/sqrt/pow.
  auto signed_input = [](std::uint64_t seed) {
    Tensor m = uniform(Shape{2, 5}, 0.2f, 0.9f, seed, false);
    Tensor s = sign(uniform(Shape{2, 5}, -1, 1, seed + 100, false));
    Tensor x = (m * s).detach();
    x.set_requires_grad(true);
    return x;
  };
  auto x = signed_input(7);
  const auto pos = uniform(Shape{2, 5}, 0.5f, 2.0f, 8);
  require_gradcheck([](const auto& in) { return exp(in[0]); }, {x});
  require_gradcheck([](const auto& in) { return log(in[0]); }, {pos});
  require_gradcheck([](const auto& in) { return sqrt(in[0]); }, {pos});
  require_gradcheck([](const auto& in) { return pow(in[0], 2.5f); }, {pos});
  require_gradcheck([](const auto& in) { return abs(in[0]); }, {x});
  require_gradcheck([](const auto& in) { return tanh(in[0]); }, {x});
  require_gradcheck([](const auto& in) { return sigmoid(in[0] * 3.0f); }, {x});
  require_gradcheck([](const auto& in) { return relu(in[0]); }, {x});
  require_gradcheck([](const auto& in) { return clamp(in[0], -0.5f, 0.55f); }, {x});
  require_gradcheck([](const auto& in) { return hardtanh(in[0] * 2.0f); }, {x});
  require_gradcheck([](const auto& in) { return where(gt(in[0], 0.0f), in[0] * 2.0f, in[1]); },
                    {x, uniform(Shape{5}, -1, 1, 9)});
  // sign: gradient exactly zero.
  x.zero_grad();
  Tensor y = sum(sign(x) * 3.0f);
  y.backward();
  for (float g : x.grad().to_vector<float>()) CHECK(g == 0.0f);
}

TEST_CASE("elementwise: large tensors take the parallel path correctly", "[elementwise]") {
  const auto a = uniform(Shape{300, 1000}, -1, 1, 10, false);
  const auto b = uniform(Shape{300, 1000}, -1, 1, 11, false);
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  const auto s = (a * b + a).to_vector<float>();
  for (std::size_t i = 0; i < va.size(); i += 997) CHECK(s[i] == va[i] * vb[i] + va[i]);
}
