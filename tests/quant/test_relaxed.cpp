// Relaxed Quantization (methods.md 3c self-checks), the grid regularizer and post-hoc rounding
// (quant/grid_reg.hpp): one grid definition for both.
#include "core/ops.hpp"
#include "layers/models.hpp"
#include "quant/grid_reg.hpp"
#include "quant/quant_layers.hpp"
#include "quant/relaxed.hpp"
#include "quant/relaxed_kernels.hpp"
#include "quant/scheme.hpp"
#include "quant/summary.hpp"
#include "tests/quant/quant_test_util.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace lowbit;
using core::Tensor;
using quant::UniformGrid;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> values(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

Tensor vec(const std::vector<float>& v, bool grad = false) {
  Tensor t = Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())});
  t.set_requires_grad(grad);
  return t;
}

Tensor one(float v, bool grad = true) { return vec({v}, grad); }

// E[x^] under the categorical (the lambda -> 0 mean): sum pi_c (c + o) alpha.
double categorical_mean(float x, float alpha, float sigma, const UniformGrid& g, float delta) {
  const quant::RqCategorical c = quant::rq_categorical(x, alpha, sigma, g, delta);
  double m = 0.0;
  for (std::size_t j = 0; j < c.pi.size(); ++j) {
    m += c.pi[j] * (static_cast<double>(c.first_code) + static_cast<double>(j) + g.offset) * alpha;
  }
  return m;
}

quant::RqOptions options(const UniformGrid& g, float lambda, float delta, bool st = false) {
  quant::RqOptions o;
  o.grid = g;
  o.temperature = lambda;
  o.delta_sigmas = delta;
  o.straight_through = st;
  return o;
}

}  // namespace

TEST_CASE("rq: sum pi = 1 for any x, also far outside the grid (3c self-check 1)", "[quant][rq]") {
  for (const UniformGrid& g : {UniformGrid::signed_grid(2), UniformGrid::unsigned_grid(3)}) {
    for (float sigma : {1e-4f, 0.01f, 0.1667f, 1.0f, 20.0f}) {
      for (float delta : {0.0f, 3.0f, 8.0f, kInf}) {
        for (float x : {-1e6f, -50.0f, -1.3f, -0.25f, 0.0f, 0.1f, 0.26f, 0.75f, 1.9f, 3.0f, 1e6f}) {
          const quant::RqCategorical c = quant::rq_categorical(x, 0.5f, sigma, g, delta);
          double sum = 0.0;
          for (double p : c.pi) {
            REQUIRE(p >= 0.0);
            sum += p;
          }
          INFO("x " << x << " sigma " << sigma << " delta " << delta);
          REQUIRE(std::fabs(sum - 1.0) <= 1e-6);
          REQUIRE(c.first_code >= g.lo);
          REQUIRE(c.first_code + static_cast<std::int64_t>(c.pi.size()) - 1 <= g.hi);
        }
      }
    }
  }
}

TEST_CASE("rq: sigma -> 0 is rounding to the nearest level with clipping (3c self-check 2)",
          "[quant][rq]") {
  const UniformGrid g = UniformGrid::signed_grid(2);  // {-2, -1, 0, 1} alpha
  const float alpha = 0.5f;
  // Away from the bin edges (multiples of alpha/2 off the levels), including beyond the ends.
  const std::vector<float> xs{-3.0f, -1.1f, -0.8f, -0.4f, -0.1f, 0.05f, 0.2f, 0.3f, 0.6f, 2.0f};
  std::vector<float> rounded;
  for (float x : xs) rounded.push_back(g.nearest(x, alpha));
  REQUIRE(rounded == std::vector<float>{-1.0f, -1.0f, -1.0f, -0.5f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.5f});
  for (float x : xs) {
    const quant::RqCategorical c = quant::rq_categorical(x, alpha, 1e-4f * alpha, g, kInf);
    std::size_t arg = 0;
    for (std::size_t j = 1; j < c.pi.size(); ++j) arg = c.pi[j] > c.pi[arg] ? j : arg;
    REQUIRE((static_cast<float>(c.first_code + static_cast<std::int64_t>(arg)) + g.offset) * alpha ==
            g.nearest(x, alpha));
  }
  // The relaxed sample (soft and ST) at lambda = 1 collapses onto the same levels.
  for (bool st : {false, true}) {
    const Tensor y = quant::rq_sample(vec(xs), one(alpha, false), one(1e-4f * alpha, false),
                                      options(g, 1.0f, 3.0f, st), 42);
    const auto v = values(y);
    for (std::size_t i = 0; i < xs.size(); ++i) REQUIRE(v[i] == Approx(rounded[i]).margin(1e-6));
  }
}

