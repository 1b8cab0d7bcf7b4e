// PBNet (methods.md 3b): the self-checks of 3b (moments by Monte Carlo, stochastic BN = BN at zero
// variance, MAP weights, concrete samples at tau -> 0), gradchecks of every new op, the model's
// layout and the ensemble hooks.
#include "core/ops.hpp"
#include "core/random.hpp"
#include "layers/batch_norm.hpp"
#include "layers/models.hpp"
#include "quant/export.hpp"
#include "quant/pbnet_export.hpp"
#include "quant/pbnet_layers.hpp"
#include "quant/pbnet_model.hpp"
#include "quant/pbnet_ops.hpp"
#include "quant/scheme.hpp"
#include "quant/summary.hpp"
#include "quant/training.hpp"
#include "quant/xnor/runner.hpp"
#include "tests/quant/quant_test_util.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace lowbit;
using core::Tensor;

namespace {

// A pbnet_vgg_small small enough for unit tests: 8x8 images, width 4.
layers::ModelSpec tiny_pbnet_spec(std::int64_t num_classes) {
  layers::ModelSpec spec;
  spec.name = "pbnet_vgg_small";
  spec.image_size = 8;
  spec.width = 4;
  spec.num_classes = num_classes;
  return spec;
}

double normal_cdf(double t) { return 0.5 * std::erfc(-t / std::sqrt(2.0)); }

// Means (N, C, ...) and variances of the same shape as one distribution tensor (N, 2C, ...).
Tensor distribution(const Tensor& mean, const Tensor& var) { return quant::cat_channels(mean, var); }

// Runs `layer` in eval mode on x with `samples` weight draws from q and checks the sample mean and
// variance of every output against the training-mode moments (methods.md 3b self-check 1).
void check_moments_by_monte_carlo(quant::PbLayer& layer, const Tensor& x, int samples) {
  layer.train();
  const Tensor moments = layer(x).detach();
  const std::int64_t C = moments.size(1) / 2;
  const std::vector<float> mean = moments.slice(1, 0, C).to_vector<float>();
  const std::vector<float> var = moments.slice(1, C, 2 * C).to_vector<float>();
  std::vector<double> s1(mean.size(), 0.0), s2(mean.size(), 0.0);
  layer.eval();
  core::Rng rng(11);
  for (int k = 0; k < samples; ++k) {
    layer.sample_weights(rng);
    const Tensor out = layer(x);
    const std::vector<float> a = out.slice(1, 0, C).to_vector<float>();
    const std::vector<float> zero = out.slice(1, C, 2 * C).to_vector<float>();
    for (std::size_t i = 0; i < a.size(); ++i) {
      REQUIRE(zero[i] == 0.0f);  // a binary net's output is deterministic
      s1[i] += a[i];
      s2[i] += double(a[i]) * a[i];
    }
  }
  layer.use_map_weights();
  const double n = samples;
  for (std::size_t i = 0; i < mean.size(); ++i) {
    const double m = s1[i] / n, v = s2[i] / n - m * m;
    INFO("output " << i << ": mean " << mean[i] << " vs MC " << m << ", variance " << var[i]
                   << " vs MC " << v);
    // 5 standard errors: of a mean sqrt(v / n), of a variance about v sqrt(2 / n) (+ kurtosis).
    REQUIRE(std::fabs(m - mean[i]) <= 5.0 * std::sqrt(var[i] / n) + 1e-4);
    REQUIRE(std::fabs(v - var[i]) <= 5.0 * var[i] * std::sqrt(3.0 / n) + 1e-4);
  }
}

// Four units with fixed (mean, variance), repeated over a batch of n: (n, 8) distribution tensor.
const std::vector<float> kUnitMeans{0.3f, -0.8f, 0.0f, 1.2f}, kUnitVars{1.0f, 0.5f, 2.0f, 0.25f};
constexpr std::int64_t kUnits = 4;

Tensor repeated_units(std::int64_t n) {
  std::vector<float> data(static_cast<std::size_t>(n * 2 * kUnits));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::size_t c = 0; c < kUnits; ++c) {
      data[static_cast<std::size_t>(i * 2 * kUnits) + c] = kUnitMeans[c];
      data[static_cast<std::size_t>(i * 2 * kUnits + kUnits) + c] = kUnitVars[c];
    }
  }
  return Tensor::from_vector(data, {n, 2 * kUnits});
}

