// Pooling, batch-norm and loss ops: gradients against central differences, values against hand
// computations, running-stat updates, numerical stability and error messages.

#include "core/kernels/dispatch.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace {

using namespace lowbit::core;  // NOLINT: test file
using lowbit::test::gradcheck;
using lowbit::test::uniform;

// Distinct values 0.05 apart in random order, so a 1e-3 gradcheck step never reorders a window.
Tensor distinct(const Shape& shape, std::uint64_t seed) {
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.05f * static_cast<float>(i) - 1.0f;
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  Tensor t = Tensor::from_vector(v, shape);
  t.set_requires_grad(true);
  return t;
}

Pool2dParams window(std::int64_t k, std::int64_t s, std::int64_t p) { return {k, k, s, s, p, p}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// pooling

TEST_CASE("max_pool2d gradcheck", "[gradcheck]") {
  for (const Pool2dParams& p : {window(2, 2, 0), window(3, 2, 1), window(3, 1, 1)}) {
    INFO("kernel " << p.kernel_h << " stride " << p.stride_h << " pad " << p.pad_h);
    auto r = gradcheck([&](const auto& in) { return max_pool2d(in[0], p); },
                       {distinct({2, 3, 5, 6}, 3)});
    INFO(r.message);
    REQUIRE(r);
  }
  // A non-contiguous input (H and W swapped inside f).
  auto r = gradcheck(
      [](const auto& in) { return max_pool2d(in[0].transpose(2, 3), window(3, 2, 1)); },
      {distinct({1, 2, 6, 5}, 4)});
  INFO(r.message);
  REQUIRE(r);
}

TEST_CASE("max_pool2d forward values: padding never wins", "[gradcheck]") {
  // x: (1,1,2,2) all negative, 3x3 window, pad 1 -> every output is the plane maximum -1.
  const Tensor x = Tensor::from_vector<float>({-4, -1, -3, -2}, {1, 1, 2, 2});
  const Tensor y = max_pool2d(x, window(3, 1, 1));
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.to_vector<float>() == std::vector<float>{-1, -1, -1, -1});
}

TEST_CASE("avg_pool2d gradcheck with padding", "[gradcheck]") {
  for (const Pool2dParams& p : {window(3, 2, 1), window(2, 1, 1), window(2, 2, 0)}) {
    INFO("kernel " << p.kernel_h << " stride " << p.stride_h << " pad " << p.pad_h);
    auto r = gradcheck([&](const auto& in) { return avg_pool2d(in[0], p); },
                       {uniform({2, 2, 5, 6}, -1, 1, 11)});
    INFO(r.message);
    REQUIRE(r);
  }
  // count_include_pad: x = [[1,2],[3,4]], 2x2 window, stride 2, pad 1 -> each corner / 4.
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  CHECK(avg_pool2d(x, window(2, 2, 1)).to_vector<float>() ==
        std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f});
}

TEST_CASE("global_avg_pool2d gradcheck and values", "[gradcheck]") {
  auto r = gradcheck([](const auto& in) { return global_avg_pool2d(in[0]); },
                     {uniform({3, 4, 3, 5}, -1, 1, 12)});
  INFO(r.message);
  REQUIRE(r);
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  const Tensor y = global_avg_pool2d(x);
  CHECK(y.shape() == Shape{1, 2});
  CHECK(y.to_vector<float>() == std::vector<float>{2.5f, 25.0f});
}

TEST_CASE("pooling ops: optimized and reference kernels agree", "[gradcheck]") {
  const kernels::KernelPath saved = kernels::kernel_path();
  const Tensor x = uniform({2, 3, 33, 31}, -1, 1, 13, false);
  std::vector<std::vector<float>> outs;
  for (const auto path : {kernels::KernelPath::optimized, kernels::KernelPath::reference}) {
    kernels::set_kernel_path(path);
    outs.push_back(max_pool2d(x, window(3, 2, 1)).to_vector<float>());
    outs.push_back(avg_pool2d(x, window(3, 2, 1)).to_vector<float>());
  }
  kernels::set_kernel_path(saved);
  CHECK(outs[0] == outs[2]);
  CHECK(lowbit::test::max_abs_error(outs[1], outs[3]) < 1e-6);
}

