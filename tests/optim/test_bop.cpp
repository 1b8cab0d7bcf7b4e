// Bop (the flip rule, the EMA arithmetic, convergence to a sign target) and the routing optimizer
// (which parameter goes where, LR ratio, bit-identical resume).

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/ops.hpp"
#include "core/tensor_io.hpp"
#include "optim/adam.hpp"
#include "optim/bop.hpp"
#include "optim/kernels.hpp"
#include "optim/registry.hpp"
#include "optim/routing.hpp"
#include "optim/sgd.hpp"
#include "tests/optim/helpers.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

using namespace lowbit;
using namespace lowbit::optim;
using namespace lowbit::optim::test;
using Catch::Contains;

namespace {

bool all_binary(const core::Tensor& t) {
  for (const float v : values(t)) {
    if (v != 1.0f && v != -1.0f) return false;
  }
  return true;
}

std::string temp_file(const std::string& tag) {
  return (std::filesystem::temp_directory_path() /
          ("lowbit_test_bop_" + tag + "_" + std::to_string(::getpid()) + ".bin"))
      .string();
}

}  // namespace

TEST_CASE("bop flips a weight only when |m| > tau and sign(m) == sign(w)", "[optim][bop]") {
  // gamma = 0.5, so after one step from m = 0: m = g / 2 (exact in float).
  core::Tensor w = make_param({1, 1, -1, -1, 1, -1}, core::Shape{2, 3});
  Bop opt(one_group({{"w", w}}, 0.0), {.lr = 0.5, .threshold = 0.1});
  set_grad(w, {0.4f, -0.4f, -0.4f, 0.4f, 0.1f, -0.2f});
  opt.step();
  // m = {0.2, -0.2, -0.2, 0.2, 0.05, -0.1}:
  //   agree, |m| > tau: flip | disagree: keep | agree: flip | disagree: keep
  //   agree but |m| < tau: keep | agree, w * m == tau exactly: keep (strict >)
  CHECK(values(w) == std::vector<float>{-1, 1, 1, -1, 1, -1});
  CHECK(opt.last_flips() == 2);
  CHECK(opt.last_updated() == 6);
  CHECK(opt.last_flip_ratio() == Approx(2.0 / 6.0));
  const StepStats stats = opt.step_stats();
  REQUIRE(stats.size() == 2);
  CHECK(stats[0] == std::pair<std::string, double>{"flips", 2.0});
  CHECK(stats[1].first == "flip_ratio");

  // A zero gradient halves m; a flipped weight now agrees with -m, so nothing flips back.
  set_grad(w, {0, 0, 0, 0, 0, 0});
  opt.step();
  CHECK(values(w) == std::vector<float>{-1, 1, 1, -1, 1, -1});
  CHECK(opt.last_flips() == 0);
}

