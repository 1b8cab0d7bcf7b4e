#include "core/ops.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

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

TEST_CASE("reduce: hand values along axes", "[reduce]") {
  Tensor x = Tensor::from_vector<float>({1, 5, 3, 4, 2, 6}, Shape{2, 3});
  CHECK(sum(x).item() == 21);
  CHECK(sum(x, {0}).to_vector<float>() == std::vector<float>{5, 7, 9});
  CHECK(sum(x, {-1}, true).shape() == Shape{2, 1});
  CHECK(mean(x, {1}).to_vector<float>() == std::vector<float>{3, 4});
  CHECK(mean(x).item() == 3.5);
  CHECK(max(x, 1).to_vector<float>() == std::vector<float>{5, 6});
  CHECK(argmax(x, 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2});
  CHECK(argmax(x, 0).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 1});
  CHECK(argmax(Tensor::from_vector<float>({2, 2, 1}, Shape{3}), 0).item() == 0);  // first max
  CHECK(sum(x.transpose(0, 1), {1}).to_vector<float>() == std::vector<float>{5, 7, 9});
  CHECK(sum_to(Tensor::ones(Shape{4, 2, 3}), Shape{2, 1}).to_vector<float>() ==
        std::vector<float>{12, 12});
  CHECK_THROWS_WITH(sum(x, {2}), Contains("sum") && Contains("axis 2"));
}

TEST_CASE("gradcheck: reductions", "[reduce][gradcheck]") {
  const auto x = uniform(Shape{3, 4, 5}, -1, 1, 21);
  require_gradcheck([](const auto& in) { return sum(in[0]); }, {x});
  require_gradcheck([](const auto& in) { return sum(in[0], {0, 2}); }, {x});
  require_gradcheck([](const auto& in) { return mean(in[0], {1}, true); }, {x});
  require_gradcheck([](const auto& in) { return mean(in[0].permute({2, 0, 1}), {0}); }, {x});
  require_gradcheck([](const auto& in) { return max(in[0], 2); }, {x});
  require_gradcheck([](const auto& in) { return max(in[0].transpose(0, 2), 1, true); }, {x});
  require_gradcheck([](const auto& in) { return sum_to(in[0], Shape{4, 1}); }, {x});
}

TEST_CASE("matmul: hand values, transposed views, errors", "[linalg]") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor b = Tensor::from_vector<float>({1, 0, 0, 1, 1, 1}, Shape{3, 2});
  CHECK(matmul(a, b).to_vector<float>() == std::vector<float>{4, 5, 10, 11});
  // a^T a through a transposed view (no copy) and through a packed copy agree.
  CHECK(matmul(a.transpose(0, 1), a).to_vector<float>() ==
        matmul(a.transpose(0, 1).contiguous(), a).to_vector<float>());
  // A view with a step is neither row- nor column-major: it is packed first.
  Tensor big = uniform(Shape{4, 6}, -1, 1, 3, false);
  CHECK(lowbit::test::max_rel_error(matmul(big.slice(1, 0, 6, 2), b),
                                    matmul(big.slice(1, 0, 6, 2).contiguous(), b)) == 0.0);
  CHECK_THROWS_WITH(matmul(a, a), Contains("matmul") && Contains("[2, 3]"));
  Tensor w = Tensor::from_vector<float>({1, 1, 1, 0, 0, 1}, Shape{2, 3});
  Tensor bias = Tensor::from_vector<float>({10, 20}, Shape{2});
  CHECK(linear(a, w, bias).to_vector<float>() == std::vector<float>{16, 23, 25, 26});
  CHECK_THROWS_WITH(linear(a, w, Tensor::ones(Shape{3})), Contains("linear") && Contains("bias"));
}

TEST_CASE("gradcheck: matmul and linear, including transposed operands", "[linalg][gradcheck]") {
  const auto a = uniform(Shape{3, 5}, -1, 1, 31);
  const auto b = uniform(Shape{5, 4}, -1, 1, 32);
  require_gradcheck([](const auto& in) { return matmul(in[0], in[1]); }, {a, b});
  require_gradcheck([](const auto& in) { return matmul(in[1].transpose(0, 1), in[0].transpose(0, 1)); },
                    {a, b});
  const auto w = uniform(Shape{4, 5}, -1, 1, 33);
  const auto bias = uniform(Shape{4}, -1, 1, 34);
  require_gradcheck([](const auto& in) { return linear(in[0], in[1], in[2]); }, {a, w, bias});
}