// Samples h (n, 4) of repeated_units(n): each unit's sample mean is 2 Phi(mu / sigma) - 1 within 5
// standard errors.
void require_sample_means_match(const std::vector<float>& h, std::int64_t n) {
  for (std::size_t c = 0; c < kUnits; ++c) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) sum += h[static_cast<std::size_t>(i * kUnits) + c];
    const double p = normal_cdf(kUnitMeans[c] / std::sqrt(double(kUnitVars[c]) + quant::kVarEps));
    INFO("unit " << c << ": mean " << sum / n << ", expected " << 2 * p - 1);
    REQUIRE(std::fabs(sum / n - (2 * p - 1)) <= 5.0 * std::sqrt(4 * p * (1 - p) / n));
  }
}

}  // namespace

TEST_CASE("pbnet: PbConv2d and PbLinear moments match Monte Carlo over binary weights (3b check 1)",
          "[quant][pbnet]") {
  core::Rng rng(3);
  SECTION("conv, real input, padding and stride") {
    quant::PbConv2d conv({2, 3, 3, 2, 1, 1, 1, false}, rng, 2.0f);
    check_moments_by_monte_carlo(conv, test::uniform({2, 2, 5, 4}, -1.5f, 1.5f, 5, false), 4000);
  }
  SECTION("conv with a logit scale, +-1 input") {
    quant::PbConv2d conv({3, 2, 3, 1, 1, 1, 1, false}, rng, 3.0f, 10.0f);
    check_moments_by_monte_carlo(conv, core::sign(test::uniform({1, 3, 4, 3}, -1, 1, 6, false)), 4000);
  }
  SECTION("linear") {
    quant::PbLinear fc({7, 3, false}, rng, 2.0f);
    check_moments_by_monte_carlo(fc, test::uniform({4, 7}, -1.0f, 1.0f, 7, false), 4000);
  }
  SECTION("conv in the last epoch of a weight-temperature schedule: q = sigmoid(theta / tau_end)") {
    quant::PbConv2d conv({2, 3, 3, 1, 1, 1, 1, false}, rng, 2.0f, 10.0f);
    conv.set_weight_temperature(2.0f, 0.5f);
    conv.set_epoch(4, 5);
    REQUIRE(conv.weight_temperature() == 0.5f);
    check_moments_by_monte_carlo(conv, test::uniform({1, 2, 4, 4}, -1.5f, 1.5f, 12, false), 4000);
  }
}

TEST_CASE("pbnet: stochastic BN with zero variances is ordinary BN (3b check 2)", "[quant][pbnet]") {
  for (const core::Shape& shape : {core::Shape{4, 3, 5, 3}, core::Shape{6, 5}}) {
    INFO("means " << shape.str());
    const Tensor mu = test::uniform(shape, -2.0f, 3.0f, 9, false);
    const std::int64_t C = shape[1];
    const Tensor gamma = test::uniform({C}, 0.5f, 1.5f, 10, false);
    const Tensor beta = test::uniform({C}, -0.5f, 0.5f, 11, false);
    Tensor rm_a = Tensor::zeros({C}), rv_a = Tensor::ones({C});
    Tensor rm_b = Tensor::zeros({C}), rv_b = Tensor::ones({C});
    const Tensor x = distribution(mu, Tensor::zeros(shape));
    for (const bool training : {true, false}) {
      const Tensor ours = quant::stochastic_batch_norm(x, gamma, beta, rm_a, rv_a, training);
      const Tensor ref = core::batch_norm(mu, gamma, beta, rm_b, rv_b, training);
      REQUIRE(test::max_rel_error(ours.slice(1, 0, C), ref) < 1e-5);
      REQUIRE(test::max_rel_error(ours.slice(1, C, 2 * C), Tensor::zeros(shape)) == 0.0);
      REQUIRE(test::max_rel_error(rm_a, rm_b) < 1e-6);
      REQUIRE(test::max_rel_error(rv_a, rv_b) < 1e-5);
    }
  }
}

