// Optimizer state save/load: bit-identical continuation after a mid-training save, and clear
// errors when the saved state does not fit the optimizer's parameters.

#include "core/error.hpp"
#include "core/io.hpp"
#include "optim/registry.hpp"
#include "tests/optim/helpers.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace lowbit;
using namespace lowbit::optim;
using namespace lowbit::optim::test;
using Catch::Contains;

namespace {

constexpr const char* kMagic = "LOWBTEST";

std::string temp_file(const std::string& tag) {
  return (std::filesystem::temp_directory_path() /
          ("lowbit_test_optim_" + tag + "_" + std::to_string(::getpid()) + ".bin"))
      .string();
}

// A tiny "model": weight (2, 3), bias (3), and "late" (4) which first gets a gradient at step 4
// (so its state is still empty when the run is saved after step 3).
struct Model {
  core::Tensor weight = make_param({0.5f, -1.0f, 1.5f, 2.0f, -0.25f, 0.75f}, core::Shape{2, 3});
  core::Tensor bias = make_param({0.1f, 0.2f, -0.3f}, core::Shape{3});
  core::Tensor late = make_param({1.0f, 2.0f, 3.0f, 4.0f}, core::Shape{4});
  NamedParams named() { return {{"fc.weight", weight}, {"fc.bias", bias}, {"late", late}}; }
};

// Gradient of sum((p - 0.3)^2) plus a step-dependent term, written by hand.
void fake_backward(core::Tensor& p, int t) {
  std::vector<float> g = values(p);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = 2.0f * (g[i] - 0.3f) + 0.01f * t * (i % 3);
  set_grad(p, g);
}

void train(Model& m, Optimizer& opt, int from, int to) {
  for (int t = from; t < to; ++t) {
    opt.zero_grad();
    fake_backward(m.weight, t);
    fake_backward(m.bias, t);
    if (t >= 4) fake_backward(m.late, t);
    opt.set_lr(opt.lr() * 0.9);  // the LR is part of the saved state
    opt.step();
  }
}

std::unique_ptr<Optimizer> build(const std::string& name, const NamedParams& params) {
  OptimizerRegistry registry("optimizer");
  register_builtin_optimizers(registry);
  OptionMap options;
  if (name == "sgd") options = {{"nesterov", true}, {"weight_decay", 0.01}};
  if (name != "sgd") options = {{"lr", 0.05}, {"weight_decay", 0.01}};
  return registry.create(name, params, options);
}

}  // namespace

TEST_CASE("state round trip mid-training continues bit-identically", "[optim][state]") {
  for (const std::string name : {"sgd", "adam", "adamw"}) {
    INFO(name);
    Model straight;
    auto opt_a = build(name, straight.named());
    train(straight, *opt_a, 0, 8);

    const std::string path = temp_file(name);
    Model first;
    {
      auto opt_b = build(name, first.named());
      train(first, *opt_b, 0, 3);
      core::BinaryWriter out(path, kMagic, 1);
      opt_b->save_state(out, "optim");
      out.commit();
    }
    // A fresh process: new parameter tensors holding the saved values, a new optimizer.
    Model resumed;
    resumed.weight.copy_(first.weight);
    resumed.bias.copy_(first.bias);
    resumed.late.copy_(first.late);
    auto opt_c = build(name, resumed.named());
    {
      core::BinaryReader in(path, kMagic, 1);
      core::SectionReader section = in.section("optim");
      opt_c->load_state(section);
    }
    std::filesystem::remove(path);
    train(resumed, *opt_c, 3, 8);

    CHECK(opt_c->lr() == opt_a->lr());
    CHECK(values(resumed.weight) == values(straight.weight));
    CHECK(values(resumed.bias) == values(straight.bias));
    CHECK(values(resumed.late) == values(straight.late));
  }
}

TEST_CASE("loading state saved for a different model names the parameter", "[optim][state]") {
  const std::string path = temp_file("mismatch");
  Model m;
  {
    auto opt = build("adam", m.named());
    train(m, *opt, 0, 5);
    core::BinaryWriter out(path, kMagic, 1);
    opt->save_state(out, "optim");
    out.commit();
  }
  core::BinaryReader in(path, kMagic, 1);
  auto load = [&](Optimizer& opt) {
    core::SectionReader section = in.section("optim");
    opt.load_state(section);
  };

  SECTION("a parameter missing from the file") {
    Model other;
    NamedParams params = other.named();
    params[1].first = "head.bias";
    auto opt = build("adam", params);
    CHECK_THROWS_WITH(load(*opt), Contains("no entry for parameter 'head.bias'"));
  }
  SECTION("a parameter the optimizer does not have") {
    Model other;
    NamedParams params = other.named();
    params.pop_back();
    auto opt = build("adam", params);
    CHECK_THROWS_WITH(load(*opt), Contains("parameter 'late'") && Contains("does not have"));
  }
  SECTION("a reshaped parameter") {
    Model other;
    NamedParams params = other.named();
    params[0].second = make_param({1, 2, 3, 4, 5, 6}, core::Shape{3, 2});
    auto opt = build("adam", params);
    CHECK_THROWS_WITH(load(*opt), Contains("'fc.weight'") && Contains("[2, 3]") &&
                                      Contains("[3, 2]"));
  }
  SECTION("another optimizer's state") {
    Model other;
    auto opt = build("sgd", other.named());
    CHECK_THROWS_WITH(load(*opt), Contains("saved by optimizer 'adam'") && Contains("'sgd'"));
  }
  SECTION("a failed load leaves the optimizer unchanged") {
    Model a, b;
    NamedParams params = a.named();
    params[2].first = "renamed";
    auto opt = build("adam", params);
    train(a, *opt, 0, 2);
    CHECK_THROWS(load(*opt));
    auto twin = build("adam", b.named());
    train(b, *twin, 0, 2);
    train(a, *opt, 2, 4);
    train(b, *twin, 2, 4);
    CHECK(values(a.weight) == values(b.weight));
  }
  std::filesystem::remove(path);
}