TEST_CASE("pooling ops reject bad inputs", "[gradcheck]") {
  CHECK_THROWS_WITH(max_pool2d(uniform({2, 3, 4}), window(2, 2, 0)),
                    Catch::Contains("max_pool2d") && Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_WITH(avg_pool2d(uniform({1, 1, 4, 4}), window(2, 2, 2)),
                    Catch::Contains("avg_pool2d") && Catch::Contains("padding"));
  CHECK_THROWS_WITH(max_pool2d(uniform({1, 1, 2, 2}), window(3, 1, 0)),
                    Catch::Contains("larger than the padded input"));
  CHECK_THROWS_WITH(global_avg_pool2d(uniform({2, 3})), Catch::Contains("global_avg_pool2d"));
}

// ---------------------------------------------------------------------------------------------
// batch norm

TEST_CASE("batch_norm train-mode gradcheck wrt x, gamma, beta", "[gradcheck]") {
  for (const Shape& shape : {Shape{6, 3}, Shape{3, 2, 3, 4}}) {
    INFO("input " << shape.str());
    const std::int64_t C = shape[1];
    Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
    auto r = gradcheck(
        [&](const auto& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); },
        {uniform(shape, -2, 2, 21), uniform({C}, 0.5, 1.5, 22), uniform({C}, -1, 1, 23)});
    INFO(r.message);
    REQUIRE(r);
    // Without affine parameters and without running stats.
    auto r2 = gradcheck(
        [&](const auto& in) {
          return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
        },
        {uniform(shape, -2, 2, 24)});
    INFO(r2.message);
    REQUIRE(r2);
  }
}

TEST_CASE("batch_norm eval-mode gradcheck", "[gradcheck]") {
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 3, 2}}) {
    INFO("input " << shape.str());
    Tensor rm = Tensor::from_vector<float>({0.1f, -0.2f, 0.3f}, {3});
    Tensor rv = Tensor::from_vector<float>({0.5f, 1.5f, 2.0f}, {3});
    auto r = gradcheck(
        [&](const auto& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false); },
        {uniform(shape, -2, 2, 31), uniform({3}, 0.5, 1.5, 32), uniform({3}, -1, 1, 33)});
    INFO(r.message);
    REQUIRE(r);
    // Eval mode leaves the running stats alone.
    CHECK(rm.to_vector<float>() == std::vector<float>{0.1f, -0.2f, 0.3f});
    CHECK(rv.to_vector<float>() == std::vector<float>{0.5f, 1.5f, 2.0f});
  }
}

TEST_CASE("batch_norm running stats and outputs match a hand computation", "[gradcheck]") {
  // x: (4,2); channel 0 = {1,2,3,4}: mean 2.5, biased var 1.25, unbiased 5/3;
  //           channel 1 = {2,2,2,6}: mean 3, biased var 3, unbiased 4.
  const Tensor x = Tensor::from_vector<float>({1, 2, 2, 2, 3, 2, 4, 6}, {4, 2});
  const Tensor gamma = Tensor::from_vector<float>({2.0f, 0.5f}, {2});
  const Tensor beta = Tensor::from_vector<float>({1.0f, -1.0f}, {2});
  Tensor rm = Tensor::from_vector<float>({0.0f, 1.0f}, {2});
  Tensor rv = Tensor::from_vector<float>({1.0f, 2.0f}, {2});
  const float eps = 1e-5f, m = 0.1f;
  const Tensor y = batch_norm(x, gamma, beta, rm, rv, true, m, eps);
  const std::vector<float> rmv = rm.to_vector<float>(), rvv = rv.to_vector<float>();
  CHECK(rmv[0] == Approx(0.9 * 0.0 + 0.1 * 2.5));
  CHECK(rmv[1] == Approx(0.9 * 1.0 + 0.1 * 3.0));
  CHECK(rvv[0] == Approx(0.9 * 1.0 + 0.1 * 5.0 / 3.0));
  CHECK(rvv[1] == Approx(0.9 * 2.0 + 0.1 * 4.0));
  const std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  const double mu[2] = {2.5, 3.0}, var[2] = {1.25, 3.0}, g[2] = {2.0, 0.5}, b[2] = {1.0, -1.0};
  for (int i = 0; i < 8; ++i) {
    const int c = i % 2;
    CHECK(yv[i] == Approx((xv[i] - mu[c]) / std::sqrt(var[c] + eps) * g[c] + b[c]));
  }
  // Eval mode now normalises with the updated running stats.
  const Tensor ye = batch_norm(x, gamma, beta, rm, rv, false, m, eps);
  const std::vector<float> yev = ye.to_vector<float>();
  for (int i = 0; i < 8; ++i) {
    const int c = i % 2;
    CHECK(yev[i] == Approx((xv[i] - rmv[c]) / std::sqrt(rvv[c] + eps) * g[c] + b[c]));
  }
}