TEST_CASE("pbnet: MAP weights are +-1, +1 iff theta >= 0 (3b check 3)", "[quant][pbnet]") {
  core::Rng rng(4);
  quant::PbConv2d conv({2, 4, 3, 1, 1, 1, 1, false}, rng, 2.0f, 10.0f);
  {
    core::NoGradGuard no_grad;
    Tensor w = conv.weight();
    w.data<float>()[0] = 0.0f;   // theta = 0 -> +1 (sign(0) = +1)
    w.data<float>()[1] = -0.0f;  // -0 as well
  }
  const std::vector<float> theta = conv.theta().to_vector<float>();
  const std::vector<float> w = conv.map_weights().to_vector<float>();
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(w[i] == (theta[i] >= 0.0f ? 1.0f : -1.0f));
  REQUIRE(w[0] == 1.0f);
  REQUIRE(w[1] == 1.0f);
  // Evaluation uses them: the output mean is the float conv with the MAP weights, variance 0.
  conv.eval();
  const Tensor x = test::uniform({1, 2, 4, 5}, -1, 1, 8, false);
  const Tensor out = conv(x);
  const Tensor ref = core::conv2d(x, conv.map_weights(), Tensor(), conv.options().params());
  REQUIRE(test::max_rel_error(out.slice(1, 0, 4), ref) < 1e-6);
}

TEST_CASE("pbnet: concrete samples become +-1 as tau -> 0 with mean 2 Phi(mu/sigma) - 1 (3b check 4)",
          "[quant][pbnet]") {
  const std::int64_t N = 40000;
  core::Rng rng(5);
  const std::vector<float> v = quant::concrete_sign(repeated_units(N), 1e-3f, rng).to_vector<float>();
  std::int64_t binary = 0;
  for (const float x : v) binary += std::fabs(x) > 0.99f;
  REQUIRE(binary >= N * kUnits * 995 / 1000);
  require_sample_means_match(v, N);
}

TEST_CASE("pbnet: straight-through concrete samples are exact +-1 draws with the relaxed gradient",
          "[quant][pbnet]") {
  const std::int64_t N = 40000;
  const Tensor x = repeated_units(N);
  // At tau = 1 (far from the hard limit) the hard samples still have mean 2 P - 1, and each is
  // the sign of the relaxed sample drawn from the same noise.
  core::Rng rng_hard(5), rng_soft(5);
  const std::vector<float> hard = quant::concrete_sign(x, 1.0f, rng_hard, true).to_vector<float>();
  const std::vector<float> soft = quant::concrete_sign(x, 1.0f, rng_soft).to_vector<float>();
  for (std::size_t i = 0; i < hard.size(); ++i) {
    INFO("element " << i << ": hard " << hard[i] << ", soft " << soft[i]);
    REQUIRE(hard[i] == (soft[i] >= 0.0f ? 1.0f : -1.0f));
  }
  require_sample_means_match(hard, N);
  // Backward: the relaxed sample's gradient, unchanged.
  auto grads_of = [](bool straight_through) {
    const Tensor mu = test::uniform({3, 2, 2, 2}, -1, 1, 31), var = test::uniform({3, 2, 2, 2}, 0.1f, 1, 32);
    core::Rng rng(9);
    const Tensor h = quant::concrete_sign(distribution(mu, var), 0.7f, rng, straight_through);
    core::sum(h * test::uniform({3, 2, 2, 2}, -1, 1, 33, false)).backward();
    return std::pair{mu.grad(), var.grad()};
  };
  const auto [mu_st, var_st] = grads_of(true);
  const auto [mu_relaxed, var_relaxed] = grads_of(false);
  REQUIRE(test::max_rel_error(mu_st, mu_relaxed) == 0.0);
  REQUIRE(test::max_rel_error(var_st, var_relaxed) == 0.0);
  REQUIRE(core::sum(core::abs(mu_st)).item() > 0.0);
}

