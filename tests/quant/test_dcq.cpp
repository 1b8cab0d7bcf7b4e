// DCQ building blocks (quant/dcq.hpp) and the self-checks of methods.md 5.5 that need no run
// directory: section plans, the identity at initialisation, isolation of a section's gradients, the
// section losses and BN re-estimation. tests/apps covers whole DCQ runs.
#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "core/rng.hpp"
#include "layers/batch_norm.hpp"
#include "layers/models.hpp"
#include "optim/sgd.hpp"
#include "quant/dcq.hpp"
#include "quant/quant_layers.hpp"
#include "quant/scheme.hpp"
#include "tests/quant/quant_test_util.hpp"

#include <catch2/catch.hpp>

using namespace lowbit;
using core::Tensor;
namespace dcq = quant::dcq;
using test::values;

namespace {

layers::ModulePtr build(const std::string& model, const std::string& scheme, std::uint64_t seed = 5) {
  test::register_quant_builtins();
  layers::ModelSpec spec;
  spec.name = model;
  spec.image_size = 12;
  spec.width = model == "resnet20" ? 4 : 6;
  if (model == "lenet") spec.hidden = {16};
  quant::QuantConfig q;
  q.defaults.scheme = scheme;
  q.defaults.weight_bits = 2;
  q.defaults.activation_bits = 2;
  const auto names = quant::weight_layer_names(
      [&](const layers::LayerFactory& f) { return layers::build_model(spec, seed, f); });
  return layers::build_model(spec, seed, quant::make_layer_factory(q, names));
}

Tensor images(std::int64_t n, std::uint64_t seed = 9) {
  core::Rng rng(seed);
  return core::uniform_tensor({n, 1, 12, 12}, -1.0f, 1.0f, rng);
}

// Every tensor of the state dict, copied (a fingerprint of the section's parameters and buffers).
std::vector<std::vector<float>> snapshot(const layers::Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : m.state_dict()) {
    if (t.dtype() == core::DType::f32) out.push_back(values(t));
  }
  return out;
}

std::vector<std::string> names(const std::vector<dcq::Section>& sections) {
  std::vector<std::string> out;
  for (const auto& s : sections) out.push_back(dcq::describe(s));
  return out;
}

}  // namespace

TEST_CASE("dcq: sections split at named layers or at stage boundaries", "[dcq]") {
  const auto vgg = build("vgg_small", "none");
  CHECK(dcq::stage_boundaries(*vgg) == std::vector<std::string>{"pool1", "pool2", "pool3"});
  CHECK(names(dcq::plan_sections(*vgg, {}, 3)) ==
        std::vector<std::string>{"conv1..pool1", "conv3..pool2", "conv5..fc"});
  CHECK(names(dcq::plan_sections(*vgg, {}, 4)) ==
        std::vector<std::string>{"conv1..pool1", "conv3..pool2", "conv5..pool3", "flatten..fc"});
  CHECK(names(dcq::plan_sections(*vgg, {"pool2"}, 0)) == std::vector<std::string>{"conv1..pool2", "conv5..fc"});
  CHECK(dcq::plan_sections(*vgg, {}, 1).size() == 1);  // one section: ordinary distillation

  const auto resnet = build("resnet20", "none");
  CHECK(dcq::stage_boundaries(*resnet) == std::vector<std::string>{"layer1", "layer2", "layer3"});
  CHECK(names(dcq::plan_sections(*resnet, {}, 3)) ==
        std::vector<std::string>{"conv1..layer1", "layer2", "layer3..fc"});

  // Sections cover the model once, in order.
  const auto s = dcq::plan_sections(*resnet, {}, 4);
  REQUIRE(s.size() == 4);
  CHECK(s.front().begin == 0);
  CHECK(s.back().end == resnet->named_children().size());
  for (std::size_t i = 1; i < s.size(); ++i) CHECK(s[i].begin == s[i - 1].end);

  CHECK_THROWS_WITH(dcq::plan_sections(*vgg, {"pool9"}, 0), Catch::Contains("no top-level layer 'pool9'") &&
                                                                Catch::Contains("pool1"));
  CHECK_THROWS_WITH(dcq::plan_sections(*vgg, {"pool2", "pool1"}, 0), Catch::Contains("out of model order"));
  CHECK_THROWS_WITH(dcq::plan_sections(*vgg, {"fc"}, 0), Catch::Contains("last layer"));
  CHECK_THROWS_WITH(dcq::plan_sections(*vgg, {}, 5), Catch::Contains("the model has 3 (pool1, pool2, pool3)"));
  CHECK_THROWS_WITH(dcq::plan_sections(*vgg, {"pool1"}, 2), Catch::Contains("not both"));
}