TEST_CASE("rq: the local grid moves E[x^] by < 1e-3 alpha at delta = 8 sigma (3c self-check 4)",
          "[quant][rq]") {
  const float alpha = 1.0f;
  double worst8 = 0.0, worst3 = 0.0;
  for (const UniformGrid& g : {UniformGrid::signed_grid(2), UniformGrid::signed_grid(4),
                               UniformGrid::unsigned_grid(3)}) {
    for (float ratio : {0.05f, 0.1f, 0.2f, 1.0f / 3.0f, 0.5f, 1.0f, 2.0f}) {
      for (int k = 0; k <= 400; ++k) {
        const float x = -10.0f + 0.05f * static_cast<float>(k) + 0.0013f;
        const double full = categorical_mean(x, alpha, ratio * alpha, g, kInf);
        worst8 = std::max(worst8, std::fabs(categorical_mean(x, alpha, ratio * alpha, g, 8.0f) - full));
        worst3 = std::max(worst3, std::fabs(categorical_mean(x, alpha, ratio * alpha, g, 3.0f) - full));
      }
    }
  }
  INFO("worst |E_local - E_full| / alpha: delta 8 sigma " << worst8 << ", delta 3 sigma " << worst3);
  REQUIRE(worst8 < 1e-3 * alpha);
  // The paper's 3 sigma is a coarser approximation (logistic tails beyond 3 sigma hold 4.7%).
  REQUIRE(worst3 < 0.15 * alpha);
}

TEST_CASE("rq: gradients to x, alpha and sigma match finite differences", "[quant][rq][gradcheck]") {
  test::GradcheckOptions gc;
  gc.step = 1e-3;
  for (const UniformGrid& g : {UniformGrid::signed_grid(2), UniformGrid::unsigned_grid(2)}) {
    for (float delta : {kInf, 3.0f}) {
      const float alpha = 0.4f, sigma = 0.15f;
      // Keep every x 5e-3 away from where the local window changes ((c + o +- 1/2) alpha -+ delta).
      std::vector<float> xs;
      for (int k = 0; xs.size() < 12 && k < 1000; ++k) {
        const float x = -1.1f + 0.173f * static_cast<float>(k % 14) + 0.011f * static_cast<float>(k / 14);
        bool near_edge = false;
        for (std::int64_t c = g.lo - 1; c <= g.hi + 1 && std::isfinite(delta); ++c) {
          for (float side : {-0.5f, 0.5f}) {
            const float edge = (static_cast<float>(c) + g.offset + side) * alpha;
            near_edge = near_edge || std::fabs(x - (edge - delta * sigma)) < 5e-3f ||
                        std::fabs(x - (edge + delta * sigma)) < 5e-3f;
          }
        }
        if (!near_edge) xs.push_back(x);
      }
      for (float lambda : {0.7f, 2.0f}) {
        INFO("delta " << delta << " lambda " << lambda << " signed " << (g.lo < 0));
        auto f = [&](const std::vector<Tensor>& in) {
          return quant::rq_sample(in[0], in[1], in[2], options(g, lambda, delta), 1234);
        };
        REQUIRE(test::gradcheck(f, {vec(xs, true), one(alpha), one(sigma)}, gc));
      }
    }
  }
}

