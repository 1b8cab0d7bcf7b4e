// The quantizers against the self-checks of methods.md (sections 1, 2, 4, 8).
#include "core/ops.hpp"
#include "quant/quantizers.hpp"
#include "tests/quant/quant_test_util.hpp"
#include "quant/ste.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <vector>

using namespace lowbit;
using core::Tensor;

using test::values;
using test::vec;
using test::grad_of;
using test::require_close;

namespace {

}  // namespace

TEST_CASE("sign: sign(0) = +1 and the hardtanh STE mask is inclusive (BNN self-check 1)", "[quant]") {
  Tensor x = vec({-2, -1, -0.5f, 0, 0.5f, 1, 2});
  Tensor q = quant::sign_ste(x, quant::SignGrad::clipped);
  require_close(values(q), {-1, -1, -1, 1, 1, 1, 1});
  require_close(grad_of(x, q), {0, 1, 1, 1, 1, 1, 0});
}

TEST_CASE("ApproxSign gradient (Bi-Real self-checks)", "[quant]") {
  Tensor x = vec({-0.5f, 0.0f, 0.25f, 0.99f, 1.0f, -1.0f, 3.0f});
  Tensor q = quant::sign_ste(x, quant::SignGrad::approx_sign);
  require_close(values(q), {-1, 1, 1, 1, 1, -1, 1});
  require_close(grad_of(x, q), {1.0f, 2.0f, 1.5f, 0.02f, 0.0f, 0.0f, 0.0f}, 1e-5f);
  // The integral of the surrogate gradient over [-1, 1] is the jump of sign: 2.
  const int n = 20000;
  std::vector<float> grid(n);
  for (int i = 0; i < n; ++i) grid[i] = -1.0f + (static_cast<float>(i) + 0.5f) * 2.0f / n;
  Tensor g = vec(grid);
  const auto d = grad_of(g, quant::sign_ste(g, quant::SignGrad::approx_sign));
  double integral = 0;
  for (float v : d) integral += v * (2.0 / n);
  REQUIRE(integral == Approx(2.0).epsilon(1e-4));
}

TEST_CASE("BinaryConnect: hard sigmoid, deterministic sign(0), unbiased stochastic draws", "[quant]") {
  const std::vector<float> w{-1.5f, -1, -0.5f, 0, 0.3f, 1, 2};
  const std::vector<float> p{0, 0, 0.25f, 0.5f, 0.65f, 1, 1};
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(quant::hard_sigmoid(w[i]) == Approx(p[i]));

  quant::BinaryConnectQuantizer det(1.0f, false, true, 1.0, 1);
  Tensor x = vec({0.0f, -0.0f, 0.2f, -0.2f});
  Tensor q = det.forward(x);
  require_close(values(q), {1, 1, 1, -1});
  // Identity STE: dL/dW_r equals dL/dW_b exactly (self-check 5).
  require_close(grad_of(x, q, {0.5f, -2.0f, 3.0f, 7.0f}), {0.5f, -2.0f, 3.0f, 7.0f});

  quant::BinaryConnectQuantizer h3(0.25f, false, true, 1.0, 1);
  require_close(values(h3.forward(vec({0.1f, -0.1f}))), {0.25f, -0.25f});
  REQUIRE(*h3.latent_clip() == 0.25f);

  // Stochastic: mean over many draws equals clip(w, -1, 1) (self-check 2).
  quant::BinaryConnectQuantizer sto(1.0f, true, true, 1.0, 42);
  const std::vector<float> probe{-1.5f, -0.6f, -0.1f, 0.0f, 0.3f, 0.9f, 1.7f};
  const int per = 1'000'000;
  std::vector<float> big;
  for (float v : probe) big.insert(big.end(), per, v);
  const auto draws = values(sto.forward(vec(big, false)));
  for (std::size_t k = 0; k < probe.size(); ++k) {
    double mean = 0;
    for (int i = 0; i < per; ++i) mean += draws[k * per + i];
    mean /= per;
    INFO("w = " << probe[k]);
    REQUIRE(std::fabs(mean - std::clamp(probe[k], -1.0f, 1.0f)) < 3e-3);  // 1e6 draws each
  }
  // In eval mode the stochastic quantizer returns the real-valued weights (methods.md 1.5).
  sto.eval();
  require_close(values(sto.forward(vec({0.3f, -0.7f}))), {0.3f, -0.7f});
}

