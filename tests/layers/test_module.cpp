// Module bookkeeping: names, train/eval, state dicts (round trip, errors, files), generators.

#include "core/io.hpp"
#include "layers/layers.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>

using namespace lowbit;
using core::Tensor;
using layers::ModulePtr;

namespace {

// A small model with every kind of entry: conv (no bias), BN (buffers), nested Sequential, linear.
std::shared_ptr<layers::Sequential> small_net(std::uint64_t seed) {
  core::Rng rng(seed);
  auto net = std::make_shared<layers::Sequential>();
  net->add("conv1", std::make_shared<layers::Conv2d>(
                        layers::Conv2dOptions{2, 4, 3, 1, 1, 1, 1, false}, rng));
  net->add("bn1", std::make_shared<layers::BatchNorm2d>(4));
  auto features = net->add("features", std::make_shared<layers::Sequential>());
  features->add(std::make_shared<layers::ReLU>());
  features->add(std::make_shared<layers::Dropout>(0.5, 9));
  net->add("pool", std::make_shared<layers::GlobalAvgPool>());
  net->add("fc", std::make_shared<layers::Linear>(layers::LinearOptions{4, 3, true}, rng));
  return net;
}

std::string temp_path(const char* tag) {
  return fmt::format("/tmp/lowbit_test_layers_{}_{}.bin", tag, ::getpid());
}

}  // namespace

TEST_CASE("module names parameters, buffers and children with dotted paths", "[module]") {
  auto net = small_net(1);
  std::vector<std::string> params;
  for (const auto& [name, t] : net->named_parameters()) {
    params.push_back(name);
    CHECK(t.requires_grad());
  }
  CHECK(params ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"});
  std::vector<std::string> buffers;
  for (const auto& [name, t] : net->named_buffers()) {
    buffers.push_back(name);
    CHECK_FALSE(t.requires_grad());
  }
  CHECK(buffers ==
        std::vector<std::string>{"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"});
  std::vector<std::string> modules;
  for (const auto& [name, m] : net->named_modules()) modules.push_back(name);
  CHECK(modules == std::vector<std::string>{"", "conv1", "bn1", "features", "features.0",
                                            "features.1", "pool", "fc"});
  CHECK(net->state_dict().keys() ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                 "bn1.running_var", "bn1.num_batches_tracked", "fc.weight",
                                 "fc.bias"});
  CHECK(net->num_parameters() == 4 * 2 * 9 + 4 + 4 + 3 * 4 + 3);
  CHECK(net->submodule("features.1").type_name() == "Dropout");
  CHECK_THROWS_WITH(net->submodule("features.7"),
                    Catch::Contains("no submodule '7'") && Catch::Contains("0, 1"));
  const auto rngs = net->named_rngs();
  REQUIRE(rngs.size() == 1);
  CHECK(rngs[0].first == "features.1.rng");
  CHECK_FALSE(layers::summary(*net).empty());
}

TEST_CASE("train and eval propagate recursively", "[module]") {
  auto net = small_net(1);
  CHECK(net->is_training());
  net->eval();
  for (const auto& [name, m] : net->named_modules()) CHECK_FALSE(m->is_training());
  net->train();
  for (const auto& [name, m] : net->named_modules()) CHECK(m->is_training());
}

TEST_CASE("state dict round trip copies values into the existing tensors", "[module]") {
  auto a = small_net(1);
  auto b = small_net(2);
  // Give a's BN non-trivial running stats.
  a->forward(lowbit::test::uniform({3, 2, 5, 5}, -1, 1, 3, false));
  const Tensor b_weight = b->named_parameters()[0].second;  // handle an optimizer would keep
  CHECK(test::max_rel_error(b_weight, a->named_parameters()[0].second) > 1e-3);
  const layers::LoadResult r = b->load_state_dict(a->state_dict());
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  const layers::StateDict sa = a->state_dict(), sb = b->state_dict();
  for (const auto& [name, t] : sa) {
    if (t.dtype() == core::DType::f32) {
      CHECK(test::max_rel_error(sb.at(name), t) == 0.0);
    } else {
      CHECK(sb.at(name).item() == t.item());
    }
  }
  CHECK(b_weight.shares_storage_with(b->named_parameters()[0].second));
  CHECK(test::max_rel_error(b_weight, sa.at("conv1.weight")) == 0.0);
  CHECK(sb.at("bn1.num_batches_tracked").item() == 1.0);
}