TEST_CASE("rq-st: hard levels forward, the relaxed gradient backward", "[quant][rq]") {
  const UniformGrid g = UniformGrid::signed_grid(2);
  const std::vector<float> xs{-0.9f, -0.3f, 0.05f, 0.22f, 0.37f};
  std::vector<std::vector<float>> grads;
  for (bool st : {false, true}) {
    Tensor x = vec(xs, true), a = one(0.4f), s = one(0.15f);
    const Tensor y = quant::rq_sample(x, a, s, options(g, 1.0f, 3.0f, st), 99);
    if (st) {
      for (float v : values(y)) {
        const float code = v / 0.4f;
        REQUIRE(std::fabs(code - std::round(code)) < 1e-5f);
        REQUIRE((code >= -2.0f && code <= 1.0f));
      }
    }
    core::sum(y * vec({1.0f, -2.0f, 0.5f, 3.0f, 1.5f})).backward();
    std::vector<float> gv = values(x.grad());
    gv.push_back(values(a.grad())[0]);
    gv.push_back(values(s.grad())[0]);
    grads.push_back(gv);
  }
  REQUIRE(grads[0] == grads[1]);
}

TEST_CASE("rq-st: Gumbel-max samples follow pi (mean over many draws)", "[quant][rq]") {
  const UniformGrid g = UniformGrid::signed_grid(2);
  const float alpha = 0.5f, sigma = 0.2f, x = 0.13f;
  const std::int64_t n = 40000;
  const Tensor y = quant::rq_sample(Tensor::full({n}, x), one(alpha, false), one(sigma, false),
                                    options(g, 0.5f, kInf, true), 7);
  double mean = 0.0, sq = 0.0;
  for (float v : values(y)) {
    mean += v;
    sq += static_cast<double>(v) * v;
  }
  mean /= static_cast<double>(n);
  const double sd = std::sqrt(sq / static_cast<double>(n) - mean * mean);
  REQUIRE(std::fabs(mean - categorical_mean(x, alpha, sigma, g, kInf)) < 4.0 * sd / std::sqrt(double(n)));
}

TEST_CASE("rq: Gumbel draws are finite at the extremes of the random bits", "[quant][rq]") {
  for (std::uint64_t top = 0; top < 4; ++top) {
    for (std::uint64_t bits : {top << 41, ~std::uint64_t{0} - (top << 41)}) {
      INFO("bits " << bits);
      REQUIRE(std::isfinite(quant::gumbel_from_bits(bits)));
    }
  }
  REQUIRE(quant::gumbel_from_bits(~std::uint64_t{0}) > 15.0f);
  REQUIRE(quant::gumbel_from_bits(0) < -2.5f);
}