TEST_CASE("bop EMA arithmetic is (1 - gamma) * m + gamma * g", "[optim][bop]") {
  // Dyadic values: every product and sum is exact, so the comparison is exact with or without FMA.
  std::vector<float> w = {1, -1, 1, -1};
  std::vector<float> m = {0.5f, -0.25f, 2.0f, 0.0f};
  const std::vector<float> g = {-1.5f, 0.75f, 4.0f, -8.0f};
  const std::int64_t flips = kernels::bop_update(w.data(), g.data(), m.data(), 4, 0.25, 0.0);
  // m = 0.75 * m + 0.25 * g
  CHECK(m == std::vector<float>{0.0f, 0.0f, 2.5f, -2.0f});
  // w * m: 0 (not > 0), 0, 2.5 > 0 flips, 2 > 0 flips.
  CHECK(w == std::vector<float>{1, -1, -1, 1});
  CHECK(flips == 2);

  // Through the optimizer: buffer "m" holds the EMA and the step count advances.
  core::Tensor p = make_param({1, -1}, core::Shape{2});
  Bop opt(one_group({{"p", p}}, 0.0), {.lr = 0.25, .threshold = 10.0});
  set_grad(p, {4.0f, -2.0f});
  opt.step();  // m = {1, -0.5}
  set_grad(p, {-4.0f, 2.0f});
  opt.step();  // m = {0.75 - 1, -0.375 + 0.5} = {-0.25, 0.125}
  CHECK(values(p) == std::vector<float>{1, -1});

  // The state section (optim/optimizer.hpp layout) holds step 2 and buffer "m".
  const std::string path = temp_file("ema");
  {
    core::BinaryWriter out(path, "LOWBTEST", 1);
    opt.save_state(out, "s");
    out.commit();
  }
  core::BinaryReader in(path, "LOWBTEST", 1);
  {
    core::SectionReader s = in.section("s");
    CHECK(s.get_string() == kOptimizerStateTag);
    CHECK(s.get_u32() == kOptimizerStateVersion);
    CHECK(s.get_string() == "bop");
    CHECK(s.get_f64() == 0.25);
    CHECK(s.get_u64() == 1);
    CHECK(s.get_string() == "p");
    CHECK(s.get_vector<std::int64_t>() == std::vector<std::int64_t>{2});
    CHECK(s.get_i64() == 2);
    CHECK(s.get_u32() == 1);
    CHECK(s.get_u8() == 1);
    CHECK(values(core::get_tensor(s)) == std::vector<float>{-0.25f, 0.125f});
    CHECK(s.at_end());
  }

  // A new optimizer continues from the loaded m (the threshold is an option, not state).
  core::Tensor q = make_param({1, -1}, core::Shape{2});
  Bop twin(one_group({{"p", q}}, 0.0), {.lr = 0.25, .threshold = 0.2});
  core::SectionReader section = in.section("s");
  twin.load_state(section);
  std::filesystem::remove(path);
  set_grad(q, {0.0f, 0.0f});
  twin.step();  // m = {-0.1875, 0.09375}: both disagree with w
  set_grad(q, {-1.0f, 0.0f});
  twin.step();  // m = {-0.390625, 0.0703125}: still disagree
  CHECK(values(q) == std::vector<float>{1, -1});
  set_grad(q, {4.0f, -4.0f});
  twin.step();  // m = {0.70703125, -0.947265625}: both agree with w and exceed 0.2
  CHECK(values(q) == std::vector<float>{-1, 1});
}

TEST_CASE("bop keeps weights exactly +-1 and refuses non-binary ones", "[optim][bop]") {
  core::Tensor w = make_param({0.3f, -2.0f, 0.0f, -0.0f, 1e-30f, -1e-30f}, core::Shape{6});
  Bop opt(one_group({{"layer.weight", w}}, 0.0), {});
  set_grad(w, {1, 1, 1, 1, 1, 1});
  CHECK_THROWS_WITH(opt.step(),
                    Contains("'layer.weight'") && Contains("0.3") && Contains("binarize_in_place"));
  CHECK(values(w)[0] == 0.3f);  // nothing changed

  binarize_in_place(w);
  CHECK(values(w) == std::vector<float>{1, -1, 1, 1, 1, -1});  // sign(0) = sign(-0) = +1
  CHECK(!std::signbit(values(w)[3]));

  // Many noisy steps: values never leave {-1, +1}.
  std::uint32_t state = 12345;
  for (int t = 0; t < 200; ++t) {
    std::vector<float> g(6);
    for (float& x : g) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<float>(state >> 8) / static_cast<float>(1 << 24) - 0.5f;
    }
    set_grad(w, g);
    opt.set_lr(0.3);
    opt.step();
    REQUIRE(all_binary(w));
  }

  core::Tensor nan = make_param({std::numeric_limits<float>::quiet_NaN()}, core::Shape{1});
  CHECK_THROWS_WITH(binarize_in_place(nan), Contains("NaN"));
  CHECK_THROWS_WITH(opt.set_lr(1.5), Contains("[0, 1]"));
  CHECK_THROWS_WITH(Bop(make_single_group({{"w", w}}, 1e-4), {}), Contains("weight_decay"));
  CHECK_THROWS_WITH(Bop(one_group({{"w", w}}, 0.0), {.threshold = -1.0}), Contains("threshold"));
}

TEST_CASE("bop kernel: large buffers give the same result on every thread count", "[optim][bop]") {
  const std::int64_t n = kernels::kParallelMin * 2 + 7;
  std::vector<float> w(n), g(n), m(n);
  std::int64_t expected = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    w[i] = (i % 3 == 0) ? -1.0f : 1.0f;
    g[i] = static_cast<float>((i * 7919) % 201 - 100) / 64.0f;
    m[i] = 0.0f;
    expected += (w[i] * (0.5f * g[i]) > 0.25f) ? 1 : 0;
  }
  CHECK(kernels::bop_update(w.data(), g.data(), m.data(), n, 0.5, 0.25) == expected);
  CHECK(kernels::find_non_binary(w.data(), n) == n);
  w[n - 3] = 0.5f;
  w[n - 1] = 2.0f;
  CHECK(kernels::find_non_binary(w.data(), n) == n - 3);
}

