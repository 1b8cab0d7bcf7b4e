// Parameter groups, the optimizer registry, gradient clipping, and convergence on a quadratic.

#include "core/error.hpp"
#include "core/ops.hpp"
#include "optim/clip.hpp"
#include "optim/registry.hpp"
#include "optim/sgd.hpp"
#include "tests/optim/helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace lowbit;
using namespace lowbit::optim;
using namespace lowbit::optim::test;
using Catch::Contains;

TEST_CASE("param groups: ndim <= 1 parameters get no weight decay", "[optim][groups]") {
  const NamedParams params = {
      {"conv.weight", make_param(std::vector<float>(8, 1.0f), core::Shape{2, 1, 2, 2})},
      {"conv.bias", make_param({0.0f, 0.0f}, core::Shape{2})},
      {"bn.gamma", make_param({1.0f, 1.0f}, core::Shape{2})},
      {"fc.weight", make_param({1, 2, 3, 4}, core::Shape{2, 2})},
      {"scale", make_param({1.0f}, core::Shape{})}};
  const auto groups = make_param_groups(params, 5e-4);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].name == "decay");
  CHECK(groups[0].weight_decay == 5e-4);
  CHECK(groups[0].param_names == std::vector<std::string>{"conv.weight", "fc.weight"});
  CHECK(groups[1].name == "no_decay");
  CHECK(groups[1].weight_decay == 0.0);
  CHECK(groups[1].param_names == std::vector<std::string>{"conv.bias", "bn.gamma", "scale"});
  CHECK(groups[1].params[1].shares_storage_with(params[2].second));

  const auto all = make_param_groups(params, 5e-4, NoDecayRule::none);
  CHECK(all[0].params.size() == 5);
  CHECK(all[1].params.empty());
  CHECK(parse_no_decay_rule("none") == NoDecayRule::none);
  CHECK_THROWS_WITH(parse_no_decay_rule("bias"), Contains("'vectors'"));
}

TEST_CASE("a bias is not decayed by make_sgd", "[optim][groups]") {
  core::Tensor w = make_param({1.0f, 1.0f}, core::Shape{1, 2});
  core::Tensor b = make_param({1.0f}, core::Shape{1});
  auto opt = make_sgd({{"w", w}, {"b", b}}, {.lr = 1.0, .momentum = 0.0, .weight_decay = 0.1});
  set_grad(w, {0.0f, 0.0f});
  set_grad(b, {0.0f});
  opt->step();
  CHECK(values(w)[0] == Approx(0.9f));  // w -= lr * wd * w
  CHECK(values(b)[0] == 1.0f);
}

TEST_CASE("optimizer registry: names, options, defaults", "[optim][registry]") {
  OptimizerRegistry registry("optimizer");
  register_builtin_optimizers(registry);
  CHECK(registry.names() == std::vector<std::string>{"adam", "adamw", "bop", "sgd"});
  CHECK_THROWS_WITH(registry.get("adma"), Contains("did you mean 'adam'"));
  CHECK_THROWS_WITH(register_builtin_optimizers(registry), Contains("already registered"));

  const OptionMap& sgd = registry.get("sgd").defaults;
  CHECK(std::get<double>(sgd.at("lr")) == 0.1);
  CHECK(std::get<double>(sgd.at("momentum")) == 0.9);
  CHECK(std::get<double>(sgd.at("dampening")) == 0.0);
  CHECK(std::get<bool>(sgd.at("nesterov")) == false);
  CHECK(std::get<double>(sgd.at("weight_decay")) == 5e-4);
  CHECK(std::get<std::string>(sgd.at("no_decay")) == "vectors");
  const OptionMap& adam = registry.get("adam").defaults;
  CHECK(std::get<double>(adam.at("lr")) == 1e-3);
  CHECK(std::get<double>(adam.at("beta2")) == 0.999);
  CHECK(std::get<double>(adam.at("eps")) == 1e-8);
  CHECK(std::get<double>(adam.at("weight_decay")) == 0.0);

  core::Tensor w = make_param({1.0f, 1.0f}, core::Shape{1, 2});
  auto opt = registry.create("adamw", NamedParams{{"w", w}},
                             OptionMap{{"lr", std::int64_t{1}}, {"no_decay", std::string("none")}});
  CHECK(opt->name() == "adamw");
  CHECK(opt->lr() == 1.0);
  CHECK_THROWS_WITH(registry.create("sgd", NamedParams{{"w", w}}, OptionMap{{"momentun", 0.5}}),
                    Contains("optimizer 'sgd': unknown option 'momentun'") &&
                        Contains("did you mean 'momentum'"));
  CHECK_THROWS_WITH(registry.create("sgd", NamedParams{{"w", w}}, OptionMap{{"nesterov", 1.0}}),
                    Contains("'nesterov' must be a bool"));
  CHECK_THROWS_WITH(
      registry.create("sgd", NamedParams{{"w", w}}, OptionMap{{"no_decay", std::string("x")}}),
      Contains("no_decay"));

  register_builtin_optimizers();
  register_builtin_optimizers();  // the process-wide registry: a second call is a no-op
  CHECK(optimizer_registry().contains("sgd"));
}

