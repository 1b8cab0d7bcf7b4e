// Every layer's forward is checked against central differences, with respect to its input and
// every parameter (gradcheck perturbs the parameter tensors in place, which the layer shares).

#include "layers/layers.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

using namespace lowbit;
using core::Tensor;

namespace {

// Gradcheck of m(x) with respect to x and every parameter of m.
test::GradcheckResult check_module(layers::Module& m, const Tensor& x,
                                   test::GradcheckOptions opt = {}) {
  std::vector<Tensor> inputs{x};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  return test::gradcheck([&](const std::vector<Tensor>& in) { return m(in[0]); }, inputs, opt);
}

// Replaces every parameter of m with uniform values in [lo, hi) (so BN's gamma is not all 1).
void randomize(layers::Module& m, float lo, float hi, std::uint64_t seed) {
  core::Rng rng(seed);
  for (Tensor p : m.parameters()) layers::uniform_(p, rng, lo, hi);
}

}  // namespace

TEST_CASE("Linear gradients", "[gradcheck][layers]") {
  core::Rng rng(1);
  layers::Linear with_bias({5, 3, true}, rng);
  const auto r1 = check_module(with_bias, test::uniform({4, 5}, -1, 1, 2));
  CHECK(r1.ok);
  INFO(r1.message);
  layers::Linear no_bias({5, 3, false}, rng);
  CHECK_FALSE(no_bias.bias().defined());
  CHECK(no_bias.parameters().size() == 1);
  const auto r2 = check_module(no_bias, test::uniform({2, 5}, -1, 1, 3));
  INFO(r2.message);
  CHECK(r2.ok);
  CHECK_THROWS_WITH(with_bias(Tensor::zeros({2, 6})), Catch::Contains("expected input (N, 5)"));
}

TEST_CASE("Conv2d gradients: stride, padding, dilation, groups, bias", "[gradcheck][layers]") {
  core::Rng rng(2);
  struct Case {
    layers::Conv2dOptions o;
    std::int64_t size;
  };
  const std::vector<Case> cases{
      {{2, 3, 3, 1, 1, 1, 1, true}, 5},   // same padding, bias
      {{2, 4, 3, 2, 1, 1, 1, false}, 6},  // stride 2
      {{4, 4, 3, 1, 2, 2, 2, true}, 6},   // dilation 2, groups 2
      {{3, 2, 1, 1, 0, 1, 1, false}, 4},  // 1x1
  };
  for (const Case& c : cases) {
    layers::Conv2d conv(c.o, rng);
    const Tensor x = test::uniform({2, c.o.in_channels, c.size, c.size}, -1, 1, 5);
    const Tensor y = conv(x);
    CHECK(y.shape() ==
          core::Shape{2, c.o.out_channels, c.o.output_size(c.size), c.o.output_size(c.size)});
    const auto r = check_module(conv, x);
    INFO(conv.describe() << ": " << r.message);
    CHECK(r.ok);
  }
  CHECK_THROWS_WITH(layers::Conv2d({3, 4, 3, 1, 1, 1, 2, false}, rng),
                    Catch::Contains("groups=2 must divide"));
}

TEST_CASE("BatchNorm gradients in training and eval", "[gradcheck][layers][batchnorm]") {
  layers::BatchNorm1d bn1(3);
  randomize(bn1, 0.5f, 1.5f, 3);
  const auto r1 = check_module(bn1, test::uniform({5, 3}, -1, 1, 4));
  INFO(r1.message);
  CHECK(r1.ok);

  layers::BatchNorm2d bn2(2);
  randomize(bn2, 0.5f, 1.5f, 4);
  const Tensor x = test::uniform({3, 2, 3, 3}, -1, 1, 5);
  const auto r2 = check_module(bn2, x);
  INFO(r2.message);
  CHECK(r2.ok);
  bn2.eval();
  const auto r3 = check_module(bn2, x);
  INFO(r3.message);
  CHECK(r3.ok);

  layers::BatchNorm2d no_affine(layers::BatchNormOptions{2, 1e-5, 0.1, false});
  CHECK(no_affine.parameters().empty());
  const auto r4 = check_module(no_affine, x);
  INFO(r4.message);
  CHECK(r4.ok);
  CHECK_THROWS_WITH(bn2(Tensor::zeros({3, 2})), Catch::Contains("BatchNorm2d takes (N, C, H, W)"));
}

TEST_CASE("activation, pooling and flatten gradients", "[gradcheck][layers]") {
  const Tensor x = test::uniform({2, 3, 4, 4}, -2, 2, 6);
  layers::ReLU relu;
  layers::HardTanh hardtanh;
  layers::MaxPool2d max2({2, 0, 0});
  layers::MaxPool2d max3({3, 2, 1});
  layers::AvgPool2d avg({3, 2, 1});
  layers::GlobalAvgPool gap;
  layers::Flatten flatten;
  for (layers::Module* m :
       std::vector<layers::Module*>{&relu, &hardtanh, &max2, &max3, &avg, &gap, &flatten}) {
    const auto r = check_module(*m, x);
    INFO(m->describe() << ": " << r.message);
    CHECK(r.ok);
  }
  CHECK(max2(x).shape() == core::Shape{2, 3, 2, 2});
  CHECK(max3(x).shape() == core::Shape{2, 3, 2, 2});
  CHECK(gap(x).shape() == core::Shape{2, 3});
  CHECK(flatten(x).shape() == core::Shape{2, 48});
  const auto h = hardtanh(x).to_vector<float>();
  for (float v : h) CHECK((v >= -1.0f && v <= 1.0f));
}

TEST_CASE("Dropout gradient follows its mask", "[gradcheck][layers][dropout]") {
  layers::Dropout drop(0.4, 3);
  const core::RngState start = drop.rng().state();
  // Replay the same mask on every evaluation.
  const auto r = test::gradcheck(
      [&](const std::vector<Tensor>& in) {
        drop.rng().set_state(start);
        return drop(in[0]);
      },
      {test::uniform({4, 6}, -1, 1, 7)});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("Sequential and BasicBlock gradients", "[gradcheck][layers][resnet]") {
  core::Rng rng(4);
  layers::Sequential seq;
  seq.add(std::make_shared<layers::Conv2d>(layers::Conv2dOptions{2, 3, 3, 1, 1, 1, 1, true}, rng));
  seq.add(std::make_shared<layers::HardTanh>());
  seq.add(std::make_shared<layers::Flatten>());
  seq.add(std::make_shared<layers::Linear>(layers::LinearOptions{27, 2, true}, rng));
  const auto r0 = check_module(seq, test::uniform({2, 2, 3, 3}, -1, 1, 8));
  INFO(r0.message);
  CHECK(r0.ok);

  const layers::LayerFactory factory;
  const layers::LayerBuilder builder(factory, 5);
  for (const std::int64_t stride : {1, 2}) {
    const std::int64_t out = stride == 1 ? 2 : 4;
    layers::BasicBlock block(2, out, stride, builder, "block");
    CHECK(block.has_downsample() == (stride != 1));
    randomize(block, 0.5f, 1.5f, 9);  // positive BN gamma/beta keep most ReLUs active
    const Tensor x = test::uniform({2, 2, 4, 4}, -1, 1, 10);
    CHECK(block(x).shape() == core::Shape{2, out, 4 / stride, 4 / stride});
    const auto r = check_module(block, x);
    INFO(block.describe() << ": " << r.message);
    CHECK(r.ok);
  }
}