TEST_CASE("pbnet: logit Phi table against the exact formula", "[quant][pbnet]") {
  for (double t = -9.9; t <= 9.9; t += 0.37) {
    const double p = normal_cdf(t), q = normal_cdf(-t);
    const double phi = std::exp(-0.5 * t * t) / std::sqrt(2 * M_PI);
    REQUIRE(std::fabs(quant::logit_normal_cdf(float(t)) - (std::log(p) - std::log(q))) < 1e-4 * (1 + t * t));
    REQUIRE(std::fabs(quant::logit_normal_cdf_derivative(float(t)) - phi / (p * q)) < 1e-4 * (1 + std::fabs(t)));
  }
}

TEST_CASE("pbnet: gradchecks", "[quant][pbnet][gradcheck]") {
  using test::uniform;
  SECTION("cat_channels") {
    REQUIRE(test::gradcheck([](const auto& in) { return quant::cat_channels(in[0], in[1]); },
                            {uniform({2, 3, 2, 3}), uniform({2, 1, 2, 3}, -1, 1, 2)}));
  }
  SECTION("stochastic_batch_norm, training and eval, 4-D and 2-D") {
    for (const bool training : {true, false}) {
      for (const core::Shape& shape : {core::Shape{3, 2, 3, 1}, core::Shape{5, 3}}) {
        const std::int64_t C = shape[1];
        Tensor rm = uniform({C}, -0.2f, 0.2f, 20, false), rv = uniform({C}, 0.5f, 1.5f, 21, false);
        auto f = [&](const std::vector<Tensor>& in) {
          Tensor m = rm.clone(), v = rv.clone();  // fresh running stats per call
          return quant::stochastic_batch_norm(distribution(in[0], in[1]), in[2], in[3], m, v, training);
        };
        INFO("training " << training << ", shape " << shape.str());
        REQUIRE(test::gradcheck(f, {uniform(shape, -1, 1, 3), uniform(shape, 0.1f, 1.0f, 4),
                                    uniform({C}, 0.5f, 1.5f, 5), uniform({C}, -0.5f, 0.5f, 6)}));
      }
    }
  }
  SECTION("concrete_sign (fixed noise)") {
    auto f = [](const std::vector<Tensor>& in) {
      core::Rng rng(17);
      return quant::concrete_sign(distribution(in[0], in[1]), 0.7f, rng);
    };
    REQUIRE(test::gradcheck(f, {uniform({2, 3, 1, 3}, -1, 1, 7), uniform({2, 3, 1, 3}, 0.2f, 1.0f, 8)}));
  }
  SECTION("pb_conv2d and pb_linear in x and theta") {
    core::Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    p.stride_h = 2;
    REQUIRE(test::gradcheck([p](const auto& in) { return quant::pb_conv2d(in[0], in[1], p); },
                            {uniform({2, 3, 5, 4}, -1, 1, 9), uniform({2, 3, 3, 3}, -2, 2, 10)}));
    REQUIRE(test::gradcheck([](const auto& in) { return quant::pb_linear(in[0], in[1]); },
                            {uniform({3, 5}, -1, 1, 11), uniform({2, 5}, -2, 2, 12)}));
  }
}

