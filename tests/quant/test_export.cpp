// export -> the XNOR engine reproduces the training model's eval forward: the same predictions
// (and logits to float rounding) for every binary scheme, close logits for k-bit DoReFa.
#include "core/ops.hpp"
#include "core/random.hpp"
#include "layers/batch_norm.hpp"
#include "layers/models.hpp"
#include "quant/export.hpp"
#include "quant/quantizer.hpp"
#include "quant/scheme.hpp"
#include "quant/xnor/runner.hpp"
#include "tests/quant/quant_test_util.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <mutex>

using namespace lowbit;
using core::Tensor;

namespace {

void register_once() { test::register_quant_builtins(); }

layers::ModulePtr build(layers::ModelSpec spec, const quant::QuantConfig& q) {
  register_once();
  auto names = quant::weight_layer_names([&](const layers::LayerFactory& f) { return layers::build_model(spec, 3, f); });
  return layers::build_model(spec, 3, quant::make_layer_factory(q, names));
}

// Random parameters and BN statistics (negative gammas included), as if trained.
void randomize(layers::Module& model, std::uint64_t seed) {
  core::Rng rng(seed);
  core::NoGradGuard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    Tensor t = p;
    rng.fill_uniform(t.data<float>(), t.numel(), -1.0f, 1.0f);
  }
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<layers::BatchNorm*>(m)) {
      Tensor mean = bn->running_mean(), var = bn->running_var();
      rng.fill_uniform(mean.data<float>(), mean.numel(), -3.0f, 3.0f);
      rng.fill_uniform(var.data<float>(), var.numel(), 0.5f, 20.0f);
    }
  }
}

struct Comparison {
  std::int64_t mismatched_predictions = 0;
  double max_logit_diff = 0.0;
};

Comparison compare(layers::Module& model, std::int64_t c, std::int64_t hw, std::int64_t n = 16) {
  model.eval();
  const float mean = 0.3f, std = 0.35f;
  quant::ExportInput in{c, hw, hw, std::vector<float>(c, mean), std::vector<float>(c, std)};
  quant::xnor::Runner runner(quant::export_model(model, in));
  const Tensor images = test::uniform({n, c, hw, hw}, 0.0f, 1.0f, 21, false);
  const std::vector<float> logits = runner.run(images.data<float>(), n);
  Tensor x = (images - mean) * (1.0f / std);
  const Tensor ref = model.forward(x).contiguous();
  const std::int64_t classes = ref.size(1);
  Comparison r;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t a = 0, b = 0;
    for (std::int64_t k = 0; k < classes; ++k) {
      const float e = logits[i * classes + k], t = ref.data<float>()[i * classes + k];
      r.max_logit_diff = std::max(r.max_logit_diff, static_cast<double>(std::fabs(e - t)) / std::max(1.0f, std::fabs(t)));
      if (e > logits[i * classes + a]) a = k;
      if (t > ref.data<float>()[i * classes + b]) b = k;
    }
    r.mismatched_predictions += a != b;
  }
  return r;
}

quant::QuantConfig scheme(const std::string& name, int wbits = 1, int abits = 1) {
  quant::QuantConfig q;
  q.defaults.scheme = name;
  q.defaults.weight_bits = wbits;
  q.defaults.activation_bits = abits;
  return q;
}

}  // namespace

TEST_CASE("export: binary LeNet/VGG (BNN, XNOR) run in the engine as in training", "[quant][export]") {
  for (const std::string s : {"bnn", "xnor"}) {
    for (const std::string arch : {"lenet", "vgg_small"}) {
      DYNAMIC_SECTION(s << " " << arch) {
        layers::ModelSpec spec;
        spec.name = arch;
        spec.width = arch == "lenet" ? 8 : 8;
        if (arch == "lenet") spec.hidden = {40};
        auto model = build(spec, scheme(s));
        randomize(*model, 5);
        const Comparison r = compare(*model, 1, 28);
        CHECK(r.mismatched_predictions == 0);
        CHECK(r.max_logit_diff < 1e-4);
      }
    }
  }
}

TEST_CASE("export: Bi-Real ResNet-18 (float stem, downsample and classifier)", "[quant][export]") {
  layers::ModelSpec spec;
  spec.name = "resnet18";
  spec.block = "bireal";
  spec.width = 8;
  spec.in_channels = 3;
  spec.image_size = 13;  // odd maps all the way down
  quant::QuantConfig q = scheme("bireal");
  q.overrides.push_back({"*downsample*", q.defaults});
  q.overrides.back().settings.scheme = "none";
  auto model = build(spec, q);
  randomize(*model, 8);
  const Comparison r = compare(*model, 3, 13);
  CHECK(r.mismatched_predictions == 0);
  CHECK(r.max_logit_diff < 1e-3);
}

