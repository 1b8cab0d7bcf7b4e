// Schemes, per-layer plans, quantized layers in model builders, training helpers and the summary.
#include "core/ops.hpp"
#include "layers/conv.hpp"
#include "layers/models.hpp"
#include "optim/sgd.hpp"
#include "quant/quant_layers.hpp"
#include "quant/quantizers.hpp"
#include "quant/scheme.hpp"
#include "quant/summary.hpp"
#include "quant/training.hpp"
#include "tests/quant/quant_test_util.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <mutex>

using namespace lowbit;
using core::Tensor;

namespace {

void register_once() { test::register_quant_builtins(); }

layers::ModulePtr build(const std::string& model, const quant::QuantConfig& q, std::int64_t width = 0) {
  register_once();
  layers::ModelSpec spec;
  spec.name = model;
  spec.width = width;
  auto names = quant::weight_layer_names(
      [&](const layers::LayerFactory& f) { return layers::build_model(spec, 3, f); });
  return layers::build_model(spec, 3, quant::make_layer_factory(q, names));
}

quant::QuantConfig scheme(const std::string& name) {
  quant::QuantConfig c;
  c.defaults.scheme = name;
  return c;
}

}  // namespace

TEST_CASE("glob_match", "[quant]") {
  using quant::glob_match;
  REQUIRE(glob_match("conv1", "conv1"));
  REQUIRE_FALSE(glob_match("conv1", "conv10"));
  REQUIRE(glob_match("layer*.conv?", "layer1.0.conv2"));
  REQUIRE(glob_match("*downsample*", "layer2.0.downsample.1"));
  REQUIRE(glob_match("*", ""));
  REQUIRE_FALSE(glob_match("fc?", "fc"));
  REQUIRE(glob_match("a*b*c", "axxbyyc"));
  REQUIRE_FALSE(glob_match("a*b*c", "axxbyy"));
}

TEST_CASE("settings_for: first/last kept full precision, later overrides win", "[quant]") {
  quant::QuantConfig c = scheme("bnn");
  c.overrides.push_back({"layer*", c.defaults});
  c.overrides.back().settings.scheme = "dorefa";
  c.overrides.push_back({"layer1.*", c.defaults});
  c.overrides.back().settings.scheme = "xnor";
  REQUIRE(quant::settings_for(c, "conv1", true, false).scheme == "none");
  REQUIRE(quant::settings_for(c, "fc", false, true).scheme == "none");
  REQUIRE(quant::settings_for(c, "conv2", false, false).scheme == "bnn");
  REQUIRE(quant::settings_for(c, "layer2.0.conv1", false, false).scheme == "dorefa");
  REQUIRE(quant::settings_for(c, "layer1.0.conv1", false, false).scheme == "xnor");
  c.keep_first = false;
  REQUIRE(quant::settings_for(c, "conv1", true, false).scheme == "bnn");
}

TEST_CASE("a BNN vgg_small: float first and last layers, binary convs, hardtanh activations", "[quant]") {
  auto net = build("vgg_small", scheme("bnn"), 16);
  REQUIRE(dynamic_cast<layers::Conv2d*>(&net->submodule("conv1")) != nullptr);
  REQUIRE(dynamic_cast<layers::Linear*>(&net->submodule("fc")) != nullptr);
  auto* conv2 = dynamic_cast<quant::QuantConv2d*>(&net->submodule("conv2"));
  REQUIRE(conv2 != nullptr);
  REQUIRE(conv2->weight_quantizer().type_name() == "binary_connect");
  REQUIRE(conv2->input_quantizer().type_name() == "sign");
  REQUIRE(net->submodule("relu1").type_name() == "HardTanh");
  // Latent weights start equal to the float model's from the same seed.
  auto fp = build("vgg_small", scheme("none"), 16);
  REQUIRE(test::max_rel_error(conv2->latent_weight(),
                              dynamic_cast<layers::Conv2d&>(fp->submodule("conv2")).weight()) == 0.0);
  // Glorot LR scale: one group per binary layer, 1/sqrt(1.5/(fan_in+fan_out)).
  const auto groups = quant::make_param_groups(*net, 0.0, optim::NoDecayRule::vectors);
  bool found = false;
  for (const auto& g : groups) {
    if (g.name == "lr_scale:conv2") {
      found = true;
      REQUIRE(g.lr_scale == Approx(1.0 / std::sqrt(1.5 / (9.0 * 16 + 9.0 * 16))));
    }
  }
  REQUIRE(found);
  std::size_t total = 0;
  for (const auto& g : groups) total += g.params.size();
  REQUIRE(total == net->named_parameters().size());

  // Forward/backward and an optimizer step keep the latent weights in [-H, H] (BC self-check 4).
  Tensor x = test::uniform({2, 1, 28, 28}, -1, 1, 5, false);
  auto opt = std::make_unique<optim::Sgd>(groups, optim::SgdOptions{.lr = 1.0});
  core::sum(net->forward(x)).backward();
  opt->step();
  quant::apply_latent_constraints(*net);
  const Tensor w = conv2->latent_weight().contiguous();
  float mx = 0;
  for (std::int64_t i = 0; i < w.numel(); ++i) mx = std::max(mx, std::fabs(w.data<float>()[i]));
  REQUIRE(mx <= 1.0f);
  REQUIRE(quant::binary_weight_names(*net).front() == "conv2.weight");
}