TEST_CASE("rq forward: the AVX2 kernel equals the scalar reference bit for bit", "[quant][rq]") {
  if (!__builtin_cpu_supports("avx2")) return;  // nothing to compare on this CPU
  namespace k = quant::rq_kernels;
  core::Rng rng(11);
  struct Case {
    UniformGrid grid;
    float alpha, sigma, delta_sigmas, temperature;
    bool straight_through;
  };
  const std::vector<Case> cases{
      {UniformGrid::signed_grid(2), 0.3f, 0.1f, 3.0f, 2.0f, true},     // the training setting
      {UniformGrid::unsigned_grid(2), 0.5f, 0.05f, 3.0f, 0.5f, false},  // narrow windows
      {UniformGrid::signed_grid(4), 0.1f, 0.2f, 3.0f, 1.0f, false},     // wide windows, 16 levels
      {UniformGrid::unsigned_grid(3), 0.2f, 0.01f, 8.0f, 0.7f, true},
      {UniformGrid::unsigned_grid(1), 1.0f, 0.5f, 3.0f, 1.0f, false},   // two levels
  };
  for (const std::int64_t n : {1, 7, 8, 9, 23, 64, 1001}) {
    for (std::size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& c = cases[ci];
      // Values across and beyond the grid, some exactly on levels and bin edges.
      std::vector<float> x(static_cast<std::size_t>(n));
      const float span = static_cast<float>(c.grid.levels()) * c.alpha;
      for (std::size_t i = 0; i < x.size(); ++i) {
        const float u = rng.uniform();
        x[i] = i % 5 == 3 ? (static_cast<float>(c.grid.lo + static_cast<std::int64_t>(i) % c.grid.levels()) +
                             (i % 2 ? 0.5f : 0.0f)) * c.alpha
                          : (2.0f * u - 1.0f) * 1.5f * span;
      }
      if (n > 9) x[7] = std::numeric_limits<float>::quiet_NaN();  // skipped by both, others kept
      const double delta = static_cast<double>(c.delta_sigmas) * c.sigma;
      const auto mw = static_cast<std::int64_t>(
          std::min(std::floor(2.0 * delta / c.alpha) + 2.0, static_cast<double>(c.grid.levels())));
      auto run = [&](bool avx2, std::vector<float>& y, std::vector<std::int64_t>& w, std::vector<float>& z) {
        y.assign(x.size(), -1.0f);
        w.assign(2 * x.size(), -99);
        z.assign(x.size() * static_cast<std::size_t>(mw), -1.0f);
        k::ForwardArgs a;
        a.x = x.data();
        a.alpha = c.alpha;
        a.sigma = c.sigma;
        a.delta = delta;
        a.max_window = mw;
        a.log1m_exp_r = std::log(-std::expm1(-c.alpha / c.sigma));
        a.inv_lambda = 1.0f / c.temperature;
        a.grid = c.grid;
        a.straight_through = c.straight_through;
        a.noise_key = 0x1234567ULL + static_cast<std::uint64_t>(n);
        a.y = y.data();
        a.windows = w.data();
        a.z = z.data();
        return avx2 ? k::forward_avx2(a, 0, n) : k::forward_scalar(a, 0, n);
      };
      std::vector<float> y0, y1, z0, z1;
      std::vector<std::int64_t> w0, w1;
      const bool f0 = run(false, y0, w0, z0), f1 = run(true, y1, w1, z1);
      INFO("n " << n << ", case " << ci);
      CHECK(f0 == (n <= 9));
      CHECK(f1 == f0);
      CHECK(w0 == w1);
      CHECK(std::memcmp(y0.data(), y1.data(), y0.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(z0.data(), z1.data(), z0.size() * sizeof(float)) == 0);
      // Not vacuous: the outputs are grid values (ST) or inside the grid's range, and z sums to 1.
      const float lo = (static_cast<float>(c.grid.lo) + c.grid.offset) * c.alpha;
      const float hi = (static_cast<float>(c.grid.hi) + c.grid.offset) * c.alpha;
      for (std::int64_t e = 0; e < n; ++e) {
        if (std::isnan(x[static_cast<std::size_t>(e)])) continue;
        const float v = y1[static_cast<std::size_t>(e)];
        CHECK((v >= lo - 1e-6f && v <= hi + 1e-6f));
        const std::int64_t m = w1[static_cast<std::size_t>(2 * e + 1)] - w1[static_cast<std::size_t>(2 * e)] + 1;
        REQUIRE((m >= 1 && m <= mw));
        double sum = 0.0;
        for (std::int64_t j = 0; j < m; ++j) sum += z1[static_cast<std::size_t>(e * mw + j)];
        CHECK(sum == Approx(1.0).margin(1e-5));
      }
    }
  }
}

TEST_CASE("rq quantizer: data-driven init, eval = deterministic rounding, annealed lambda",
          "[quant][rq]") {
  quant::RelaxedQuantizer::Options o;
  o.bits = 2;
  o.is_signed = true;
  quant::RelaxedQuantizer q(o, 5);
  REQUIRE_FALSE(q.named_rngs().empty());  // the noise stream is saved in checkpoints
  const Tensor w = test::uniform({64, 9}, -0.3f, 0.3f, 3, false);
  const Tensor wc = w.contiguous();
  const float expected = quant::mse_optimal_step(wc.data<float>(), wc.numel(), q.grid());
  q.eval();
  (void)q.forward(w);  // an eval pass before training (the summary's probe) stores nothing
  REQUIRE_FALSE(q.initialized());
  q.train();
  (void)q.forward(w);
  REQUIRE(q.initialized());
  REQUIRE(q.alpha() == Approx(expected).epsilon(1e-5));
  REQUIRE(q.sigma() == Approx(expected / 3.0f).epsilon(1e-5));

  q.eval();
  const Tensor x = vec({-5.0f, -0.31f, -0.04f, 0.02f, 0.14f, 0.5f, 9.0f});
  const auto a = values(q.forward(x)), b = values(q.forward(x));
  REQUIRE(a == b);
  const std::vector<float> xv = values(x);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float code = std::clamp(std::round(xv[i] / q.alpha()), -2.0f, 1.0f);
    REQUIRE(a[i] == Approx(code * q.alpha()).margin(1e-7));
  }

  q.set_epoch(0, 10);
  REQUIRE(q.temperature() == Approx(2.0));
  q.set_epoch(9, 10);
  REQUIRE(q.temperature() == Approx(0.5));
  REQUIRE(quant::anneal_geometric(2.0, 0.5, 3, 7) == Approx(1.0));  // geometric: half-way = sqrt
}

