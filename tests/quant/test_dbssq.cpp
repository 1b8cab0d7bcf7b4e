// DBSSQ (methods.md 7) against the self-checks of 7.5 and the uniform n-bit levels of 7.1.
#include "core/ops.hpp"
#include "quant/dbssq.hpp"
#include "quant/quant_layers.hpp"
#include "quant/scheme.hpp"
#include "quant/training.hpp"
#include "tests/quant/quant_test_util.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace lowbit;
using core::Tensor;
using quant::DbssqLevels;
using quant::DbssqOptions;

using test::values;
using test::vec;
using test::grad_of;
using test::require_close;

namespace {

DbssqOptions shift(int s, bool scaling = true) { return {DbssqLevels::shift, s, scaling}; }
DbssqOptions uniform(int n, bool scaling = true) { return {DbssqLevels::uniform, n, scaling}; }

// The specification read literally: the smallest level >= |x| (clamped to the top level), the
// sign of x with sign(0) = -1.
float brute_force_level(float x, const std::vector<float>& magnitudes) {
  float best = *std::max_element(magnitudes.begin(), magnitudes.end());  // the top level
  for (float m : magnitudes) {
    if (m >= std::fabs(x) && m < best) best = m;
  }
  return x <= 0.0f ? -best : best;
}

}  // namespace

TEST_CASE("dbssq shift s=2 at eps 0: ceiling levels, sign(0) = -1 (7.5 self-check 1)",
          "[quant][dbssq]") {
  Tensor x = vec({0.3f, 0.1f, 0.7f, -0.2f, 1.7f, 0.0f, 0.01f});
  require_close(values(quant::dbssq_blend(x, 0.0f, shift(2))),
                {0.5f, 0.125f, 1, -0.25f, 1, -0.125f, 0.125f}, 0.0f);
  // Exact powers of two sit on their own level; -0 is <= 0 as well.
  REQUIRE(quant::dbssq_level(0.25f, shift(2)) == 0.25f);
  REQUIRE(quant::dbssq_level(-0.125f, shift(2)) == -0.125f);
  REQUIRE(quant::dbssq_level(-0.0f, shift(2)) == -0.125f);
  REQUIRE(quant::dbssq_level(0.0f, shift(0)) == -1.0f);
  REQUIRE(quant::dbssq_level(1e-6f, shift(3)) == std::ldexp(1.0f, -7));
}

TEST_CASE("dbssq shift s=2 at eps 0.5 (7.5 self-check 2)", "[quant][dbssq]") {
  Tensor x = vec({0.3f, -0.2f});
  require_close(values(quant::dbssq_blend(x, 0.5f, shift(2))), {0.4f, -0.225f}, 1e-7f);
  // Half way between x and Q(x) everywhere.
  const Tensor grid = test::uniform({257}, -2.0f, 2.0f, 3);
  const auto in = values(grid);
  const auto half = values(quant::dbssq_blend(grid, 0.5f, shift(2)));
  for (std::size_t i = 0; i < in.size(); ++i) {
    REQUIRE(half[i] ==
            Approx(0.5f * in[i] + 0.5f * quant::dbssq_level(in[i], shift(2))).margin(1e-6));
  }
}

TEST_CASE("dbssq levels match the specification's ceiling rule (shift and uniform)",
          "[quant][dbssq]") {
  const Tensor grid = test::uniform({4001}, -1.5f, 1.5f, 7);
  auto xs = values(grid);
  for (float v : {0.0f, 1.0f, -1.0f, 0.5f, 0.25f, 0.125f, 0.75f, -0.375f, 2.0f}) xs.push_back(v);
  for (int s = 0; s <= 3; ++s) {
    std::vector<float> mags;
    for (int j = 0; j < (1 << s); ++j) mags.push_back(std::ldexp(1.0f, -j));
    for (float x : xs) {
      INFO("s = " << s << ", x = " << x);
      REQUIRE(quant::dbssq_level(x, shift(s)) == brute_force_level(x, mags));
    }
  }
  for (int n = 1; n <= 4; ++n) {
    std::vector<float> mags;
    const int half = 1 << (n - 1);
    for (int k = 1; k <= half; ++k)
      mags.push_back(static_cast<float>(k) / static_cast<float>(half));
    for (float x : xs) {
      INFO("n = " << n << ", x = " << x);
      REQUIRE(quant::dbssq_level(x, uniform(n)) == brute_force_level(x, mags));
    }
  }
}