TEST_CASE("quantized layers with 'none' quantizers equal the float layers", "[quant]") {
  register_once();
  core::Rng r1(9), r2(9);
  layers::Conv2dOptions o{3, 5, 3, 2, 1, 1, 1, true};
  layers::Conv2d f(o, r1);
  quant::QuantizerSpec spec;
  quant::LayerQuantizers q{quant::make_quantizer("none", spec), quant::make_quantizer("none", spec), nullptr};
  quant::QuantConv2d qc(o, r2, q);
  const Tensor x = test::uniform({2, 3, 7, 7}, -1, 1, 2, false);
  REQUIRE(test::max_rel_error(qc.forward(x), f.forward(x)) == 0.0);
  REQUIRE(qc.state_dict().size() == f.state_dict().size());
  // Gradients through a quantized conv with DoReFa activations are checked against differences
  // of its float twin on inputs that sit inside one quantization level (the STE is identity
  // there): the conv part of the gradient.
  REQUIRE(test::gradcheck(
      [&](const std::vector<Tensor>& in) { return core::conv2d(in[0], in[1], Tensor(), o.params()); },
      {test::uniform({1, 3, 5, 5}), test::uniform({5, 3, 3, 3})}));
}

TEST_CASE("config validation names the problem", "[quant]") {
  register_once();
  quant::QuantConfig c = scheme("bnnn");
  REQUIRE_THROWS_WITH(quant::validate(c), Catch::Contains("did you mean 'bnn'"));
  c = scheme("none");
  c.defaults.weight_quantizer = "pact";
  REQUIRE_THROWS_WITH(quant::validate(c), Catch::Contains("quantizes activations only"));
  c = scheme("dorefa");
  c.defaults.weight_bits = 9;
  REQUIRE_THROWS_WITH(quant::validate(c), Catch::Contains("weight_bits"));
  c = scheme("dorefa");
  c.overrides.push_back({"", c.defaults});
  REQUIRE_THROWS_WITH(quant::validate(c), Catch::Contains("match is empty"));
  REQUIRE_NOTHROW(quant::validate(scheme("xnor")));
}

TEST_CASE("model summary: bits, MACs split by precision, packed size", "[quant]") {
  auto net = build("lenet", scheme("bnn"));
  const auto cost = quant::model_cost(*net, core::Shape({1, 28, 28}));
  REQUIRE(cost.layers.size() == 4);
  // conv1 float 1->32 5x5 on 28x28; conv2 binary 32->64 5x5 on 14x14; fc1 binary; fc float.
  REQUIRE(cost.layers[0].macs == 32 * 25 * 28 * 28);
  REQUIRE(cost.layers[1].weight_bits == 1);
  REQUIRE(cost.layers[1].input_bits == 1);
  REQUIRE(cost.layers[1].macs == 64 * 32 * 25 * 14 * 14);
  REQUIRE(cost.layers[1].packed_bytes == 64 * 32 * 25 / 8);
  REQUIRE(cost.macs_binary == cost.layers[1].macs + cost.layers[2].macs);
  REQUIRE(cost.macs_float == cost.layers[0].macs + cost.layers[3].macs);
  REQUIRE(cost.total_params == net->num_parameters());
  const std::string text = quant::format_summary(cost);
  REQUIRE_THAT(text, Catch::Contains("binary W1A1"));
  REQUIRE(net->is_training());  // the probe restores the mode
}