TEST_CASE("rq scheme: 2-bit weights and inputs inside, float first and last layers", "[quant][rq]") {
  test::register_quant_builtins();
  quant::QuantConfig q;
  q.defaults.scheme = "rq";
  q.defaults.weight_bits = 2;
  q.defaults.activation_bits = 2;
  quant::validate(q);
  layers::ModelSpec spec;
  spec.name = "lenet";
  auto names = quant::weight_layer_names([&](const layers::LayerFactory& f) { return layers::build_model(spec, 3, f); });
  auto model = layers::build_model(spec, 3, quant::make_layer_factory(q, names));
  const quant::ModelCost cost = quant::model_cost(*model, core::Shape({1, 28, 28}));
  REQUIRE(cost.layers.size() == 4);
  REQUIRE(cost.layers[0].weight_bits == 32);
  REQUIRE(cost.layers[1].weight_bits == 2);
  REQUIRE(cost.layers[1].input_bits == 2);
  REQUIRE(cost.layers[2].weight_bits == 2);
  REQUIRE(cost.layers[3].input_bits == 32);
  for (auto& [name, m] : model->named_modules()) {
    if (auto* l = dynamic_cast<quant::QuantLayer*>(m)) {
      REQUIRE(l->weight_quantizer().type_name() == "rq");
      REQUIRE(l->input_quantizer().type_name() == "rq");
    }
  }
  // A training step reaches the weights, the steps and the noise scales.
  model->train();
  const Tensor loss = core::sum((*model)(test::uniform({2, 1, 28, 28}, 0.0f, 1.0f, 4, false)));
  loss.backward();
  for (const auto& [name, p] : model->named_parameters()) {
    if (name.find("quantizer.log_") == std::string::npos) continue;
    INFO(name);
    REQUIRE(p.grad().defined());
  }
}

TEST_CASE("mse_optimal_step: Lloyd's fixed point, exact for data on a grid", "[quant][grid_reg]") {
  const UniformGrid g = UniformGrid::symmetric(2);
  REQUIRE(g.levels() == 4);
  REQUIRE(g.nearest(0.1f, 1.0f) == 0.5f);
  REQUIRE(g.nearest(-7.0f, 1.0f) == -1.5f);
  REQUIRE(UniformGrid::symmetric(1).nearest(-0.01f, 2.0f) == -1.0f);
  std::vector<float> on_grid;
  for (int i = 0; i < 40; ++i) on_grid.push_back((static_cast<float>(i % 4) - 1.5f) * 0.03f);
  REQUIRE(quant::mse_optimal_step(on_grid.data(), 40, g) == Approx(0.03f).epsilon(1e-6));
  const std::vector<float> zeros(10, 0.0f);
  REQUIRE(quant::mse_optimal_step(zeros.data(), 10, g) == 0.0f);
  // Uniform data on [-1, 1] with 4 levels: the optimum is s = 1/2 (levels +-1/4, +-3/4).
  const Tensor u = test::uniform({20000}, -1.0f, 1.0f, 9, false).contiguous();
  REQUIRE(quant::mse_optimal_step(u.data<float>(), u.numel(), g) == Approx(0.5f).epsilon(0.02));
}