TEST_CASE("XNOR: alpha is mean|W| per output filter, exact gradient (self-checks 1, 2)", "[quant]") {
  quant::ScaledSignQuantizer xnor(quant::ScaledSignQuantizer::Mode::xnor, true);
  Tensor w = Tensor::from_vector<float>({1, -2, 3, -0.5f}, {1, 1, 2, 2});
  w.set_requires_grad(true);
  require_close(values(xnor.forward(w)), {1.625f, -1.625f, 1.625f, -1.625f});
  // alpha minimises ||W - alpha B||^2 for B = sign(W): the derivative 2 sum(B (alpha B - W)) is 0.
  const std::vector<float> wv{1, -2, 3, -0.5f};
  double d = 0;
  for (float v : wv) d += quant::sign_of(v) * (1.625f * quant::sign_of(v) - v);
  REQUIRE(d == Approx(0.0).margin(1e-6));

  // Two filters: changing filter 1 leaves filter 0's quantized weights unchanged.
  Tensor a = Tensor::from_vector<float>({0.5f, -0.1f, 0.2f, 0.3f, -0.9f, 0.4f}, {2, 3});
  Tensor b = Tensor::from_vector<float>({0.5f, -0.1f, 0.2f, 0.7f, 0.8f, -0.05f}, {2, 3});
  const auto qa = values(xnor.forward(a)), qb = values(xnor.forward(b));
  require_close({qa[0], qa[1], qa[2]}, {qb[0], qb[1], qb[2]});
  REQUIRE(qa[3] != qb[3]);

  // Gradient: alpha g_i 1[|W_i| <= 1] + sign(W_i)/n sum_j g_j sign(W_j), per filter.
  Tensor x = Tensor::from_vector<float>({0.5f, -1.5f, 0.2f, 0.3f, -0.9f, 0.4f}, {2, 3});
  x.set_requires_grad(true);
  const std::vector<float> g{1.0f, 2.0f, -3.0f, 0.5f, -1.0f, 4.0f};
  const auto got = grad_of(x, xnor.forward(x), g);
  const std::vector<float> xv = values(x);
  for (int r = 0; r < 2; ++r) {
    double alpha = 0, dot = 0;
    for (int c = 0; c < 3; ++c) {
      alpha += std::fabs(xv[r * 3 + c]) / 3.0;
      dot += g[r * 3 + c] * quant::sign_of(xv[r * 3 + c]);
    }
    for (int c = 0; c < 3; ++c) {
      const int i = r * 3 + c;
      const double expect = alpha * g[i] * (std::fabs(xv[i]) <= 1.0f ? 1.0 : 0.0) +
                            quant::sign_of(xv[i]) / 3.0 * dot;
      REQUIRE(got[i] == Approx(expect).margin(1e-5));
    }
  }
}

TEST_CASE("Bi-Real weights: detached alpha, paper rule times alpha, code rule without", "[quant]") {
  const std::vector<float> wv{0.5f, -1.5f, 0.25f, -0.75f};
  const std::vector<float> g{1.0f, 1.0f, 2.0f, -1.0f};
  const float alpha = (0.5f + 1.5f + 0.25f + 0.75f) / 4.0f;
  for (auto mode : {quant::ScaledSignQuantizer::Mode::bireal_paper, quant::ScaledSignQuantizer::Mode::bireal_code}) {
    quant::ScaledSignQuantizer q(mode, true);
    Tensor w = Tensor::from_vector(wv, {1, 4});
    w.set_requires_grad(true);
    Tensor out = q.forward(w);
    require_close(values(out), {alpha, -alpha, alpha, -alpha});
    const float k = mode == quant::ScaledSignQuantizer::Mode::bireal_paper ? alpha : 1.0f;
    require_close(grad_of(w, out, g), {k * 1.0f, 0.0f, k * 2.0f, -k});
  }
}

TEST_CASE("DoReFa weights: 2^k symmetric levels without zero, k = 1 uses mean|w|", "[quant]") {
  quant::DorefaWeightQuantizer k2(2);
  Tensor w = vec({-0.9f, -0.1f, 0.05f, 0.4f, 1.3f});
  require_close(values(k2.forward(w)), {-1, -1.0f / 3, 1.0f / 3, 1.0f / 3, 1}, 1e-6f);

  quant::DorefaWeightQuantizer k3(3);
  const Tensor r = test::uniform({4000}, -2.0f, 2.0f, 3, false);
  std::set<float> levels;
  for (float v : values(k3.forward(r))) levels.insert(v);
  REQUIRE(levels.size() == 8);
  for (float v : levels) {
    const float i = (v + 1.0f) * 7.0f / 2.0f;
    REQUIRE(std::fabs(i - std::round(i)) < 1e-5f);
  }
  REQUIRE(levels.count(-1.0f) == 1);
  REQUIRE(levels.count(1.0f) == 1);

  // k >= 2: the gradient is that of the expression without round (only round is straight-through,
  // the max is not detached).
  Tensor a = test::uniform({3, 5}, -1.5f, 1.5f, 9);
  Tensor b = test::uniform({3, 5}, -1.5f, 1.5f, 9);
  const auto ga = grad_of(a, k2.forward(a), values(test::uniform({15}, -1, 1, 4, false)));
  const Tensor t = core::tanh(b);
  const Tensor unit = t / core::max(core::abs(t).reshape({-1}), 0) * 0.5f + 0.5f;
  const auto gb = grad_of(b, 2.0f * unit - 1.0f, values(test::uniform({15}, -1, 1, 4, false)));
  require_close(ga, gb, 1e-5f);

  // k = 1: +-mean|w|, gradient passes unchanged (self-check 5).
  quant::DorefaWeightQuantizer k1(1);
  Tensor w1 = vec({0.5f, -0.25f, 0.0f, -1.25f});
  require_close(values(k1.forward(w1)), {0.5f, -0.5f, 0.5f, -0.5f});
  Tensor w1b = vec({0.5f, -0.25f, 0.0f, -1.25f});
  require_close(grad_of(w1b, k1.forward(w1b), {1, 2, 3, 4}), {1, 2, 3, 4});
}

