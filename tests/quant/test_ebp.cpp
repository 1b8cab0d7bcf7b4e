// Expectation BackPropagation (methods.md 3a) against its self-checks: the CLT moments against
// Monte-Carlo, EBP-D = EBP-P for certain weights, no change where the input mean is 0, and
// convergence on a separable toy problem.
#include "core/rng.hpp"
#include "quant/ebp.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace lowbit;
using quant::EbpLayer;
using quant::EbpMeanField;
using quant::EbpNetwork;

namespace {

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

std::vector<float> normal_vector(core::Rng& rng, std::int64_t n, float std = 1.0f) {
  std::vector<float> v(static_cast<std::size_t>(n));
  rng.fill_normal(v.data(), n, 0.0f, std);
  return v;
}

EbpLayer random_layer(core::Rng& rng, std::int64_t in, std::int64_t out, float h_std, float b_std) {
  EbpLayer layer{in, out, normal_vector(rng, in * out, h_std), normal_vector(rng, out, b_std)};
  return layer;
}

double accuracy(const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& labels) {
  std::int64_t hits = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) hits += pred[i] == labels[i];
  return static_cast<double>(hits) / static_cast<double>(pred.size());
}

// Monte-Carlo of one unit's pre-activation u = (W v + b + eps) / sqrt(V + 1): W_j = +-1 with
// P(+1) = (1 + tanh h_j) / 2, v_j = +-1 with mean m_j (or v = m when the input is real), and the
// unit Gaussian eps the "+1" of var stands for.
struct MonteCarlo {
  double mean = 0, var = 0, p_plus = 0;
};
MonteCarlo sample_unit(core::Rng& rng, const float* h, float b, const std::vector<float>& m,
                       bool binary_input, int samples) {
  const auto V = static_cast<std::int64_t>(m.size());
  std::vector<float> p_w(m.size()), p_v(m.size());
  for (std::size_t j = 0; j < m.size(); ++j) {
    p_w[j] = 0.5f * (1.0f + std::tanh(h[j]));
    p_v[j] = 0.5f * (1.0f + m[j]);
  }
  double sum = 0, sum_sq = 0;
  std::int64_t plus = 0;
  for (int s = 0; s < samples; ++s) {
    double u = b + rng.normal();
    for (std::int64_t j = 0; j < V; ++j) {
      const float w = rng.uniform() < p_w[static_cast<std::size_t>(j)] ? 1.0f : -1.0f;
      const float v = binary_input
                          ? (rng.uniform() < p_v[static_cast<std::size_t>(j)] ? 1.0f : -1.0f)
                          : m[static_cast<std::size_t>(j)];
      u += w * v;
    }
    u /= std::sqrt(static_cast<double>(V) + 1.0);
    sum += u;
    sum_sq += u * u;
    plus += u >= 0;
  }
  MonteCarlo mc;
  mc.mean = sum / samples;
  mc.var = sum_sq / samples - mc.mean * mc.mean;
  mc.p_plus = static_cast<double>(plus) / samples;
  return mc;
}

void require_clt_match(const MonteCarlo& mc, double mu, double var) {
  INFO("analytic mu " << mu << " var " << var << "; Monte-Carlo mean " << mc.mean << " var "
                      << mc.var << " P(+1) " << mc.p_plus);
  REQUIRE(std::fabs(mc.mean - mu) < 0.02 * std::sqrt(var));  // relative to the spread: mu may be ~0
  REQUIRE(std::fabs(mc.var / var - 1.0) < 0.02);
  REQUIRE(std::fabs(mc.p_plus - normal_cdf(mu / std::sqrt(var))) < 0.01);
}

}  // namespace

TEST_CASE("ebp: tanh and sech^2 of the fields match the standard library", "[ebp]") {
  std::vector<float> h;
  for (float x = -30.0f; x <= 30.0f; x += 0.013f) h.push_back(x);
  h.push_back(0.0f);
  std::vector<float> t(h.size()), s(h.size());
  quant::ebp_tanh_sech2(h.data(), t.data(), s.data(), static_cast<std::int64_t>(h.size()));
  for (std::size_t i = 0; i < h.size(); ++i) {
    const double ref_t = std::tanh(static_cast<double>(h[i]));
    const double ref_s =
        1.0 / (std::cosh(static_cast<double>(h[i])) * std::cosh(static_cast<double>(h[i])));
    INFO("h = " << h[i]);
    REQUIRE(std::fabs(t[i] - ref_t) < 1e-6);
    REQUIRE(std::fabs(s[i] - ref_s) <= 1e-6 * std::max(1e-6, ref_s) + 1e-30);
    REQUIRE(s[i] >= 0.0f);
  }
}