TEST_CASE("dcq: a section module names its layers as the whole model does and shares them", "[dcq]") {
  const auto model = build("vgg_small", "dorefa");
  const auto sections = dcq::plan_sections(*model, {}, 3);
  dcq::SectionModule view(*model, sections[1]);
  const auto whole = model->state_dict();
  for (const auto& [name, t] : view.state_dict()) {
    INFO(name);
    CHECK((name.starts_with("conv3") || name.starts_with("bn3") || name.starts_with("act3") ||
           name.starts_with("conv4") || name.starts_with("bn4") || name.starts_with("act4")));
    REQUIRE(whole.contains(name));
    if (t.dtype() == core::DType::f32) CHECK(whole.at(name).data<float>() == t.data<float>());  // shared, not copied
  }
  // Running the sections one after another is running the model.
  model->eval();
  core::NoGradGuard no_grad;
  const Tensor x = images(3);
  Tensor h = x;
  for (const auto& s : sections) h = dcq::run_children(*model, s.begin, s.end, h);
  CHECK(values(h) == values((*model)(x)));
}

TEST_CASE("dcq: with quantizers off, every section loss is zero at initialisation and the stitched net is the teacher",
          "[dcq]") {
  for (const std::string arch : {"vgg_small", "resnet20", "lenet"}) {
    INFO(arch);
    const auto teacher = build(arch, "none", 5);
    const auto student = build(arch, "none", 77);  // another init, then the teacher's weights
    // Make the teacher's BN statistics non-trivial, as a trained teacher's are.
    teacher->train();
    {
      core::NoGradGuard no_grad;
      (void)(*teacher)(images(8, 1));
    }
    student->load_state_dict(teacher->state_dict());
    teacher->eval();
    student->eval();
    const auto sections = dcq::plan_sections(*teacher, {}, 3);
    core::NoGradGuard no_grad;
    const Tensor x = images(4);
    Tensor h_teacher = x, h_student = x;
    for (const auto& s : sections) {
      const Tensor t_in = dcq::run_children(*teacher, 0, s.begin, x);
      const Tensor t_out = dcq::run_children(*teacher, s.begin, s.end, t_in);
      const Tensor s_out = dcq::run_children(*student, s.begin, s.end, t_in);
      for (auto kind : {dcq::RegressionLoss::mse, dcq::RegressionLoss::l1, dcq::RegressionLoss::huber}) {
        CHECK(dcq::regression_loss(kind, s_out, t_out, 0.4).item() == 0.0);
      }
      h_student = dcq::run_children(*student, s.begin, s.end, h_student);
      h_teacher = t_out;
    }
    CHECK(values(h_student) == values((*teacher)(x)));  // bit for bit
    CHECK(values(h_teacher) == values((*teacher)(x)));
  }
}