TEST_CASE("DoReFa activations: levels i/(2^k-1), clip to [0, 1], gradient 1[0<=x<=1]", "[quant]") {
  quant::DorefaActivationQuantizer a2(2);
  Tensor x = vec({-0.5f, 0.0f, 0.2f, 0.5f, 0.9f, 1.0f, 1.7f});
  Tensor q = a2.forward(x);
  require_close(values(q), {0, 0, 1.0f / 3, 2.0f / 3, 1, 1, 1});
  require_close(grad_of(x, q), {0, 1, 1, 1, 1, 1, 0});
}

TEST_CASE("DoReFa gradient quantizer: unbiased, on the per-sample grid", "[quant]") {
  core::Rng rng(5);
  const int bits = 4;
  const float n = 15.0f;
  const std::vector<float> dr{0.3f, -0.7f, 0.05f, 1.0f, -0.2f, 0.6f};  // two samples of three
  std::vector<double> mean(dr.size(), 0.0);
  const int draws = 10000;
  for (int d = 0; d < draws; ++d) {
    Tensor y = Tensor::zeros({2, 3});
    y.set_requires_grad(true);
    Tensor out = quant::quantize_gradient(y, bits, rng);
    out.backward(Tensor::from_vector(dr, {2, 3}));
    const auto g = values(y.grad());
    for (int s = 0; s < 2; ++s) {
      float m = 0;
      for (int c = 0; c < 3; ++c) m = std::max(m, std::fabs(dr[s * 3 + c]));
      for (int c = 0; c < 3; ++c) {
        const float j = (g[s * 3 + c] / m + 1.0f) * n / 2.0f;  // dr_q = m (2j/n - 1)
        REQUIRE(std::fabs(j - std::round(j)) < 1e-4f);
      }
    }
    for (std::size_t i = 0; i < dr.size(); ++i) mean[i] += g[i] / draws;
  }
  for (std::size_t i = 0; i < dr.size(); ++i) {
    INFO("element " << i);
    REQUIRE(mean[i] == Approx(dr[i]).epsilon(0.01).margin(1e-3));
  }
}

TEST_CASE("LSQ: the methods.md example, and the step gradient against finite differences", "[quant]") {
  Tensor v = vec({-1.3f, 0.2f, 0.74f, 5.0f});
  Tensor s = vec({0.5f});
  Tensor q = quant::lsq_quantize(v, s, 2.0f, 1.0f, 1.0f);
  require_close(values(q), {-1.0f, 0.0f, 0.5f, 0.5f});
  // Per element dq/ds with unit upstream gradient on one element at a time.
  const std::vector<float> expect_ds{-2.0f, -0.4f, 1.0f, 1.0f};
  for (int i = 0; i < 4; ++i) {
    Tensor vi = vec({-1.3f, 0.2f, 0.74f, 5.0f});
    Tensor si = vec({0.5f});
    std::vector<float> up(4, 0.0f);
    up[i] = 1.0f;
    quant::lsq_quantize(vi, si, 2.0f, 1.0f, 1.0f).backward(Tensor::from_vector(up, {4}));
    REQUIRE(values(si.grad())[0] == Approx(expect_ds[i]).margin(1e-6));
    // dq/dv: range STE 1[-qn < v/s < qp].
    REQUIRE(values(vi.grad())[i] == (i == 1 ? 1.0f : 0.0f));
  }
  // Finite differences of the STE surrogate F(s) = s * (clip(v/s) + c0), c0 = round residual
  // frozen at s0: the estimator LSQ defines; the gradient scale multiplies it.
  const Tensor vr = test::uniform({64}, -3.0f, 3.0f, 11, false);
  const float s0 = 0.7f, qn = 4.0f, qp = 3.0f, gscale = 0.25f;
  const auto vv = values(vr);
  Tensor s1 = vec({s0});
  quant::lsq_quantize(vr, s1, qn, qp, gscale).backward(Tensor::ones({64}));
  double fd = 0;
  const double h = 1e-3;
  for (float x : vv) {
    const double c0 = std::round(std::clamp(x / s0, -qn, qp)) - std::clamp(x / s0, -qn, qp);
    auto F = [&](double st) { return st * (std::clamp(x / st, -static_cast<double>(qn), static_cast<double>(qp)) + c0); };
    fd += (F(s0 + h) - F(s0 - h)) / (2 * h);
  }
  REQUIRE(values(s1.grad())[0] == Approx(fd * gscale).epsilon(1e-3));
}