TEST_CASE("batch_norm on (N,C,H,W) updates running stats per channel", "[gradcheck]") {
  // x: (2,2,1,2); channel 0 = {0,2,4,6} (mean 3, unbiased var 20/3), channel 1 = 5 everywhere.
  const Tensor x = Tensor::from_vector<float>({0, 2, 5, 5, 4, 6, 5, 5}, {2, 2, 1, 2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  const Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.5f);
  CHECK(rm.to_vector<float>()[0] == Approx(1.5));
  CHECK(rm.to_vector<float>()[1] == Approx(2.5));
  CHECK(rv.to_vector<float>()[0] == Approx(0.5 + 0.5 * 20.0 / 3.0));
  CHECK(rv.to_vector<float>()[1] == Approx(0.5).margin(1e-6));  // zero batch variance
  const std::vector<float> yv = y.to_vector<float>();
  CHECK(yv[2] == Approx(0.0).margin(1e-6));  // constant channel -> 0
  CHECK(yv[0] == Approx(-3.0 / std::sqrt(5.0 + 1e-5)));
}

TEST_CASE("batch_norm rejects bad inputs", "[gradcheck]") {
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH(batch_norm(uniform({4, 3, 5}), Tensor(), Tensor(), rm, rv, true),
                    Catch::Contains("batch_norm") && Catch::Contains("[4, 3, 5]"));
  CHECK_THROWS_WITH(batch_norm(uniform({4, 3}), uniform({4}), Tensor(), rm, rv, true),
                    Catch::Contains("gamma") && Catch::Contains("[4]"));
  CHECK_THROWS_WITH(batch_norm(uniform({1, 3}), Tensor(), Tensor(), rm, rv, true),
                    Catch::Contains("more than one value"));
  CHECK_THROWS_WITH(batch_norm(uniform({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false),
                    Catch::Contains("eval mode needs running_mean"));
}

// ---------------------------------------------------------------------------------------------
// log_softmax and cross_entropy

TEST_CASE("log_softmax gradcheck along each axis", "[gradcheck]") {
  for (const std::int64_t axis : {-1, 0, 1}) {
    INFO("axis " << axis);
    auto r = gradcheck([&](const auto& in) { return log_softmax(in[0], axis); },
                       {uniform({3, 4, 5}, -2, 2, 41)});
    INFO(r.message);
    REQUIRE(r);
  }
  auto r = gradcheck([](const auto& in) { return log_softmax(in[0].transpose(0, 1), 1); },
                     {uniform({5, 4}, -2, 2, 42)});
  INFO(r.message);
  REQUIRE(r);
}

TEST_CASE("log_softmax values are normalised and stable at large logits", "[gradcheck]") {
  const Tensor y = log_softmax(Tensor::from_vector<float>({1000, 1000, 0, -3, 0, 3}, {2, 3}));
  const std::vector<float> v = y.to_vector<float>();
  CHECK(v[0] == Approx(-std::log(2.0)));
  CHECK(v[1] == Approx(-std::log(2.0)));
  CHECK(v[2] == Approx(-1000.0 - std::log(2.0)));
  const double lse = std::log(std::exp(-3.0) + 1.0 + std::exp(3.0));
  CHECK(v[3] == Approx(-3.0 - lse));
  CHECK(v[5] == Approx(3.0 - lse));
  for (float e : v) CHECK(std::isfinite(e));
}

TEST_CASE("cross_entropy gradcheck with and without label smoothing", "[gradcheck]") {
  const Tensor target = Tensor::from_vector<std::int64_t>({2, 0, 4, 1}, {4});
  for (const float s : {0.0f, 0.1f, 0.3f}) {
    INFO("label_smoothing " << s);
    auto r = gradcheck([&](const auto& in) { return cross_entropy(in[0], target, s); },
                       {uniform({4, 5}, -3, 3, 51)});
    INFO(r.message);
    REQUIRE(r);
  }
  // Composed with a non-contiguous view of the logits.
  auto r = gradcheck(
      [&](const auto& in) { return cross_entropy(in[0].transpose(0, 1), target, 0.2f); },
      {uniform({5, 4}, -3, 3, 52)});
  INFO(r.message);
  REQUIRE(r);
}

TEST_CASE("cross_entropy values match a hand computation", "[gradcheck]") {
  // logits [[1,2,3],[1,1,1]], target [2,0].
  const Tensor logits = Tensor::from_vector<float>({1, 2, 3, 1, 1, 1}, {2, 3});
  const Tensor target = Tensor::from_vector<std::int64_t>({2, 0}, {2});
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double lse1 = 1.0 + std::log(3.0);
  // loss_i = lse_i - sum_c q_c x_c.
  CHECK(cross_entropy(logits, target).item() == Approx(((lse0 - 3.0) + (lse1 - 1.0)) / 2));
  const double s = 0.1, off = s / 3;
  const double q0x = (1 - s) * 3.0 + off * 6.0, q1x = (1 - s) * 1.0 + off * 3.0;
  CHECK(cross_entropy(logits, target, 0.1f).item() == Approx(((lse0 - q0x) + (lse1 - q1x)) / 2));
  // The gradient is (softmax - q) / N.
  Tensor l = logits.clone();
  l.set_requires_grad(true);
  cross_entropy(l, target).backward();
  const std::vector<float> g = l.grad().to_vector<float>();
  CHECK(g[2] == Approx((std::exp(3.0 - lse0) - 1.0) / 2));
  CHECK(g[4] == Approx(1.0 / 6));
}

TEST_CASE("cross_entropy is stable at logits like 1000", "[gradcheck]") {
  Tensor logits = Tensor::from_vector<float>({1000, 0, -1000, 1000, 1000, 0}, {2, 3});
  logits.set_requires_grad(true);
  const Tensor target = Tensor::from_vector<std::int64_t>({0, 2}, {2});
  const Tensor loss = cross_entropy(logits, target);
  // Row 0: loss 0; row 1: lse = 1000 + log 2, loss = 1000 + log 2.
  CHECK(loss.item() == Approx((1000.0 + std::log(2.0)) / 2));
  loss.backward();
  const std::vector<float> g = logits.grad().to_vector<float>();
  for (float e : g) CHECK(std::isfinite(e));
  CHECK(g[3] == Approx(0.25));
  CHECK(g[5] == Approx(-0.5));
}

TEST_CASE("cross_entropy rejects bad targets", "[gradcheck]") {
  const Tensor logits = uniform({3, 4});
  CHECK_THROWS_WITH(
      cross_entropy(logits, Tensor::from_vector<std::int64_t>({0, 4, 1}, {3})),
      Catch::Contains("cross_entropy") && Catch::Contains("value 4") && Catch::Contains("index 1"));
  CHECK_THROWS_WITH(
      cross_entropy(logits, Tensor::from_vector<std::int64_t>({0, 1, -1}, {3})),
      Catch::Contains("cross_entropy") && Catch::Contains("value -1") &&
          Catch::Contains("index 2"));
  CHECK_THROWS_WITH(
      cross_entropy(logits, Tensor::from_vector<std::int32_t>({0, 1, 2}, {3})),
      Catch::Contains("cross_entropy") && Catch::Contains("i32"));
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<float>({0, 1, 2}, {3})),
                    Catch::Contains("cross_entropy") && Catch::Contains("f32"));
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<std::int64_t>({0, 1}, {2})),
                    Catch::Contains("cross_entropy") && Catch::Contains("[2]"));
  CHECK_THROWS_WITH(cross_entropy(uniform({3}), Tensor::from_vector<std::int64_t>({0}, {1})),
                    Catch::Contains("cross_entropy") && Catch::Contains("[3]"));
}