TEST_CASE("dbssq uniform n-bit levels: 2^n levels, no zero, ceiling assignment", "[quant][dbssq]") {
  Tensor x = vec({0.3f, -0.3f, 0.0f, 0.5f, 0.51f, 2.0f, -0.01f});
  require_close(values(quant::dbssq_blend(x, 0.0f, uniform(2))),
                {0.5f, -0.5f, -0.5f, 0.5f, 1, 1, -0.5f}, 0.0f);
  require_close(values(quant::dbssq_blend(x, 0.0f, uniform(3))),
                {0.5f, -0.5f, -0.25f, 0.5f, 0.75f, 1, -0.25f}, 0.0f);
  require_close(values(quant::dbssq_blend(x, 0.0f, uniform(1))), {1, -1, -1, 1, 1, 1, -1}, 0.0f);
  // The level set of n bits has exactly 2^n values.
  const auto all = values(quant::dbssq_blend(test::uniform({2001}, -2, 2, 5), 0.0f, uniform(3)));
  std::vector<float> distinct;
  for (float v : all) {
    if (std::find(distinct.begin(), distinct.end(), v) == distinct.end()) distinct.push_back(v);
  }
  REQUIRE(distinct.size() == 8);
}

TEST_CASE("dbssq eps 1 is an exact identity in values and gradient (7.5 self-check 3)",
          "[quant][dbssq]") {
  for (const bool scaling : {true, false}) {
    for (const auto& o : {shift(2, scaling), uniform(4, scaling)}) {
      const std::vector<float> in{0.3f, -0.2f, 0.0f, 1.7f, -3.25f, 1e-5f};
      Tensor x = vec(in);
      const Tensor q = quant::dbssq_blend(x, 1.0f, o);
      require_close(values(q), in, 0.0f);
      require_close(grad_of(x, q, {1, -2, 3, 0.5f, 7, -1}), {1, -2, 3, 0.5f, 7, -1}, 0.0f);
    }
  }
}

TEST_CASE("dbssq gradient: eps without scaling, 1 with scaling (7.5 self-check 4)",
          "[quant][dbssq]") {
  for (const float eps : {0.0f, 0.125f, 0.5f, 0.75f}) {
    const std::vector<float> up{1, -2, 0.5f, 4};
    Tensor a = vec({0.3f, -0.2f, 0.0f, 1.7f});
    require_close(grad_of(a, quant::dbssq_blend(a, eps, shift(2, false)), up),
                  {eps * 1, eps * -2, eps * 0.5f, eps * 4}, 1e-7f);
    Tensor b = vec({0.3f, -0.2f, 0.0f, 1.7f});
    require_close(grad_of(b, quant::dbssq_blend(b, eps, shift(2, true)), up), up, 0.0f);
  }
  // Between level boundaries the forward is linear with slope eps: central differences agree.
  const float eps = 0.25f;
  const float x0 = 0.3f, h = 1e-3f;  // 0.3 +- h stays inside (0.25, 0.5]
  const float slope = (quant::dbssq_level(x0 + h, shift(2)) * (1 - eps) + eps * (x0 + h) -
                       quant::dbssq_level(x0 - h, shift(2)) * (1 - eps) - eps * (x0 - h)) /
                      (2 * h);
  REQUIRE(slope == Approx(eps).epsilon(1e-3));
}