TEST_CASE("bop drives binary weights to the sign of a target", "[optim][bop]") {
  // loss = sum((w - t)^2), t = +-1: the gradient 2 (w - t) is 0 where w = t and pushes w
  // towards t elsewhere, so every wrong weight flips once and stays.
  OptimizerRegistry registry("optimizer");
  register_builtin_optimizers(registry);
  const std::vector<float> target = {1, -1, -1, 1, 1, 1, -1, -1, 1, -1, 1, -1};
  const core::Tensor t = core::Tensor::from_vector(target, core::Shape{3, 4});
  core::Tensor w = make_param(std::vector<float>(12, 0.0f), core::Shape{3, 4});  // sign(0) = +1
  binarize_in_place(w);
  auto opt = registry.create("bop", NamedParams{{"w", w}}, OptionMap{});
  CHECK(opt->lr() == 1e-4);
  std::int64_t total_flips = 0;
  for (int step = 0; step < 20; ++step) {
    opt->zero_grad();
    const core::Tensor d = core::sub(w, t);
    core::sum(core::mul(d, d)).backward();
    opt->step();
    total_flips += static_cast<std::int64_t>(opt->step_stats()[0].second);
  }
  CHECK(values(w) == target);
  CHECK(total_flips == 6);  // exactly the six weights that started wrong, each once
}

TEST_CASE("bop in the registry: defaults and options", "[optim][bop]") {
  OptimizerRegistry registry("optimizer");
  register_builtin_optimizers(registry);
  const OptionMap& defaults = registry.get("bop").defaults;
  CHECK(defaults.size() == 2);
  CHECK(std::get<double>(defaults.at("lr")) == 1e-4);
  CHECK(std::get<double>(defaults.at("threshold")) == 1e-8);
  core::Tensor w = make_param({1, -1}, core::Shape{2});
  auto opt =
      registry.create("bop", NamedParams{{"w", w}}, OptionMap{{"lr", 1e-3}, {"threshold", 1e-6}});
  CHECK(opt->name() == "bop");
  CHECK(opt->lr() == 1e-3);
  CHECK(dynamic_cast<Bop&>(*opt).options().threshold == 1e-6);
  CHECK_THROWS_WITH(registry.create("bop", NamedParams{{"w", w}}, OptionMap{{"treshold", 1e-6}}),
                    Contains("did you mean 'threshold'"));
}

namespace {

// conv.weight and fc.weight are binary; bias and BatchNorm parameters are not.
struct Model {
  core::Tensor conv_w = make_param({1, -1, 1, 1, -1, -1}, core::Shape{2, 3});
  core::Tensor conv_b = make_param({0.1f, -0.2f}, core::Shape{2});
  core::Tensor bn_g = make_param({1.0f, 0.5f}, core::Shape{2});
  core::Tensor fc_w = make_param({-1, 1, 1, -1}, core::Shape{2, 2});
  NamedParams named() {
    return {
        {"conv.weight", conv_w}, {"conv.bias", conv_b}, {"bn.gamma", bn_g}, {"fc.weight", fc_w}};
  }
  void copy_from(const Model& o) {
    conv_w.copy_(o.conv_w);
    conv_b.copy_(o.conv_b);
    bn_g.copy_(o.bn_g);
    fc_w.copy_(o.fc_w);
  }
};

bool is_weight(const std::string& name, const core::Tensor&) { return name.ends_with(".weight"); }

// A slowly turning gradient that makes Bop flip now and then: 0.5 sin(0.6 t + 0.9 i) - 0.1 p.
void fake_backward(core::Tensor& p, int t) {
  std::vector<float> g = values(p);
  for (std::size_t i = 0; i < g.size(); ++i) {
    g[i] =
        0.5f * static_cast<float>(std::sin(0.6 * t + 0.9 * static_cast<double>(i))) - 0.1f * g[i];
  }
  set_grad(p, g);
}

std::unique_ptr<RoutingOptimizer> build(Model& m, const std::string& main = "adam") {
  OptimizerRegistry registry("optimizer");
  register_builtin_optimizers(registry);
  return make_routing(registry, m.named(), is_weight, "bop",
                      OptionMap{{"lr", 0.2}, {"threshold", 0.05}}, main,
                      OptionMap{{"lr", 0.01}, {"weight_decay", 0.01}});
}

std::int64_t train(Model& m, Optimizer& opt, int from, int to) {
  std::int64_t flips = 0;
  for (int t = from; t < to; ++t) {
    opt.zero_grad();
    fake_backward(m.conv_w, t);
    fake_backward(m.conv_b, t);
    fake_backward(m.fc_w, t);
    if (t >= 4) fake_backward(m.bn_g, t);  // state still empty at the save after step 3
    opt.set_lr(opt.lr() * 0.9);
    opt.step();
    flips += static_cast<std::int64_t>(opt.step_stats().at(0).second);
  }
  return flips;
}

}  // namespace