TEST_CASE("pbnet: pbnet_vgg_small has vgg_small's layout and names", "[quant][pbnet]") {
  core::Registry<layers::ModelBuilder> registry("model");
  layers::register_builtin_models(registry);
  quant::register_pbnet_models(registry);
  layers::ModelSpec spec = tiny_pbnet_spec(3);
  const layers::ModulePtr pb = layers::build_model(spec, 1, {}, registry);
  spec.name = "vgg_small";
  const layers::ModulePtr plain = layers::build_model(spec, 1, {}, registry);
  std::vector<std::string> a, b;
  for (const auto& [name, m] : pb->named_children()) a.push_back(name);
  for (const auto& [name, m] : plain->named_children()) b.push_back(name);
  REQUIRE(a == b);
  // Every key of the PBNet state dict exists in vgg_small's with the same shape.
  const layers::StateDict sp = pb->state_dict(), sv = plain->state_dict();
  REQUIRE(sp.size() == sv.size());
  for (const auto& [key, t] : sp) REQUIRE(sv.at(key).shape() == t.shape());
  // Each sign activation owns a saved generator.
  REQUIRE(pb->named_rngs().size() == 6);

  const Tensor x = test::uniform({3, 1, 8, 8}, -1, 1, 13, false);
  const Tensor logits = (*pb)(x);
  REQUIRE(logits.shape() == core::Shape{3, 3});
  core::sum(logits).backward();
  for (const auto& [name, p] : pb->named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
  }

  // Ensemble hooks: a member's weights are a function of (seed, member); MAP comes back after.
  pb->eval();
  const Tensor map = (*pb)(x);
  quant::pbnet_sample_weights(*pb, 7, 0);
  const Tensor m0 = (*pb)(x);
  quant::pbnet_sample_weights(*pb, 7, 1);
  const Tensor m1 = (*pb)(x);
  quant::pbnet_sample_weights(*pb, 7, 0);
  REQUIRE(test::max_rel_error((*pb)(x), m0) == 0.0);
  REQUIRE(test::max_rel_error(m1, m0) > 0.0);
  quant::pbnet_use_map_weights(*pb);
  REQUIRE(test::max_rel_error((*pb)(x), map) == 0.0);
  REQUIRE_THROWS_WITH(quant::pbnet_sample_weights(*plain, 7, 0), Catch::Contains("needs a PBNet model"));
}

TEST_CASE("pbnet: the model summary counts binary weights, real input to conv1 only",
          "[quant][pbnet]") {
  const layers::ModelSpec spec = tiny_pbnet_spec(3);
  const layers::ModulePtr pb = quant::build_pbnet_vgg_small(spec, {}, 1, quant::PbnetOptions{});
  const quant::ModelCost cost = quant::model_cost(*pb, core::Shape({1, 8, 8}));
  REQUIRE(cost.layers.size() == 7);  // conv1..conv6 and fc
  const quant::LayerCost& conv1 = cost.layers[0];
  REQUIRE((conv1.name == "conv1" && conv1.weight_bits == 1 && conv1.input_bits == 32));
  REQUIRE(conv1.macs == 4 * 1 * 9 * 8 * 8);
  const quant::LayerCost& conv6 = cost.layers[5];
  REQUIRE((conv6.name == "conv6" && conv6.weight_bits == 1 && conv6.input_bits == 1));
  REQUIRE(conv6.macs == 16 * 16 * 9 * 2 * 2);
  REQUIRE(conv6.packed_bytes == 16 * 16 * 9 / 8);
  REQUIRE(cost.macs_low_bit == conv1.macs);
  REQUIRE(cost.macs_float == 3 * 16);  // fc over the 16-channel 1x1 map
}

TEST_CASE("pbnet: the builder hands every PBNet layer the weight-temperature schedule",
          "[quant][pbnet]") {
  quant::PbnetOptions o;
  o.weight_tau_end = 0.5f;
  const layers::ModulePtr tempered = quant::build_pbnet_vgg_small(tiny_pbnet_spec(3), {}, 1, o);
  quant::set_quantizer_epoch(*tempered, 3, 4);
  for (const auto& [name, layer] : quant::pbnet_layers(*tempered)) {
    INFO(name);
    REQUIRE(layer->weight_temperature() == 0.5f);
  }
}