TEST_CASE("dbssq weights at eps 0: w_q / (3 sigma_c) is exactly +-2^-j (7.5 self-check 5)",
          "[quant][dbssq]") {
  for (const int s : {1, 2, 3}) {
    quant::DbssqWeightQuantizer wq(6, shift(s), quant::EpsSchedule::parse("halving", 0.0));
    Tensor w = test::uniform({6, 4, 3, 3}, -0.2f, 0.3f, 11 + s);
    w.set_requires_grad(true);
    wq.train();
    REQUIRE_FALSE(wq.captured());
    (void)wq.forward(w);  // the first training forward captures sigma_c
    REQUIRE(wq.captured());
    const auto sigma = values(wq.sigma());
    wq.eval();  // eval: eps = 0
    REQUIRE(wq.eps() == 0.0f);
    const auto q = values(wq.forward(w));
    const std::int64_t per = 4 * 3 * 3;
    for (std::size_t i = 0; i < q.size(); ++i) {
      const float u = q[i] / (3.0f * sigma[i / per]);
      const float e = std::log2(std::fabs(u));
      INFO("s = " << s << ", element " << i << ": " << u);
      REQUIRE(e == std::round(e));
      REQUIRE(e <= 0.0f);
      REQUIRE(e >= -static_cast<float>((1 << s) - 1));
    }
    // The factored form: values are the +-2^-j themselves, out_scale = 3 sigma_c.
    const quant::FactoredWeight f = wq.factored(w);
    const auto scale = values(f.out_scale);
    for (std::size_t c = 0; c < sigma.size(); ++c) REQUIRE(scale[c] == 3.0f * sigma[c]);
  }
}

TEST_CASE("dbssq weights: per-channel normalisation, sigma fixed from the starting weights",
          "[quant][dbssq]") {
  quant::DbssqWeightQuantizer wq(2, shift(2), quant::EpsSchedule::parse("constant", 1.0));
  // Channel 0: mean 2.5, unbiased std sqrt(5/3); channel 1: mean 0, std sqrt(10/3).
  Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, -2, -1, 1, 2}, {2, 4});
  w.set_requires_grad(true);
  wq.train();
  const Tensor q = wq.forward(w);  // eps = 1: w_q = sigma_c (w - mean_c) / std_c = w - mean_c
  require_close(values(q), {-1.5f, -0.5f, 0.5f, 1.5f, -2, -1, 1, 2}, 1e-5f);
  REQUIRE(values(wq.sigma())[0] == Approx(std::sqrt(5.0 / 3.0)));
  // Exact gradient with scaling: dw_q/dw = 3 sigma * 1 * 1/(3 std) = 1 while std = sigma.
  require_close(grad_of(w, q, {1, 1, 1, 1, 2, 2, 2, 2}), {1, 1, 1, 1, 2, 2, 2, 2}, 1e-5f);
  // Doubling the weights doubles std but not sigma: w_q keeps the starting scale.
  Tensor w2 = Tensor::from_vector(std::vector<float>{2, 4, 6, 8, -4, -2, 2, 4}, {2, 4});
  require_close(values(wq.forward(w2)), {-1.5f, -0.5f, 0.5f, 1.5f, -2, -1, 1, 2}, 1e-5f);
  // sigma and the capture flag are buffers: saved in checkpoints.
  const auto dict = wq.state_dict();
  REQUIRE(dict.contains("sigma"));
  REQUIRE(dict.contains("initialized"));
}

TEST_CASE("dbssq eps schedule: the paper's halving table mapped onto train.epochs",
          "[quant][dbssq]") {
  const auto halving = quant::EpsSchedule::parse("halving", 0.0);
  const std::vector<double> paper{1,        0.5,      0.5,      0.5,      0.25,
                                  0.25,     0.25,     0.125,    0.125,    0.125,
                                  1.0 / 16, 1.0 / 16, 1.0 / 32, 1.0 / 64, 1.0 / 128};
  for (int e = 0; e < 15; ++e) REQUIRE(halving.at(e, 15) == paper[static_cast<std::size_t>(e)]);
  // 6 epochs use the paper's epochs floor(e * 15 / 6) = 0, 2, 5, 7, 10, 12.
  const std::vector<double> six{1, 0.5, 0.25, 0.125, 1.0 / 16, 1.0 / 32};
  for (int e = 0; e < 6; ++e) REQUIRE(halving.at(e, 6) == six[static_cast<std::size_t>(e)]);
  REQUIRE(quant::EpsSchedule::parse("constant", 0.3).at(4, 6) == 0.3);
  REQUIRE_THROWS_WITH(quant::EpsSchedule::parse("cosine", 0.0), Catch::Contains("halving"));
  REQUIRE_THROWS_WITH(quant::EpsSchedule::parse("constant", 1.5), Catch::Contains("[0, 1]"));

  // set_epoch reaches every quantizer of a model; eval mode always uses eps = 0.
  quant::DbssqWeightQuantizer wq(2, shift(2), halving);
  REQUIRE(wq.eps() == 1.0f);
  wq.set_epoch(3, 6);
  REQUIRE(wq.eps() == 0.125f);
  wq.eval();
  REQUIRE(wq.eps() == 0.0f);
}