TEST_CASE("LSQ quantizer initialises its step from the first training batch", "[quant]") {
  quant::LsqQuantizer q(2, true);
  Tensor w = vec({0.5f, -0.5f, 1.0f, -1.0f}, false);
  q.forward(w);
  // s = 2 mean|v| / sqrt(Q_P), Q_P = 1 for signed 2-bit.
  REQUIRE(values(q.step())[0] == Approx(1.5f));
  q.forward(vec({10.0f}, false));  // later batches do not re-initialise
  REQUIRE(values(q.step())[0] == Approx(1.5f));
}

TEST_CASE("PACT: the methods.md example and the alpha gradient against finite differences", "[quant]") {
  Tensor x = vec({-1.0f, 0.4f, 1.2f, 3.0f});
  Tensor alpha = vec({2.0f});
  Tensor q = quant::pact_quantize(x, alpha, 2);
  require_close(values(q), {0.0f, 2.0f / 3, 4.0f / 3, 2.0f}, 1e-6f);
  std::vector<float> dalpha;
  for (int i = 0; i < 4; ++i) {
    Tensor xi = vec({-1.0f, 0.4f, 1.2f, 3.0f});
    Tensor ai = vec({2.0f});
    std::vector<float> up(4, 0.0f);
    up[i] = 1.0f;
    quant::pact_quantize(xi, ai, 2).backward(Tensor::from_vector(up, {4}));
    dalpha.push_back(values(ai.grad())[0]);
    REQUIRE(values(xi.grad())[i] == (i == 1 || i == 2 ? 1.0f : 0.0f));
  }
  require_close(dalpha, {0, 0, 0, 1});
  // Finite differences of clip(x, 0, alpha) (round straight-through) in alpha.
  const auto xs = values(test::uniform({50}, -1.0f, 4.0f, 13, false));
  Tensor xt = Tensor::from_vector(xs, {50});
  Tensor a = vec({2.2f});
  quant::pact_quantize(xt, a, 3).backward(Tensor::ones({50}));
  double fd = 0;
  const double h = 1e-3;
  for (float v : xs) fd += (std::clamp<double>(v, 0.0, 2.2 + h) - std::clamp<double>(v, 0.0, 2.2 - h)) / (2 * h);
  REQUIRE(values(a.grad())[0] == Approx(fd).margin(1e-6));

  quant::PactQuantizer p(2, 10.0f, 0.01f);
  REQUIRE(values(p.regularizer())[0] == Approx(1.0f));  // 0.01 * 10^2
}

TEST_CASE("factored weights: conv with (values, out_scale) equals conv with Q(W), same gradients", "[quant]") {
  using Mode = quant::ScaledSignQuantizer::Mode;
  std::vector<std::shared_ptr<quant::Quantizer>> qs{
      std::make_shared<quant::ScaledSignQuantizer>(Mode::xnor, true),
      std::make_shared<quant::ScaledSignQuantizer>(Mode::bireal_paper, true),
      std::make_shared<quant::DorefaWeightQuantizer>(1)};
  core::Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  for (auto& q : qs) {
    INFO(q->describe());
    Tensor w1 = test::uniform({4, 3, 3, 3}, -1.2f, 1.2f, 17), w2 = test::uniform({4, 3, 3, 3}, -1.2f, 1.2f, 17);
    const Tensor x = test::uniform({2, 3, 5, 5}, -1, 1, 18, false);
    const Tensor up = test::uniform({2, 4, 5, 5}, -1, 1, 19, false);
    const Tensor a = core::conv2d(x, q->forward(w1), Tensor(), p);
    const quant::FactoredWeight f = q->factored(w2);
    REQUIRE(f.out_scale.defined());
    const Tensor b = core::conv2d(x, f.values, Tensor(), p) * f.out_scale.reshape({1, 4, 1, 1});
    REQUIRE(test::max_rel_error(a, b) < 1e-5);
    a.backward(up);
    b.backward(up);
    REQUIRE(test::max_rel_error(w1.grad(), w2.grad()) < 1e-4);
  }
}