TEST_CASE("dcq: training one section changes nothing outside it and never reaches the teacher", "[dcq]") {
  const auto teacher = build("vgg_small", "none", 5);
  const auto student = build("vgg_small", "dorefa", 5);
  student->load_state_dict(teacher->state_dict(), /*strict=*/false);
  teacher->eval();
  const auto sections = dcq::plan_sections(*student, {}, 3);
  dcq::SectionModule s1(*student, sections[0]), s2(*student, sections[1]), s3(*student, sections[2]);
  const auto before1 = snapshot(s1), before3 = snapshot(s3), before_t = snapshot(*teacher);
  const auto before2 = snapshot(s2);

  const auto sgd = optim::make_sgd(s2.named_parameters(), {.lr = 0.1, .momentum = 0.0, .weight_decay = 0.0});
  s2.train();
  for (int step = 0; step < 3; ++step) {
    const Tensor x = images(6, 20 + static_cast<std::uint64_t>(step));
    Tensor t_in, t_out;
    {
      core::NoGradGuard no_grad;
      t_in = dcq::run_children(*teacher, 0, sections[1].begin, x);
      t_out = dcq::run_children(*teacher, sections[1].begin, sections[1].end, t_in);
    }
    Tensor loss = dcq::regression_loss(dcq::RegressionLoss::mse, s2(t_in), t_out, 0.4);
    sgd->zero_grad();
    loss.backward();
    for (const auto& [name, p] : teacher->named_parameters()) {
      INFO(name);
      CHECK_FALSE(p.grad().defined());
    }
    for (const auto& [name, p] : s1.named_parameters()) CHECK_FALSE(p.grad().defined());
    sgd->step();
  }
  CHECK(snapshot(s1) == before1);
  CHECK(snapshot(s3) == before3);
  CHECK(snapshot(*teacher) == before_t);
  CHECK(snapshot(s2) != before2);  // the section itself did train
}

TEST_CASE("dcq: the section losses", "[dcq]") {
  const Tensor a = Tensor::from_vector<float>({0.0f, 1.0f, -2.0f, 0.5f}, {2, 2});
  const Tensor b = Tensor::from_vector<float>({0.0f, 0.0f, 0.0f, 0.0f}, {2, 2});
  CHECK(dcq::regression_loss(dcq::RegressionLoss::mse, a, b, 0.4).item() == Approx((1.0 + 4.0 + 0.25) / 4));
  CHECK(dcq::regression_loss(dcq::RegressionLoss::l1, a, b, 0.4).item() == Approx((1.0 + 2.0 + 0.5) / 4));
  // Huber, delta 0.4: every |d| here is beyond delta except 0: 0.4 * (|d| - 0.2).
  CHECK(dcq::regression_loss(dcq::RegressionLoss::huber, a, b, 0.4).item() ==
        Approx((0.4 * 0.8 + 0.4 * 1.8 + 0.4 * 0.3) / 4));
  const Tensor small = Tensor::from_vector<float>({0.1f, -0.3f}, {2});
  const Tensor zero = Tensor::from_vector<float>({0.0f, 0.0f}, {2});
  CHECK(dcq::regression_loss(dcq::RegressionLoss::huber, small, zero, 0.4).item() ==
        Approx((0.5 * 0.01 + 0.5 * 0.09) / 2));
  CHECK_THROWS_WITH(dcq::regression_loss(dcq::RegressionLoss::mse, a, zero, 0.4), Catch::Contains("differs"));
  CHECK_THROWS_WITH(dcq::parse_regression_loss("kl"), Catch::Contains("mse, l1, huber"));
}

TEST_CASE("dcq: BN re-estimation is the plain average of the batches' statistics", "[dcq]") {
  const auto model = build("lenet", "none");
  std::vector<Tensor> batches = {images(5, 1), images(5, 2), images(5, 3)};
  std::size_t next = 0;
  const std::int64_t used = dcq::recalibrate_batch_norm(
      *model, [&]() -> std::optional<Tensor> { return next < batches.size() ? std::optional(batches[next++]) : std::nullopt; },
      10);
  CHECK(used == 3);
  CHECK(model->is_training());  // mode restored
  // bn1's running mean is the mean of its three batch means.
  auto& bn1 = dynamic_cast<layers::BatchNorm&>(model->submodule("bn1"));
  CHECK(bn1.options().momentum == Approx(0.1));  // momentum restored
  model->eval();
  core::NoGradGuard no_grad;
  std::vector<double> expect(static_cast<std::size_t>(bn1.running_mean().numel()), 0.0);
  for (const auto& x : batches) {
    const Tensor pre = (*model).submodule("conv1")(x);
    const auto m = values(core::mean(pre, {0, 2, 3}));
    for (std::size_t c = 0; c < expect.size(); ++c) expect[c] += m[c] / 3.0;
  }
  const auto got = values(bn1.running_mean());
  for (std::size_t c = 0; c < expect.size(); ++c) CHECK(got[c] == Approx(expect[c]).margin(1e-5));
}