TEST_CASE("dbssq activations: parameter-free batch norm, then 3 q(a_n / 3)", "[quant][dbssq]") {
  quant::DbssqActivationQuantizer aq(3, shift(2), quant::EpsSchedule::parse("constant", 0.0));
  REQUIRE(aq.named_parameters().empty());  // no affine parameters
  REQUIRE(aq.state_dict().contains("norm.running_mean"));
  Tensor x = test::uniform({4, 3, 5, 5}, 0.0f, 4.0f, 21);
  aq.train();
  const auto q = values(aq.forward(x));
  for (float v : q) {
    const float e = std::log2(std::fabs(v) / 3.0f);
    REQUIRE(e == std::round(e));
    REQUIRE(e >= -3.0f);
    REQUIRE(e <= 0.0f);
  }
  // Running statistics moved towards the batch mean (about 2).
  REQUIRE(values(aq.state_dict().at("norm.running_mean"))[0] > 0.1f);
  // Linear inputs (N, C) go through the same normalisation.
  Tensor y = test::uniform({8, 3}, -1.0f, 1.0f, 22);
  REQUIRE(aq.forward(y).shape() == y.shape());
  REQUIRE_THROWS_WITH(aq.forward(test::uniform({2, 4}, -1, 1, 1)), Catch::Contains("(N, 3)"));
}

TEST_CASE("dbssq scheme: weights only by default, activations when asked", "[quant][dbssq]") {
  test::register_quant_builtins();  // once per process, shared with the other quant tests
  quant::QuantConfig config;
  config.defaults.scheme = "dbssq";
  config.defaults.weight_bits = 2;
  quant::validate(config);
  const std::vector<std::string> names{"conv1", "conv2", "fc"};
  layers::LayerFactory f = quant::make_layer_factory(config, names);
  core::Rng rng(1);
  auto conv2 = f.make_conv({8, 16, 3, 1, 1, 1, 1, false}, "conv2", rng);
  auto* q = dynamic_cast<quant::QuantConv2d*>(conv2.get());
  REQUIRE(q != nullptr);
  REQUIRE(q->weight_quantizer().type_name() == "dbssq");
  REQUIRE(q->weight_quantizer().bits() == 3);  // sign + 2 shift bits
  REQUIRE(q->input_quantizer().type_name() == "none");

  config.defaults.activation_quantizer = "dbssq";
  f = quant::make_layer_factory(config, names);
  auto conv2a = f.make_conv({8, 16, 3, 1, 1, 1, 1, false}, "conv2", rng);
  auto* qa = dynamic_cast<quant::QuantConv2d*>(conv2a.get());
  REQUIRE(qa->input_quantizer().type_name() == "dbssq");
  REQUIRE(qa->state_dict().contains("input_quantizer.norm.running_var"));
  qa->train();
  quant::set_quantizer_epoch(*qa, 1, 2);  // halving over 2 epochs: paper epoch 7, eps 1/8
  REQUIRE(dynamic_cast<quant::DbssqQuantizer&>(qa->input_quantizer()).eps() == 0.125f);
  const Tensor y = (*qa)(test::uniform({2, 8, 6, 6}, -1, 1, 3));
  REQUIRE(y.shape() == core::Shape({2, 16, 6, 6}));

  // Bad settings fail at validation with the key path.
  config.defaults.weight_bits = 6;
  REQUIRE_THROWS_WITH(quant::validate(config), Catch::Contains("shift bits"));
  config.defaults.weight_bits = 2;
  config.defaults.eps_schedule = "linear";
  REQUIRE_THROWS_WITH(quant::validate(config), Catch::Contains("eps_schedule"));
}