TEST_CASE("ebp: mean-field moments match Monte-Carlo of sampled weights (CLT, V = 1000)", "[ebp]") {
  core::Rng rng(7);
  constexpr int kSamples = 40000;  // var: relative standard error sqrt(2 / 40000) = 0.7%
  constexpr std::int64_t kUnits = 1;
  SECTION("first layer, real (+-1) input") {
    const EbpNetwork net({random_layer(rng, 1000, kUnits, 1.0f, 2.0f)});
    std::vector<float> x(1000);
    for (float& v : x) v = rng.uniform() < 0.5f ? -1.0f : 1.0f;
    EbpMeanField f;
    net.mean_field(x.data(), 1, f);
    for (std::int64_t o = 0; o < kUnits; ++o) {
      const auto& layer = net.layers()[0];
      const MonteCarlo mc = sample_unit(rng, layer.h.data() + o * 1000,
                                        layer.b[static_cast<std::size_t>(o)], x, false, kSamples);
      require_clt_match(mc, f.mu[0][static_cast<std::size_t>(o)],
                        f.var[0][static_cast<std::size_t>(o)]);
    }
  }
  SECTION("hidden layer, +-1 inputs with means m") {
    // Layer 1 only makes the means m of layer 2's 1000 binary inputs.
    const EbpNetwork net(
        {random_layer(rng, 8, 1000, 1.0f, 1.0f), random_layer(rng, 1000, kUnits, 1.0f, 2.0f)});
    const std::vector<float> x = normal_vector(rng, 8);
    EbpMeanField f;
    net.mean_field(x.data(), 1, f);
    const auto& layer = net.layers()[1];
    for (std::int64_t o = 0; o < kUnits; ++o) {
      const MonteCarlo mc =
          sample_unit(rng, layer.h.data() + o * 1000, layer.b[static_cast<std::size_t>(o)],
                      f.input[1], true, kSamples);
      require_clt_match(mc, f.mu[1][static_cast<std::size_t>(o)],
                        f.var[1][static_cast<std::size_t>(o)]);
    }
  }
}

TEST_CASE("ebp: with all |h| large, EBP-D and EBP-P predict alike", "[ebp]") {
  // The "+1" unit of noise in var keeps a hidden unit's mean soft unless |W x + b| >> 1, so the
  // real inputs are scaled up: then every hidden mean is +-1 and the output moments share one
  // variance, and argmax mu_L / sigma_L is the argmax of the deterministic affine output.
  core::Rng rng(3);
  std::vector<EbpLayer> layers{random_layer(rng, 16, 32, 1.0f, 3.0f),
                               random_layer(rng, 32, 5, 1.0f, 3.0f)};
  for (auto& layer : layers) {
    for (float& h : layer.h) h = h >= 0.0f ? 25.0f : -25.0f;
  }
  const EbpNetwork net(std::move(layers));
  constexpr std::int64_t kBatch = 500;
  const std::vector<float> x = normal_vector(rng, kBatch * 16, 1.0e4f);
  std::vector<float> d(kBatch * 5), p(kBatch * 5);
  net.predict_deterministic(x.data(), kBatch, d.data());
  net.predict_probabilistic(x.data(), kBatch, p.data());
  REQUIRE(quant::ebp_argmax(d.data(), kBatch, 5) == quant::ebp_argmax(p.data(), kBatch, 5));
}

