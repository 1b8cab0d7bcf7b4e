// The pieces learn: small models trained with plain SGD written here fit synthetic problems.

#include "core/ops.hpp"
#include "core/random.hpp"
#include "layers/layers.hpp"

#include <catch2/catch.hpp>

using namespace lowbit;
using core::Tensor;

namespace {

// p -= lr * grad for every parameter, outside the graph.
void sgd_step(layers::Module& model, float lr) {
  core::NoGradGuard no_grad;
  for (Tensor p : model.parameters()) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    float* pd = p.data<float>();
    const std::vector<float> gv = g.to_vector<float>();
    for (std::int64_t i = 0; i < p.numel(); ++i) pd[i] -= lr * gv[static_cast<std::size_t>(i)];
  }
}

double accuracy(const Tensor& logits, const Tensor& target) {
  const auto pred = core::argmax(logits, 1).to_vector<std::int64_t>();
  const auto t = target.to_vector<std::int64_t>();
  std::size_t hit = 0;
  for (std::size_t i = 0; i < t.size(); ++i) hit += pred[i] == t[i];
  return double(hit) / double(t.size());
}

}  // namespace

TEST_CASE("an mlp fits a synthetic classification problem with SGD", "[training]") {
  // 256 points in 8-d, labels from a fixed random linear teacher with 4 classes.
  core::Rng rng(12);
  const Tensor x = core::normal_tensor({256, 8}, 0.0f, 1.0f, rng);
  const Tensor teacher = core::normal_tensor({8, 4}, 0.0f, 1.0f, rng);
  const Tensor target = core::argmax(core::matmul(x, teacher), 1);

  core::Registry<layers::ModelBuilder> registry("model");
  layers::register_builtin_models(registry);
  layers::ModelSpec spec;
  spec.name = "mlp";
  spec.in_channels = 8;  // mlp flattens C*S*S features: 8 channels of 1x1 "images"
  spec.image_size = 1;
  spec.num_classes = 4;
  spec.hidden = {32};
  const auto model = layers::build_model(spec, 3, {}, registry);
  const Tensor input = x.reshape({256, 8, 1, 1});

  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    model->zero_grad();
    const Tensor loss = layers::cross_entropy(model->forward(input), target);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    sgd_step(*model, 0.5f);
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < first / 10.0);
  model->eval();
  CHECK(accuracy(model->forward(input), target) > 0.97);
}

TEST_CASE("a tiny CNN with a residual block fits random labels", "[training]") {
  // 32 random 1x8x8 images with random labels among 3 classes: only memorisation fits them, so
  // the loss falling far exercises every gradient path (conv, BN, residual, pooling, linear).
  core::Rng rng(21);
  const Tensor x = core::normal_tensor({32, 1, 8, 8}, 0.0f, 1.0f, rng);
  std::vector<std::int64_t> labels(32);
  for (auto& l : labels) l = static_cast<std::int64_t>(rng.below(3));
  const Tensor target = Tensor::from_vector(labels, {32});

  const layers::LayerFactory factory;
  const layers::LayerBuilder b(factory, 5);
  layers::Sequential net;
  net.add("conv1", b.conv({1, 8, 3, 1, 1, 1, 1, false}, "conv1"));
  net.add("bn1", std::make_shared<layers::BatchNorm2d>(8));
  net.add("relu", b.activation("relu"));
  net.add("block", std::make_shared<layers::BasicBlock>(8, 16, 2, b, "block"));
  net.add("pool", std::make_shared<layers::GlobalAvgPool>());
  net.add("fc", b.linear({16, 3, true}, "fc"));

  double first = 0, last = 0;
  for (int step = 0; step < 120; ++step) {
    net.zero_grad();
    const Tensor loss = layers::cross_entropy(net(x), target);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    sgd_step(net, 0.2f);
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < first / 5.0);
  CHECK(accuracy(net(x), target) == 1.0);
}