TEST_CASE("load_state_dict errors name the entry, both shapes, missing and unexpected keys",
          "[module]") {
  auto net = small_net(1);
  const layers::StateDict before = net->state_dict().clone();

  layers::StateDict bad;
  for (const auto& [name, t] : net->state_dict()) {
    bad.insert(name, name == "fc.weight" ? Tensor::zeros({3, 5}) : Tensor::zeros_like(t));
  }
  CHECK_THROWS_WITH(net->load_state_dict(bad),
                    Catch::Contains("'fc.weight'") && Catch::Contains("[3, 5]") &&
                        Catch::Contains("[3, 4]") && Catch::Contains("nothing was loaded"));
  // Nothing was copied: conv1.weight still holds its initial values, not bad's zeros.
  CHECK(test::max_rel_error(net->state_dict().at("conv1.weight"), before.at("conv1.weight")) == 0);

  layers::StateDict wrong_dtype;
  for (const auto& [name, t] : net->state_dict()) {
    wrong_dtype.insert(name, name == "bn1.num_batches_tracked" ? Tensor::zeros({}) : t);
  }
  CHECK_THROWS_WITH(net->load_state_dict(wrong_dtype), Catch::Contains("bn1.num_batches_tracked") &&
                                                           Catch::Contains("f32") &&
                                                           Catch::Contains("i64"));

  layers::StateDict partial;
  for (const auto& [name, t] : net->state_dict()) {
    if (name != "fc.bias") partial.insert(name, t.clone());
  }
  partial.insert("fc.extra", Tensor::zeros({2}));
  CHECK_THROWS_WITH(net->load_state_dict(partial),
                    Catch::Contains("missing keys") && Catch::Contains("fc.bias") &&
                        Catch::Contains("unexpected keys") && Catch::Contains("fc.extra"));
  const layers::LoadResult r = net->load_state_dict(partial, /*strict=*/false);
  CHECK(r.missing == std::vector<std::string>{"fc.bias"});
  CHECK(r.unexpected == std::vector<std::string>{"fc.extra"});
}

TEST_CASE("state dict and generator states survive a checkpoint file", "[module][io]") {
  const std::string path = temp_path("state");
  auto a = small_net(1);
  a->forward(lowbit::test::uniform({3, 2, 5, 5}, -1, 1, 3, false));
  auto& dropout = static_cast<layers::Dropout&>(a->submodule("features.1"));
  dropout.rng().next_u64();
  {
    core::BinaryWriter out(path, "LOWBTEST", 1);
    layers::save_state_dict(*a, out, "model");
    layers::save_rng_states(*a, out, "model_rngs");
    out.commit();
  }
  auto b = small_net(2);
  core::BinaryReader in(path, "LOWBTEST", 1);
  auto section = in.section("model");
  layers::load_state_dict(*b, section);
  auto rng_section = in.section("model_rngs");
  layers::load_rng_states(*b, rng_section);
  for (const auto& [name, t] : a->state_dict()) {
    CHECK(test::max_rel_error(b->state_dict().at(name).to(core::DType::f32),
                              t.to(core::DType::f32)) == 0.0);
  }
  auto& dropout_b = static_cast<layers::Dropout&>(b->submodule("features.1"));
  CHECK(dropout_b.rng().state() == dropout.rng().state());

  // A model of another shape: the error names the file, the section and the entry.
  core::Rng rng(0);
  auto other = std::make_shared<layers::Sequential>();
  other->add("conv1", std::make_shared<layers::Conv2d>(
                          layers::Conv2dOptions{2, 8, 3, 1, 1, 1, 1, false}, rng));
  auto section2 = in.section("model");
  CHECK_THROWS_WITH(layers::load_state_dict(*other, section2),
                    Catch::Contains("section 'model'") && Catch::Contains("conv1.weight") &&
                        Catch::Contains("[4, 2, 3, 3]") && Catch::Contains("[8, 2, 3, 3]"));
  std::remove(path.c_str());
}

TEST_CASE("BatchNorm uses batch statistics in training and running statistics in eval",
          "[module][batchnorm]") {
  layers::BatchNorm2d bn(3);
  const Tensor x = test::uniform({4, 3, 5, 5}, 2.0f, 4.0f, 11, false);  // mean ~3
  const Tensor y_train = bn(x);
  // Training output is normalised per channel: mean ~0.
  CHECK(std::abs(core::mean(y_train).item()) < 1e-4);
  CHECK(bn.num_batches_tracked() == 1);
  const auto rm = bn.running_mean().to_vector<float>();
  for (float v : rm) CHECK(v == Approx(0.3).margin(0.02));  // 0.9 * 0 + 0.1 * ~3
  bn.eval();
  const Tensor y_eval = bn(x);
  CHECK(bn.num_batches_tracked() == 1);  // eval does not count
  CHECK(test::max_rel_error(y_eval, y_train) > 0.5);
  // Eval: (x - running_mean) / sqrt(running_var + eps) with gamma 1, beta 0.
  const auto rv = bn.running_var().to_vector<float>();
  const auto xv = x.to_vector<float>(), yv = y_eval.to_vector<float>();
  CHECK(yv[0] == Approx((xv[0] - rm[0]) / std::sqrt(rv[0] + 1e-5)).epsilon(1e-4));
}

TEST_CASE("Dropout drops and rescales in training, is the identity in eval", "[module][dropout]") {
  layers::Dropout drop(0.25, 5);
  const Tensor x = Tensor::ones({100, 100});
  const auto v = drop(x).to_vector<float>();
  std::int64_t zeros = 0;
  for (float e : v) {
    if (e == 0.0f) {
      ++zeros;
    } else {
      CHECK(e == Approx(1.0 / 0.75));
    }
  }
  CHECK(zeros == Approx(2500).margin(250));
  // Same seed, same mask; saved and restored state replays the stream.
  layers::Dropout again(0.25, 5);
  CHECK(again(x).to_vector<float>() == v);
  const core::RngState s = drop.rng().state();
  const auto next = drop(x).to_vector<float>();
  drop.rng().set_state(s);
  CHECK(drop(x).to_vector<float>() == next);
  drop.eval();
  CHECK(drop(x).to_vector<float>() == x.to_vector<float>());
  CHECK_THROWS_WITH(layers::Dropout(1.0, 1), Catch::Contains("[0, 1)"));
}