TEST_CASE("ebp: an update never changes h where the input mean is 0", "[ebp]") {
  core::Rng rng(11);
  EbpNetwork net({30, 16, 4}, 5);
  constexpr std::int64_t kBatch = 8;
  std::vector<float> x = normal_vector(rng, kBatch * 30);
  for (std::int64_t b = 0; b < kBatch; ++b) {
    for (std::int64_t j = 0; j < 10; ++j) x[static_cast<std::size_t>(b * 30 + j)] = 0.0f;
  }
  const std::vector<std::int64_t> labels{0, 1, 2, 3, 0, 1, 2, 3};
  const std::vector<float> before = net.layers()[0].h;
  net.update(x.data(), labels.data(), kBatch);
  const std::vector<float>& after = net.layers()[0].h;
  std::int64_t changed = 0;
  for (std::int64_t o = 0; o < 16; ++o) {
    for (std::int64_t j = 0; j < 30; ++j) {
      const auto i = static_cast<std::size_t>(o * 30 + j);
      if (j < 10) {
        REQUIRE(after[i] == before[i]);
      } else {
        changed += after[i] != before[i];
      }
    }
  }
  REQUIRE(changed > 0);
}

TEST_CASE("ebp: the output error is continuous where it falls back to its asymptote", "[ebp]") {
  // Phi(y z) underflows in double near y z = -38; the limit must take over with the same sign.
  for (const double y : {1.0, -1.0}) {
    const double var = 1.0;
    const double exact = quant::ebp_output_error(y, -y * 37.0, var, 99);
    const double limit = quant::ebp_output_error(y, -y * 40.0, var, 99);
    INFO("y = " << y << ": exact at |z| = 37 " << exact << ", fallback at |z| = 40 " << limit);
    REQUIRE(std::isfinite(exact));
    REQUIRE(std::isfinite(limit));
    REQUIRE(exact * y > 0.0);  // pushes mu toward y
    REQUIRE(limit * y > 0.0);
    REQUIRE(std::fabs(exact * 10.0 - 2.0 * y * 37.0) < 0.1);  // e ~ -2 mu / var / sqrt(V + 1)
    REQUIRE(std::fabs(limit * 10.0 - 2.0 * y * 40.0) < 1e-9);
  }
  REQUIRE(quant::ebp_output_error(1.0, 5.0, 1.0, 3) > 0.0);
  REQUIRE(quant::ebp_output_error(-1.0, -5.0, 1.0, 3) < 0.0);
}

TEST_CASE("ebp: learns a separable problem to 100% train accuracy, without a learning rate",
          "[ebp]") {
  // A binary teacher perceptron on +-1 inputs; odd fan-in, so no example lies on the boundary.
  core::Rng rng(21);
  constexpr std::int64_t kV = 31, kN = 256;
  std::vector<float> teacher(kV), x(kN * kV);
  for (float& w : teacher) w = rng.uniform() < 0.5f ? -1.0f : 1.0f;
  std::vector<std::int64_t> labels(kN);
  for (std::int64_t n = 0; n < kN; ++n) {
    float dot = 0.0f;
    for (std::int64_t j = 0; j < kV; ++j) {
      float& v = x[static_cast<std::size_t>(n * kV + j)];
      v = rng.uniform() < 0.5f ? -1.0f : 1.0f;
      dot += v * teacher[static_cast<std::size_t>(j)];
    }
    labels[static_cast<std::size_t>(n)] = dot > 0.0f ? 1 : 0;
  }
  for (const std::vector<std::int64_t>& sizes : {std::vector<std::int64_t>{kV, 2}, {kV, 32, 2}}) {
    INFO("sizes " << sizes.size() << " layers");
    EbpNetwork net(sizes, 1);
    std::vector<float> d(kN * 2), p(kN * 2);
    double acc_d = 0, acc_p = 0;
    for (int epoch = 0; epoch < 60 && (acc_d < 1.0 || acc_p < 1.0); ++epoch) {
      constexpr std::int64_t kBatch = 4;
      for (std::int64_t n = 0; n < kN; n += kBatch)
        net.update(x.data() + n * kV, labels.data() + n, kBatch);
      net.predict_deterministic(x.data(), kN, d.data());
      net.predict_probabilistic(x.data(), kN, p.data());
      acc_d = accuracy(quant::ebp_argmax(d.data(), kN, 2), labels);
      acc_p = accuracy(quant::ebp_argmax(p.data(), kN, 2), labels);
    }
    REQUIRE(acc_d == 1.0);
    REQUIRE(acc_p == 1.0);
  }
}
