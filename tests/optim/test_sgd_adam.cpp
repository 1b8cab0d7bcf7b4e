// SGD / Adam / AdamW steps against PyTorch 1.13 (constants in torch_expected.hpp, written by
// generate_expected.py), with the first steps also worked by hand from the update rules.

#include "core/error.hpp"
#include "optim/adam.hpp"
#include "optim/kernels.hpp"
#include "optim/sgd.hpp"
#include "tests/optim/helpers.hpp"
#include "tests/optim/torch_expected.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <functional>
#include <memory>

using namespace lowbit;
using namespace lowbit::optim;
using namespace lowbit::optim::test;
using Catch::Contains;

namespace {

using Trajectory = std::array<std::array<float, 3>, 3>;
using MakeOpt = std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)>;

// Runs the three steps of the torch cases from kP0 with gradients kG and compares every step.
void check_trajectory(const MakeOpt& make, const Trajectory& expected, double weight_decay) {
  core::Tensor p = make_param(kP0);
  auto opt = make(one_group({{"p", p}}, weight_decay));
  for (int t = 0; t < 3; ++t) {
    set_grad(p, kG[t]);
    opt->step();
    const std::vector<float> got = values(p);
    for (int i = 0; i < 3; ++i) {
      INFO("step " << t + 1 << " element " << i);
      CHECK(got[i] == Approx(expected[t][i]).epsilon(1e-6).margin(1e-7));
    }
  }
}

MakeOpt sgd(SgdOptions o) {
  return [o](std::vector<ParamGroup> g) { return std::make_unique<Sgd>(std::move(g), o); };
}

MakeOpt adam(AdamOptions o, bool decoupled) {
  return [o, decoupled](std::vector<ParamGroup> g) {
    return std::make_unique<Adam>(std::move(g), o, decoupled);
  };
}

}  // namespace

TEST_CASE("sgd plain: p -= lr * g", "[optim]") {
  // lr 0.1: p1 = [1, -2, 3] - 0.1 * [0.1, -0.2, 0.3] = [0.99, -1.98, 2.97]
  //         p2 = p1 - 0.1 * [0.4, 0.5, -0.6]       = [0.95, -2.03, 3.03]
  CHECK(kSgdPlain[0][0] == Approx(0.99));
  CHECK(kSgdPlain[1][1] == Approx(-2.03));
  check_trajectory(sgd({.lr = 0.1, .momentum = 0.0, .weight_decay = 0.0}), kSgdPlain, 0.0);
}

TEST_CASE("sgd momentum with dampening: first step sets buf = g", "[optim]") {
  // momentum 0.9, dampening 0.1, lr 0.1:
  //   step 1: buf = g1 = [0.1, -0.2, 0.3]                       p = [0.99, -1.98, 2.97]
  //   step 2: buf = 0.9 * buf + 0.9 * g2 = [0.45, 0.27, -0.27]  p = [0.945, -2.007, 2.997]
  CHECK(kSgdMomentum[1][0] == Approx(0.945));
  CHECK(kSgdMomentum[1][1] == Approx(-2.007));
  CHECK(kSgdMomentum[1][2] == Approx(2.997));
  check_trajectory(
      sgd({.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.0}), kSgdMomentum, 0.0);
}

TEST_CASE("sgd nesterov: p -= lr * (g + momentum * buf)", "[optim]") {
  // step 1: buf = g1; p = p0 - 0.1 * (g1 + 0.9 * g1) = p0 - 0.19 * g1 = [0.981, -1.962, 2.943]
  CHECK(kSgdNesterov[0][0] == Approx(0.981));
  CHECK(kSgdNesterov[0][2] == Approx(2.943));
  check_trajectory(sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.0}),
                   kSgdNesterov, 0.0);
}

TEST_CASE("sgd weight decay: d = g + wd * p", "[optim]") {
  // wd 0.01, step 1: d = g1 + 0.01 * p0 = [0.11, -0.22, 0.33]; p = p0 - 0.1 * d
  //                  = [0.989, -1.978, 2.967]
  CHECK(kSgdWeightDecay[0][0] == Approx(0.989));
  CHECK(kSgdWeightDecay[0][1] == Approx(-1.978));
  // The decay comes from the group, not from the options struct.
  check_trajectory(sgd({.lr = 0.1, .momentum = 0.9, .weight_decay = 123.0}), kSgdWeightDecay,
                   0.01);
}

TEST_CASE("adam: L2 decay in the gradient, bias correction, eps outside the sqrt", "[optim]") {
  // lr 0.1, wd 0.1, step 1: g' = g1 + 0.1 * p0 = [0.2, -0.4, 0.6]; m = 0.1 g', v = 0.001 g'^2;
  //   m_hat = g', sqrt(v_hat) = |g'|  =>  p = p0 - 0.1 * g' / (|g'| + 1e-8) = [0.9, -1.9, 2.9]
  CHECK(kAdam[0][0] == Approx(0.9));
  CHECK(kAdam[0][1] == Approx(-1.9));
  check_trajectory(adam({.lr = 0.1, .weight_decay = 0.0}, false), kAdam, 0.1);
}