TEST_CASE("routing sends binary weights to bop and the rest to the main optimizer",
          "[optim][bop][routing]") {
  Model m;
  auto opt = build(m);
  CHECK(opt->name() == "routing");
  CHECK(opt->binary().name() == "bop");
  CHECK(opt->main().name() == "adam");
  REQUIRE(opt->binary().groups().size() == 1);
  CHECK(opt->binary().groups()[0].param_names ==
        std::vector<std::string>{"conv.weight", "fc.weight"});
  std::vector<std::string> main_names;
  for (const ParamGroup& g : opt->main().groups()) {
    main_names.insert(main_names.end(), g.param_names.begin(), g.param_names.end());
  }
  CHECK(main_names == std::vector<std::string>{"conv.bias", "bn.gamma"});
  CHECK(opt->params().size() == 4);
  REQUIRE(opt->groups().size() == 3);  // adam's decay, no_decay; bop's all
  CHECK(opt->group_lr(2) == opt->binary().lr());
  CHECK(opt->group_lr(0) == opt->lr());
  CHECK(opt->lr() == 0.01);

  // One step equals each sub-optimizer stepping its own parameters alone.
  Model alone;
  auto bop = make_bop({{"conv.weight", alone.conv_w}, {"fc.weight", alone.fc_w}},
                      {.lr = 0.2, .threshold = 0.05});
  auto adam = make_adam({{"conv.bias", alone.conv_b}, {"bn.gamma", alone.bn_g}},
                        {.lr = 0.01, .weight_decay = 0.01});
  for (int t = 0; t < 6; ++t) {
    for (auto [model, opts] : {std::pair{&m, std::vector<Optimizer*>{opt.get()}},
                               std::pair{&alone, std::vector<Optimizer*>{bop.get(), adam.get()}}}) {
      for (Optimizer* o : opts) o->zero_grad();
      fake_backward(model->conv_w, t);
      fake_backward(model->conv_b, t);
      fake_backward(model->bn_g, t);
      fake_backward(model->fc_w, t);
      for (Optimizer* o : opts) o->step();
    }
    CHECK(opt->step_stats() == bop->step_stats());
  }
  CHECK(values(m.conv_w) == values(alone.conv_w));
  CHECK(values(m.fc_w) == values(alone.fc_w));
  CHECK(values(m.conv_b) == values(alone.conv_b));
  CHECK(values(m.bn_g) == values(alone.bn_g));
  CHECK(values(m.conv_b) != std::vector<float>{0.1f, -0.2f});  // the main set moved
  CHECK(all_binary(m.conv_w));

  opt->zero_grad();
  for (const core::Tensor& p : opt->params()) CHECK(!p.grad().defined());
}

TEST_CASE("routing: construction errors", "[optim][bop][routing]") {
  Model m;
  const auto bop = [](const NamedParams& p) { return make_bop(p); };
  const auto sgd = [](const NamedParams& p) { return make_sgd(p); };
  const auto nothing = [](const std::string&, const core::Tensor&) { return false; };
  CHECK_THROWS_WITH(make_routing(m.named(), nothing, bop, sgd), Contains("no parameter is binary"));
  CHECK_THROWS_WITH(
      RoutingOptimizer(make_bop({{"conv.weight", m.conv_w}}),
                       make_sgd({{"conv.weight", m.conv_w}, {"conv.bias", m.conv_b}})),
      Contains("'conv.weight' is in both"));
  CHECK_THROWS_WITH(RoutingOptimizer(make_bop({{"a", m.conv_w}}), make_sgd({{"b", m.conv_w}})),
                    Contains("in both"));
  CHECK_THROWS_WITH(
      RoutingOptimizer(make_bop({{"a", m.conv_w}}), make_sgd({{"b", m.conv_b}}, {.lr = 0.0})),
      Contains("lr > 0"));
  // Every parameter binary: the main optimizer has nothing, which is allowed.
  const auto all = [](const std::string&, const core::Tensor&) { return true; };
  Model b;
  binarize_in_place(b.conv_b);
  binarize_in_place(b.bn_g);
  auto opt = make_routing(b.named(), all, bop, sgd);
  CHECK(opt->params().size() == 4);
}