TEST_CASE("grid_reg: the gradient points at the nearest level and is 0 on a level", "[quant][grid_reg]") {
  const UniformGrid g = UniformGrid::symmetric(2);
  const float s = 0.2f;  // levels -0.3, -0.1, 0.1, 0.3
  Tensor w = vec({-0.5f, -0.25f, -0.1f, 0.02f, 0.1f, 0.17f, 0.3f, 0.35f}, true);
  const Tensor d = quant::grid_distance_sq(w, g, s);
  d.backward();
  const auto wv = values(w), gv = values(w.grad());
  double expected = 0.0;
  for (std::size_t i = 0; i < wv.size(); ++i) {
    const float q = g.nearest(wv[i], s);
    expected += (wv[i] - q) * (wv[i] - q);
    INFO("w " << wv[i] << " nearest " << q << " grad " << gv[i]);
    REQUIRE(gv[i] == Approx(2.0f * (wv[i] - q)).margin(1e-7));
    if (wv[i] == q) REQUIRE(gv[i] == 0.0f);
    else REQUIRE(-gv[i] * (q - wv[i]) > 0.0f);  // a descent step moves w towards q
  }
  REQUIRE(d.item() == Approx(expected).epsilon(1e-6));
  REQUIRE(test::gradcheck([&](const std::vector<Tensor>& in) { return quant::grid_distance_sq(in[0], g, s); },
                          {vec({-0.52f, -0.23f, 0.04f, 0.16f, 0.41f}, true)}));

  // The schedule: warm-up, then a linear ramp.
  quant::GridRegSettings rs;
  rs.weight = 1e-3;
  rs.warmup_epochs = 1;
  rs.ramp_epochs = 2;
  REQUIRE(quant::grid_reg_weight_at(rs, 0) == 0.0);
  REQUIRE(quant::grid_reg_weight_at(rs, 1) == Approx(0.5e-3));
  REQUIRE(quant::grid_reg_weight_at(rs, 2) == Approx(1e-3));
  REQUIRE(quant::grid_reg_weight_at(rs, 9) == Approx(1e-3));
}

TEST_CASE("--round-weights uses the regularizer's grid; first/last layers follow keep flags",
          "[quant][grid_reg]") {
  test::register_quant_builtins();
  layers::ModelSpec spec;
  spec.name = "lenet";
  spec.width = 4;
  auto model = layers::build_model(spec, 3, layers::LayerFactory{});
  quant::GridRegSettings rs;
  rs.weight = 1.0;
  rs.bits = 2;
  quant::GridRegularizer reg(rs, quant::grid_layers(*model, true, true));
  REQUIRE(reg.enabled());
  REQUIRE(reg.term().item() > 0.0);
  const auto layers_all = quant::grid_layers(*model, false, false);
  REQUIRE(layers_all.size() == 4);
  REQUIRE(layers_all.front().name == "conv1");
  REQUIRE(layers_all.back().name == "fc");
  const auto first_before = values(layers_all.front().weight);

  const std::string report = quant::round_weights_to_grid(*model, 2, true, false);
  REQUIRE(report.find("conv2") != std::string::npos);
  REQUIRE(values(layers_all.front().weight) == first_before);  // keep_first: not rounded
  // The regularizer sees every rounded layer exactly on its grid (same grid, same step rule).
  quant::GridRegularizer after(rs, quant::grid_layers(*model, true, false));
  REQUIRE(after.term().item() == Approx(0.0).margin(1e-12));
  for (const auto& l : quant::grid_layers(*model, true, false)) {
    std::vector<float> levels = values(l.weight);
    std::sort(levels.begin(), levels.end());
    levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
    INFO(l.name);
    REQUIRE(levels.size() <= 4);
    REQUIRE(levels.front() == Approx(-levels.back()));  // symmetric
  }
  // Rounding is idempotent: the rounded weights are their own MSE-optimal grid.
  const auto once = values(layers_all[2].weight);
  (void)quant::round_weights_to_grid(*model, 2, true, false);
  REQUIRE(values(layers_all[2].weight) == once);
}