TEST_CASE("pbnet: the concrete temperature anneals from tau_start to tau_end", "[quant][pbnet]") {
  quant::ConcreteSign s(1.0f, 0.25f, 1);
  s.set_epoch(0, 5);
  REQUIRE(s.tau() == Approx(1.0f));
  s.set_epoch(2, 5);
  REQUIRE(s.tau() == Approx(0.5f));
  s.set_epoch(4, 5);
  REQUIRE(s.tau() == Approx(0.25f));

  // The weight temperature follows the same schedule, and training's moments use theta / tau.
  core::Rng rng(2);
  quant::PbLinear fc({5, 2, false}, rng, 2.0f, 10.0f);
  fc.set_weight_temperature(1.0f, 0.25f);
  REQUIRE(fc.weight_temperature() == 1.0f);
  fc.set_epoch(2, 5);
  REQUIRE(fc.weight_temperature() == Approx(0.5f));
  const Tensor x = test::uniform({3, 5}, -1, 1, 3, false);
  REQUIRE(test::max_rel_error(fc(x), quant::pb_linear(x, fc.theta() * 2.0f)) < 1e-6);
}

TEST_CASE("pbnet: the MAP net as a vgg_small BNN, in training's eval and in the XNOR engine",
          "[quant][pbnet][export]") {
  test::register_quant_builtins();  // quantizers for the BNN
  core::Registry<layers::ModelBuilder> registry("model");
  layers::register_builtin_models(registry);
  quant::register_pbnet_models(registry);
  layers::ModelSpec spec = tiny_pbnet_spec(5);
  const layers::ModulePtr pb = layers::build_model(spec, 2, {}, registry);
  {  // BN statistics and affine parameters away from their initial values, as if trained
    core::NoGradGuard no_grad;
    core::Rng rng(9);
    for (auto& [name, p] : pb->named_parameters()) {
      if (name.rfind("bn", 0) != 0) continue;
      Tensor t = p;
      rng.fill_uniform(t.data<float>(), t.numel(), -1.0f, 1.0f);
    }
    for (int step = 0; step < 10; ++step) (*pb)(test::uniform({16, 1, 8, 8}, -2, 2, 30 + step, false));
  }
  pb->eval();
  spec.name = "vgg_small";
  quant::QuantConfig q;
  q.defaults.scheme = "bnn";
  const auto names = quant::weight_layer_names(
      [&](const layers::LayerFactory& f) { return layers::build_model(spec, 3, f, registry); });
  const layers::ModulePtr bnn =
      layers::build_model(spec, 3, quant::make_layer_factory(q, names), registry);
  quant::copy_map_into_bnn(*pb, *bnn);
  bnn->eval();

  const std::int64_t n = 32;
  const float mean = 0.3f, std = 0.35f;
  const Tensor images = test::uniform({n, 1, 8, 8}, 0.0f, 1.0f, 22, false);
  const Tensor x = (images - mean) * (1.0f / std);
  const Tensor map = (*pb)(x).contiguous();
  REQUIRE(test::max_rel_error((*bnn)(x), map) < 1e-4);
  quant::xnor::Runner runner(quant::export_model(*bnn, {1, 8, 8, {mean}, {std}}));
  const std::vector<float> engine = runner.run(images.data<float>(), n);
  const std::vector<std::int64_t> want = core::argmax(map, 1).to_vector<std::int64_t>();
  const Tensor got = core::argmax(Tensor::from_vector(engine, {n, 5}), 1);
  REQUIRE(got.to_vector<std::int64_t>() == want);
}

TEST_CASE("pbnet: BN recalibration averages the batches' statistics", "[quant][pbnet]") {
  quant::StochasticBatchNorm bn(2);
  const Tensor a = test::uniform({4, 2, 3, 3}, -1, 2, 40, false), b = test::uniform({4, 2, 3, 3}, -2, 1, 41, false);
  const Tensor zero = Tensor::zeros({4, 2, 3, 3});
  bn.begin_recalibration();
  bn.train();
  bn(distribution(a, zero));
  bn(distribution(b, zero));
  bn.end_recalibration();
  const std::vector<float> ma = core::mean(a, {0, 2, 3}).to_vector<float>();
  const std::vector<float> mb = core::mean(b, {0, 2, 3}).to_vector<float>();
  const std::vector<float> rm = bn.state_dict().at("running_mean").to_vector<float>();
  for (std::size_t c = 0; c < 2; ++c) REQUIRE(rm[c] == Approx(0.5 * (ma[c] + mb[c])).margin(1e-6));
}