TEST_CASE("clip_grad_norm scales to max_norm and returns the norm before", "[optim][clip]") {
  core::Tensor a = make_param({3.0f, 0.0f}, core::Shape{2});
  core::Tensor b = make_param({0.0f, 0.0f}, core::Shape{1, 2});
  core::Tensor none = make_param({1.0f}, core::Shape{1});  // no grad: ignored
  set_grad(a, {3.0f, 0.0f});
  set_grad(b, {0.0f, 4.0f});
  // N = sqrt(9 + 16) = 5; coef = 1 / (5 + 1e-6)
  const double n = clip_grad_norm({a, b, none}, 1.0);
  CHECK(n == Approx(5.0));
  CHECK(values(a.grad())[0] == Approx(3.0 / (5.0 + 1e-6)));
  CHECK(values(b.grad())[1] == Approx(4.0 / (5.0 + 1e-6)));
  // Below max_norm: unchanged.
  const double n2 = clip_grad_norm({a, b}, 10.0);
  CHECK(n2 == Approx(1.0).epsilon(1e-5));
  CHECK(values(b.grad())[1] == Approx(0.8).epsilon(1e-5));
  CHECK(clip_grad_norm({none}, 1.0) == 0.0);
  CHECK_THROWS_WITH(clip_grad_norm({a}, 0.0), Contains("max_norm"));
}

TEST_CASE("clip_grad_norm reports a non-finite norm and leaves gradients alone", "[optim][clip]") {
  core::Tensor a = make_param({1.0f, 2.0f}, core::Shape{2});
  core::Tensor b = make_param({1.0f}, core::Shape{1});
  set_grad(a, {std::numeric_limits<float>::quiet_NaN(), 2.0f});
  set_grad(b, {100.0f});
  CHECK(std::isnan(clip_grad_norm({a, b}, 1.0)));
  CHECK(values(b.grad())[0] == 100.0f);
  set_grad(a, {std::numeric_limits<float>::infinity(), 2.0f});
  CHECK(std::isinf(clip_grad_norm({a, b}, 1.0)));
  CHECK(values(b.grad())[0] == 100.0f);
}

TEST_CASE("clip_grad_value clamps every element", "[optim][clip]") {
  core::Tensor a = make_param({0.0f, 0.0f, 0.0f}, core::Shape{3});
  set_grad(a, {-5.0f, 0.25f, 7.0f});
  clip_grad_value({a}, 1.0);
  CHECK(values(a.grad()) == std::vector<float>{-1.0f, 0.25f, 1.0f});
}

TEST_CASE("every optimizer minimises a quadratic through autograd", "[optim][converge]") {
  // loss = sum(a * (w - c)^2) + sum(a' * (b - c')^2), minimum 0 at w = c, b = c'; a cosine
  // schedule anneals the LR to 0 so Adam settles instead of hovering at lr scale.
  OptimizerRegistry optimizers("optimizer");
  register_builtin_optimizers(optimizers);
  ScheduleRegistry schedules("schedule");
  register_builtin_schedules(schedules);
  const std::vector<float> cw = {1.0f, -2.0f, 0.5f, 3.0f}, aw = {1.0f, 3.0f, 0.5f, 2.0f};
  const std::vector<float> cb = {-1.0f, 0.25f}, ab = {2.0f, 1.0f};
  for (const std::string name : {"sgd", "adam", "adamw"}) {
    INFO(name);
    core::Tensor w = make_param({0, 0, 0, 0}, core::Shape{2, 2});
    core::Tensor b = make_param({0, 0}, core::Shape{2});
    const core::Tensor tw = core::Tensor::from_vector(cw, core::Shape{2, 2});
    const core::Tensor sw = core::Tensor::from_vector(aw, core::Shape{2, 2});
    const core::Tensor tb = core::Tensor::from_vector(cb, core::Shape{2});
    const core::Tensor sb = core::Tensor::from_vector(ab, core::Shape{2});
    const double lr = name == "sgd" ? 0.05 : 0.1;
    auto opt = optimizers.create(name, NamedParams{{"w", w}, {"b", b}},
                                 OptionMap{{"lr", lr}, {"weight_decay", 0.0}});
    const std::int64_t steps = 400;
    auto sched = schedules.create("cosine", opt->lr(), OptionMap{{"total_steps", steps}});
    double loss_value = 0.0;
    for (std::int64_t t = 0; t < steps; ++t) {
      opt->zero_grad();
      const core::Tensor dw = core::sub(w, tw), db = core::sub(b, tb);
      const core::Tensor loss = core::add(core::sum(core::mul(sw, core::mul(dw, dw))),
                                          core::sum(core::mul(sb, core::mul(db, db))));
      loss_value = loss.item();
      loss.backward();
      opt->set_lr(sched->lr_at(t));
      opt->step();
    }
    CHECK(loss_value < 1e-6);
    const std::vector<float> got = values(w);
    for (std::size_t i = 0; i < cw.size(); ++i) CHECK(got[i] == Approx(cw[i]).margin(1e-3));
  }
}
