// Initialisers: distributions (bounds, moments) and determinism from a seed.

#include "layers/layers.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

using namespace lowbit;
using core::Tensor;

namespace {

struct Moments {
  double mean = 0, std = 0, min = 0, max = 0;
};

Moments moments(const Tensor& t) {
  const auto v = t.to_vector<float>();
  Moments m;
  for (float e : v) m.mean += e;
  m.mean /= double(v.size());
  for (float e : v) m.std += (e - m.mean) * (e - m.mean);
  m.std = std::sqrt(m.std / double(v.size()));
  m.min = *std::min_element(v.begin(), v.end());
  m.max = *std::max_element(v.begin(), v.end());
  return m;
}

}  // namespace

TEST_CASE("fans and gains", "[init]") {
  const layers::Fans f = layers::compute_fans({64, 32, 3, 3});
  CHECK(f.fan_in == 32 * 9);
  CHECK(f.fan_out == 64 * 9);
  CHECK(layers::compute_fans({10, 7}).fan_in == 7);
  CHECK_THROWS_WITH(layers::compute_fans({10}), Catch::Contains("at least 2 axes"));
  CHECK(layers::leaky_relu_gain(0.0) == Approx(std::sqrt(2.0)));
  CHECK(layers::leaky_relu_gain(std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
}

TEST_CASE("initialisers draw the documented distributions", "[init]") {
  core::Rng rng(3);
  Tensor w = Tensor::empty({128, 64, 3, 3});  // fan_in 576, fan_out 1152
  layers::kaiming_normal_(w, rng, layers::FanMode::fan_out);
  Moments m = moments(w);
  CHECK(m.mean == Approx(0).margin(2e-3));
  CHECK(m.std == Approx(std::sqrt(2.0 / 1152)).epsilon(0.02));

  layers::kaiming_normal_(w, rng, layers::FanMode::fan_in);
  CHECK(moments(w).std == Approx(std::sqrt(2.0 / 576)).epsilon(0.02));

  layers::kaiming_uniform_(w, rng, layers::FanMode::fan_in, std::sqrt(5.0));
  m = moments(w);
  const double b = 1.0 / std::sqrt(576.0);
  CHECK(m.max < b);
  CHECK(m.min >= -b);
  CHECK(m.max > 0.99 * b);
  CHECK(m.std == Approx(b / std::sqrt(3.0)).epsilon(0.02));

  Tensor g = Tensor::empty({300, 200});
  layers::glorot_uniform_(g, rng);
  m = moments(g);
  const double gb = std::sqrt(6.0 / 500);
  CHECK(m.max < gb);
  CHECK(m.min >= -gb);
  CHECK(m.max > 0.99 * gb);
  layers::glorot_normal_(g, rng, 2.0);
  CHECK(moments(g).std == Approx(2.0 * std::sqrt(2.0 / 500)).epsilon(0.02));

  layers::ones_(g);
  CHECK(moments(g).min == 1.0);
  layers::zeros_(g);
  CHECK(moments(g).max == 0.0);
}

TEST_CASE("layer defaults: conv Kaiming fan_out, linear PyTorch bound, BN 1 and 0", "[init]") {
  core::Rng rng(4);
  layers::Conv2d conv({64, 128, 3, 1, 1, 1, 1, false}, rng);
  CHECK(moments(conv.weight()).std == Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.03));
  layers::Linear fc({400, 300, true}, rng);
  const double b = 1.0 / std::sqrt(400.0);
  for (const Tensor& t : {fc.weight(), fc.bias()}) {
    const Moments m = moments(t);
    CHECK(m.max < b);
    CHECK(m.min >= -b);
  }
  CHECK(moments(fc.weight()).max > 0.99 * b);
  layers::BatchNorm2d bn(5);
  CHECK(moments(bn.weight()).min == 1.0);
  CHECK(moments(bn.weight()).max == 1.0);
  CHECK(moments(bn.bias()).max == 0.0);
  CHECK(moments(bn.running_var()).min == 1.0);
}

TEST_CASE("models are a pure function of the seed", "[init][models]") {
  core::Registry<layers::ModelBuilder> registry("model");
  layers::register_builtin_models(registry);
  layers::ModelSpec spec;
  spec.name = "lenet";
  spec.width = 4;
  spec.hidden = {16};
  spec.dropout = 0.3;
  const auto a = layers::build_model(spec, 17, {}, registry);
  const auto b = layers::build_model(spec, 17, {}, registry);
  const auto c = layers::build_model(spec, 18, {}, registry);
  for (const auto& [name, t] : a->state_dict()) {
    if (t.dtype() != core::DType::f32) continue;
    CHECK(test::max_rel_error(b->state_dict().at(name), t) == 0.0);
    if (name.find("weight") != std::string::npos && name.rfind("bn", 0) != 0) {
      INFO(name);
      CHECK(test::max_rel_error(c->state_dict().at(name), t) > 1e-4);
    }
  }
  // Dropout generators are seeded from the model seed too.
  auto ra = a->named_rngs(), rb = b->named_rngs(), rc = c->named_rngs();
  REQUIRE(ra.size() == 1);
  CHECK(ra[0].first == "drop_fc1.rng");
  CHECK(ra[0].second->state() == rb[0].second->state());
  CHECK_FALSE(ra[0].second->state() == rc[0].second->state());

  // Each layer's init depends only on (seed, name): swapping conv2 through the factory leaves
  // every other layer's initial weights unchanged.
  layers::LayerFactory factory;
  bool swapped = false;
  factory.make_conv = [&](const layers::Conv2dOptions& o, const std::string& name,
                          core::Rng& rng) -> layers::ModulePtr {
    if (name != "conv2") return layers::make_float_conv(o, name, rng);
    swapped = true;
    core::Rng other(99);
    return std::make_shared<layers::Conv2d>(o, other);
  };
  const auto d = layers::build_model(spec, 17, factory, registry);
  CHECK(swapped);
  for (const auto& [name, t] : a->state_dict()) {
    if (t.dtype() != core::DType::f32) continue;
    INFO(name);
    if (name == "conv2.weight") {
      CHECK(test::max_rel_error(d->state_dict().at(name), t) > 1e-4);
    } else {
      CHECK(test::max_rel_error(d->state_dict().at(name), t) == 0.0);
    }
  }
}