TEST_CASE("adamw: decoupled decay p *= 1 - lr * wd before the Adam step", "[optim]") {
  // lr 0.1, wd 0.1, step 1: p = 0.99 * p0 = [0.99, -1.98, 2.97]; then p -= 0.1 * sign(g1)
  //   = [0.89, -1.88, 2.87]
  CHECK(kAdamW[0][0] == Approx(0.89));
  CHECK(kAdamW[0][2] == Approx(2.87));
  check_trajectory(adam({.lr = 0.1, .weight_decay = 0.0}, true), kAdamW, 0.1);
}

TEST_CASE("the parallel path of large tensors matches the small-tensor result", "[optim]") {
  // 40000 elements (above kernels::kParallelMin) repeating kP0 / kG: element i must follow the
  // trajectory of element i % 3 bit for bit.
  const std::int64_t n = 40000;
  REQUIRE(n >= kernels::kParallelMin);
  std::vector<float> p0(n);
  for (std::int64_t i = 0; i < n; ++i) p0[i] = kP0[i % 3];
  for (const bool use_adam : {false, true}) {
    core::Tensor big = make_param(p0, core::Shape{n});
    core::Tensor small = make_param(kP0);
    std::unique_ptr<Optimizer> a, b;
    if (use_adam) {
      a = std::make_unique<Adam>(one_group({{"big", big}}, 0.1), AdamOptions{.lr = 0.1}, true);
      b = std::make_unique<Adam>(one_group({{"small", small}}, 0.1), AdamOptions{.lr = 0.1}, true);
    } else {
      a = std::make_unique<Sgd>(one_group({{"big", big}}, 0.01), SgdOptions{.nesterov = true});
      b = std::make_unique<Sgd>(one_group({{"small", small}}, 0.01), SgdOptions{.nesterov = true});
    }
    for (int t = 0; t < 3; ++t) {
      std::vector<float> g(n);
      for (std::int64_t i = 0; i < n; ++i) g[i] = kG[t][i % 3];
      set_grad(big, g);
      set_grad(small, kG[t]);
      a->step();
      b->step();
    }
    const std::vector<float> got = values(big), want = values(small);
    bool same = true;
    for (std::int64_t i = 0; i < n; ++i) same = same && got[i] == want[i % 3];
    CHECK(same);
  }
}

TEST_CASE("parameters without a gradient are skipped", "[optim]") {
  const std::vector<float> start(kP0.begin(), kP0.end());
  core::Tensor a = make_param(kP0);
  core::Tensor b = make_param(kP0);
  Adam opt(one_group({{"a", a}, {"b", b}}, 0.0), AdamOptions{.lr = 0.1});
  set_grad(a, kG[0]);
  opt.step();
  CHECK(values(b) == start);
  CHECK(values(a) != start);
  // b's first update later is still a step-1 update: its step count did not advance.
  const std::vector<float> a_after = values(a);
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  core::Tensor c = make_param(kP0);
  Adam fresh(one_group({{"c", c}}, 0.0), AdamOptions{.lr = 0.1});
  set_grad(b, kG[1]);
  set_grad(c, kG[1]);
  opt.step();
  fresh.step();
  CHECK(values(b) == values(c));
  CHECK(values(a) == a_after);
}

TEST_CASE("zero_grad drops gradients; group lr = base lr * lr_scale", "[optim]") {
  core::Tensor a = make_param(kP0);
  core::Tensor b = make_param(kP0);
  std::vector<ParamGroup> groups = make_param_groups({{"a", a}}, 0.0);
  ParamGroup slow;
  slow.name = "slow";
  slow.param_names = {"b"};
  slow.params = {b};
  slow.lr_scale = 0.5;
  groups.push_back(slow);
  Sgd opt(std::move(groups), SgdOptions{.lr = 0.2, .momentum = 0.0});
  set_grad(a, {1.0f, 1.0f, 1.0f});
  set_grad(b, {1.0f, 1.0f, 1.0f});
  opt.set_lr(0.1);
  CHECK(opt.group_lr(2) == Approx(0.05));
  opt.step();
  CHECK(values(a)[0] == Approx(0.9f));
  CHECK(values(b)[0] == Approx(0.95f));
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  opt.step();  // nothing has a gradient: nothing moves
  CHECK(values(a)[0] == Approx(0.9f));
}

TEST_CASE("invalid optimizer settings are errors that say what to fix", "[optim]") {
  core::Tensor a = make_param(kP0);
  CHECK_THROWS_WITH(Sgd(one_group({{"a", a}}, 0.0), SgdOptions{.momentum = 0.0, .nesterov = true}),
                    Contains("Nesterov") && Contains("momentum > 0"));
  CHECK_THROWS_WITH(Adam(one_group({{"a", a}}, 0.0), AdamOptions{.beta2 = 1.0}),
                    Contains("beta2"));
  CHECK_THROWS_WITH(make_sgd({{"a", a}, {"a", make_param(kP0)}}), Contains("'a' appears twice"));
  CHECK_THROWS_WITH(Sgd(one_group({{"a", a}}, 0.0), SgdOptions{.lr = -1.0}), Contains("lr"));
  Sgd ok(one_group({{"a", a}}, 0.0), SgdOptions{});
  CHECK_THROWS_AS(ok.set_lr(std::nan("")), core::Error);
}