TEST_CASE("routing set_lr keeps lr_binary / lr_main fixed", "[optim][bop][routing]") {
  Model m;
  auto opt = build(m);
  CHECK(opt->lr_ratio() == Approx(20.0));  // 0.2 / 0.01
  ScheduleRegistry schedules("schedule");
  register_builtin_schedules(schedules);
  auto sched =
      schedules.create("cosine", opt->lr(), OptionMap{{"total_steps", 100}, {"warmup_steps", 10}});
  for (std::int64_t t = 0; t < 100; t += 7) {
    const double lr = sched->lr_at(t);
    opt->set_lr(lr);
    CHECK(opt->lr() == lr);
    CHECK(opt->main().lr() == lr);
    CHECK(opt->binary().lr() == Approx(lr * 20.0));
  }
  opt->set_lr(0.005);
  CHECK(opt->binary().lr() == Approx(0.1));
  // Bop's gamma would be 0.2 * 10 = 2 > 1: rejected, and no LR changes.
  CHECK_THROWS_WITH(opt->set_lr(0.1), Contains("[0, 1]"));
  CHECK(opt->lr() == 0.005);
  CHECK(opt->main().lr() == 0.005);
  CHECK(opt->binary().lr() == Approx(0.1));
}

TEST_CASE("routing state round trip continues bit-identically", "[optim][bop][routing][state]") {
  for (const std::string main : {"adam", "sgd"}) {
    INFO(main);
    Model straight;
    auto opt_a = build(straight, main);
    const std::int64_t flips = train(straight, *opt_a, 0, 10);
    CHECK(flips > 0);  // the test exercises flips on both sides of the save

    const std::string path = temp_file("routing_" + main);
    Model first;
    {
      auto opt_b = build(first, main);
      CHECK(train(first, *opt_b, 0, 3) > 0);
      core::BinaryWriter out(path, "LOWBTEST", 1);
      opt_b->save_state(out, "optim");
      out.commit();
    }
    Model resumed;
    resumed.copy_from(first);
    auto opt_c = build(resumed, main);
    {
      core::BinaryReader in(path, "LOWBTEST", 1);
      core::SectionReader section = in.section("optim");
      opt_c->load_state(section);
    }
    CHECK(opt_c->lr() == Approx(0.01 * 0.9 * 0.9 * 0.9));
    CHECK(train(resumed, *opt_c, 3, 10) > 0);

    CHECK(opt_c->lr() == opt_a->lr());
    CHECK(opt_c->binary().lr() == opt_a->binary().lr());
    CHECK(values(resumed.conv_w) == values(straight.conv_w));
    CHECK(values(resumed.fc_w) == values(straight.fc_w));
    CHECK(values(resumed.conv_b) == values(straight.conv_b));
    CHECK(values(resumed.bn_g) == values(straight.bn_g));

    // A routing over another main optimizer, or a plain optimizer, refuses the state unchanged.
    core::BinaryReader in(path, "LOWBTEST", 1);
    Model other;
    auto wrong = build(other, main == "adam" ? "sgd" : "adam");
    train(other, *wrong, 0, 2);
    const double lr_before = wrong->binary().lr();
    {
      core::SectionReader section = in.section("optim");
      CHECK_THROWS_WITH(wrong->load_state(section), Contains("saved by optimizer"));
    }
    CHECK(wrong->binary().lr() == lr_before);
    Model twin;
    auto twin_opt = build(twin, main == "adam" ? "sgd" : "adam");
    train(twin, *twin_opt, 0, 2);
    train(other, *wrong, 2, 5);
    train(twin, *twin_opt, 2, 5);
    CHECK(values(other.conv_w) == values(twin.conv_w));
    CHECK(values(other.conv_b) == values(twin.conv_b));

    auto plain = make_bop({{"conv.weight", other.conv_w}});
    core::SectionReader section = in.section("optim");
    CHECK_THROWS_WITH(plain->load_state(section),
                      Contains("saved by optimizer 'routing'") && Contains("'bop'"));
    std::filesystem::remove(path);
  }
}