TEST_CASE("export: DoReFa k-bit layers and BinaryConnect float-input layers", "[quant][export]") {
  for (const auto& [name, w, a] : std::vector<std::tuple<std::string, int, int>>{
           {"dorefa", 2, 2}, {"dorefa", 1, 2}, {"dorefa", 3, 4}, {"binary_connect", 1, 1}}) {
    DYNAMIC_SECTION(name << " w" << w << " a" << a) {
      layers::ModelSpec spec;
      spec.name = "lenet";
      spec.width = 8;
      spec.hidden = {40};
      auto model = build(spec, scheme(name, w, a));
      randomize(*model, 6);
      const Comparison r = compare(*model, 1, 28);
      // Float sums in a different order: logits agree to rounding, predictions (almost) always.
      CHECK(r.max_logit_diff < 1e-3);
      CHECK(r.mismatched_predictions <= 1);
    }
  }
}

TEST_CASE("export: DBSSQ power-of-two weights become int8 codes (2 shift bits), float beyond int8 (3)",
          "[quant][export][dbssq]") {
  for (const int s : {2, 3}) {
    DYNAMIC_SECTION("shift bits " << s) {
      layers::ModelSpec spec;
      spec.name = "lenet";
      spec.width = 8;
      spec.hidden = {40};
      auto model = build(spec, scheme("dbssq", s, 32));
      randomize(*model, 9);
      {
        core::NoGradGuard no_grad;  // a training forward captures sigma from the starting weights
        model->train();
        (void)(*model)(test::uniform({4, 1, 28, 28}, 0.0f, 1.0f, 3, false));
      }
      model->eval();
      quant::ExportInput in{1, 28, 28, {0.3f}, {0.35f}};
      const quant::xnor::Model exported = quant::export_model(*model, in);
      std::vector<std::string> int8_layers;
      for (const auto& op : exported.ops) {
        if (quant::xnor::op_kind(op.params) == quant::xnor::OpKind::conv2d_i8) {
          int8_layers.push_back(op.name);
          // 2 shift bits: codes +-2^(3 - j), j in 0..3.
          for (const std::int8_t q : std::get<quant::xnor::Conv2dI8>(op.params).weight) {
            CHECK((std::abs(q) == 1 || std::abs(q) == 2 || std::abs(q) == 4 || std::abs(q) == 8));
          }
        }
      }
      CHECK(int8_layers == (s == 2 ? std::vector<std::string>{"conv2", "fc1"} : std::vector<std::string>{}));
      const Comparison r = compare(*model, 1, 28);
      CHECK(r.max_logit_diff < 1e-3);
      CHECK(r.mismatched_predictions <= 1);
    }
  }
}

TEST_CASE("export: DBSSQ weights and activations run as power-of-two integer codes",
          "[quant][export][dbssq]") {
  layers::ModelSpec spec;
  spec.name = "lenet";
  spec.width = 8;
  spec.hidden = {40};
  quant::QuantConfig q = scheme("dbssq", 2, 2);
  q.defaults.activation_quantizer = "dbssq";
  auto model = build(spec, q);
  randomize(*model, 11);
  {
    core::NoGradGuard no_grad;  // capture sigma; the norms' running statistics are randomized
    model->train();
    (void)(*model)(test::uniform({4, 1, 28, 28}, 0.0f, 1.0f, 3, false));
  }
  randomize(*model, 11);
  model->eval();
  quant::ExportInput in{1, 28, 28, {0.3f}, {0.35f}};
  const quant::xnor::Model exported = quant::export_model(*model, in);
  std::vector<std::string> kinds;
  for (const auto& op : exported.ops) {
    const auto kind = quant::xnor::op_kind(op.params);
    if (kind == quant::xnor::OpKind::quantize_pow2 || kind == quant::xnor::OpKind::conv2d_i8) {
      kinds.push_back(op.name + ":" + quant::xnor::op_kind_name(kind) + ":" +
                      quant::xnor::value_kind_name(exported.value(op.inputs[0]).kind));
    }
  }
  CHECK(kinds == std::vector<std::string>{"conv2.quantize:quantize_pow2:f32", "conv2:conv2d_i8:i8",
                                          "fc1.quantize:quantize_pow2:f32", "fc1:conv2d_i8:i8"});
  const Comparison r = compare(*model, 1, 28, 32);
  CHECK(r.max_logit_diff < 1e-4);
  CHECK(r.mismatched_predictions == 0);

  quant::QuantConfig q3 = q;  // 3 shift bits: activation codes up to 2^7 leave int8's range
  q3.defaults.activation_bits = 3;
  auto wide = build(spec, q3);
  CHECK_THROWS_WITH(quant::export_model(*wide, in),
                    Catch::Contains("conv2") && Catch::Contains("at most 2 shift bits"));
}

TEST_CASE("export: layers the engine cannot run are refused by name", "[quant][export]") {
  layers::ModelSpec spec;
  spec.name = "lenet";
  spec.width = 8;
  auto model = build(spec, scheme("lsq", 2, 2));
  quant::ExportInput in{1, 28, 28, {}, {}};
  CHECK_THROWS_WITH(quant::export_model(*model, in), Catch::Contains("conv2") && Catch::Contains("DoReFa"));
}
