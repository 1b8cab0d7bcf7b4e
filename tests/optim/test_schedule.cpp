// LR schedules against PyTorch's schedulers (torch_expected.hpp) and their closed forms, and
// the schedule registry with its option maps.

#include "core/error.hpp"
#include "optim/adam.hpp"
#include "optim/registry.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
#include "tests/optim/helpers.hpp"
#include "tests/optim/torch_expected.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using namespace lowbit;
using namespace lowbit::optim;
using Catch::Contains;

namespace {

void check_values(const LrSchedule& s, const std::vector<double>& expected) {
  for (std::size_t t = 0; t < expected.size(); ++t) {
    INFO("step " << t);
    CHECK(s.lr_at(static_cast<std::int64_t>(t)) == Approx(expected[t]).epsilon(1e-12).margin(1e-15));
  }
}

}  // namespace

TEST_CASE("constant schedule", "[optim][schedule]") {
  const auto s = make_constant_schedule(0.3);
  CHECK(s->lr_at(0) == 0.3);
  CHECK(s->lr_at(1000000) == 0.3);
}

TEST_CASE("step schedule: base * gamma^floor(t / step_size)", "[optim][schedule]") {
  const auto s = make_step_schedule(0.1, {.step_size = 3, .gamma = 0.5});
  CHECK(s->lr_at(2) == Approx(0.1));
  CHECK(s->lr_at(3) == Approx(0.05));
  CHECK(s->lr_at(9) == Approx(0.0125));
  check_values(*s, test::kStepLr);
}

TEST_CASE("multistep schedule: gamma per milestone passed, duplicates count", "[optim][schedule]") {
  // Milestones out of order; 5 appears twice so step 5 multiplies by gamma^2 (as PyTorch).
  const auto s = make_multistep_schedule(0.1, {.milestones = {8, 5, 2, 5}, .gamma = 0.1});
  CHECK(s->lr_at(1) == Approx(0.1));
  CHECK(s->lr_at(2) == Approx(0.01));
  CHECK(s->lr_at(5) == Approx(1e-4));
  check_values(*s, test::kMultiStepLr);
}

TEST_CASE("cosine schedule: endpoints base and min_lr, clamped after T", "[optim][schedule]") {
  const auto s = make_cosine_schedule(0.1, {.total_steps = 10, .min_lr = 0.001});
  CHECK(s->lr_at(0) == Approx(0.1));
  CHECK(s->lr_at(5) == Approx(0.0505));  // midpoint: (base + min) / 2
  CHECK(s->lr_at(10) == Approx(0.001));
  CHECK(s->lr_at(11) == Approx(0.001));  // PyTorch would rise again; we hold min_lr
  check_values(*s, test::kCosineLr);
}

TEST_CASE("one-cycle schedule matches OneCycleLR: start, peak, end", "[optim][schedule]") {
  // max_lr 0.5, total 20, pct_start 0.3, div 25, final_div 1e4:
  //   start = 0.5 / 25 = 0.02; the peak step is 0.3 * 20 - 1 = 5 (lr 0.5);
  //   end (step 19) = 0.02 / 1e4 = 2e-6
  const auto s = make_one_cycle_schedule(0.1, {.total_steps = 20, .max_lr = 0.5});
  CHECK(s->lr_at(0) == Approx(0.02));
  CHECK(s->lr_at(5) == Approx(0.5));
  CHECK(s->lr_at(19) == Approx(2e-6));
  CHECK(s->lr_at(25) == Approx(2e-6));  // past the end: the final LR
  check_values(*s, test::kOneCycleLr);
  // max_lr 0 takes the peak from the base LR.
  const auto t = make_one_cycle_schedule(0.5, {.total_steps = 20});
  check_values(*t, test::kOneCycleLr);
}

TEST_CASE("one-cycle cycles the momentum as OneCycleLR, and apply_schedule sets it",
          "[optim][schedule]") {
  const auto s = make_one_cycle_schedule(0.1, {.total_steps = 20, .max_lr = 0.5});
  REQUIRE(test::kOneCycleMomentum.size() == 20);
  for (std::size_t t = 0; t < test::kOneCycleMomentum.size(); ++t) {
    INFO("step " << t);
    REQUIRE(s->momentum_at(static_cast<std::int64_t>(t)).has_value());
    CHECK(*s->momentum_at(static_cast<std::int64_t>(t)) ==
          Approx(test::kOneCycleMomentum[t]).margin(1e-12));
  }
  // 0.95 at the start, 0.85 at the LR peak (step 5), back to 0.95 at the end.
  CHECK(*s->momentum_at(0) == Approx(0.95));
  CHECK(*s->momentum_at(5) == Approx(0.85));
  CHECK(*s->momentum_at(19) == Approx(0.95));
  // Off: no momentum; other schedules have none; warmup passes the inner one through.
  CHECK_FALSE(make_one_cycle_schedule(0.1, {.total_steps = 20, .cycle_momentum = false})
                  ->momentum_at(3)
                  .has_value());
  CHECK_FALSE(make_cosine_schedule(0.1, {.total_steps = 10})->momentum_at(3).has_value());
  const auto w = with_warmup(make_one_cycle_schedule(0.1, {.total_steps = 20, .max_lr = 0.5}),
                             {.warmup_steps = 4});
  CHECK(*w->momentum_at(3) == Approx(test::kOneCycleMomentum[3]));
  CHECK_THROWS_WITH(
      make_one_cycle_schedule(0.1, {.total_steps = 20, .base_momentum = 1.0}),
      Contains("base_momentum"));

  // apply_schedule: the LR and the momentum reach SGD's momentum and Adam's beta1.
  core::Tensor p = test::make_param(test::kP0);
  auto sgd = make_sgd({{"p", p}}, {.lr = 0.1, .momentum = 0.9});
  CHECK(apply_schedule(*s, 5, *sgd) == Approx(0.5));
  CHECK(sgd->lr() == Approx(0.5));
  CHECK(dynamic_cast<Sgd&>(*sgd).options().momentum == Approx(0.85));
  auto adam = make_adam({{"p", p}}, {.lr = 0.1});
  apply_schedule(*s, 0, *adam);
  CHECK(dynamic_cast<Adam&>(*adam).options().beta1 == Approx(0.95));
}

TEST_CASE("linear warmup wraps any schedule multiplicatively", "[optim][schedule]") {
  // warmup 4 steps from 0.25 over step(3, 0.5): f(t) = 0.25 + 0.75 * t / 4 for t < 4
  //   t=0: 0.1 * 0.25 = 0.025;  t=3: 0.05 * 0.8125 = 0.040625;  t=4: 0.05
  const auto s = with_warmup(make_step_schedule(0.1, {.step_size = 3, .gamma = 0.5}),
                             {.warmup_steps = 4, .warmup_start_factor = 0.25});
  CHECK(s->lr_at(0) == Approx(0.025));
  CHECK(s->lr_at(3) == Approx(0.040625));
  CHECK(s->lr_at(4) == Approx(0.05));
  check_values(*s, test::kWarmupStepLr);
  const auto c = with_warmup(make_cosine_schedule(0.1, {.total_steps = 10}),
                             {.warmup_steps = 5, .warmup_start_factor = 0.1});
  check_values(*c, test::kWarmupCosineLr);
  // Ramp is monotone over the warmup of a constant schedule, reaching the base at W.
  const auto r = with_warmup(make_constant_schedule(1.0), {.warmup_steps = 10,
                                                            .warmup_start_factor = 0.0});
  CHECK(r->lr_at(0) == 0.0);
  CHECK(r->lr_at(5) == Approx(0.5));
  CHECK(r->lr_at(10) == 1.0);
}

TEST_CASE("schedule options are checked", "[optim][schedule]") {
  CHECK_THROWS_WITH(make_cosine_schedule(0.1, {}), Contains("total_steps must be > 0"));
  CHECK_THROWS_WITH(make_step_schedule(0.1, {.step_size = 0}), Contains("step_size"));
  CHECK_THROWS_WITH(make_one_cycle_schedule(0.1, {.total_steps = 3}), Contains("pct_start"));
  CHECK_THROWS_WITH(with_warmup(make_constant_schedule(0.1), {.warmup_steps = 3,
                                                              .warmup_start_factor = 2.0}),
                    Contains("warmup_start_factor"));
  CHECK_THROWS_AS(make_constant_schedule(0.1)->lr_at(-1), core::Error);
}

TEST_CASE("schedule registry: names, option maps, warmup keys", "[optim][schedule][registry]") {
  ScheduleRegistry registry("schedule");
  register_builtin_schedules(registry);
  CHECK(registry.names() ==
        std::vector<std::string>{"constant", "cosine", "multistep", "one_cycle", "step"});
  CHECK_THROWS_WITH(registry.get("cosin"), Contains("did you mean 'cosine'"));

  const auto s = registry.create(
      "step", 0.1,
      OptionMap{{"step_size", std::int64_t{3}}, {"gamma", 0.5}, {"warmup_steps", std::int64_t{4}},
                {"warmup_start_factor", 0.25}});
  check_values(*s, test::kWarmupStepLr);
  const auto m = registry.create(
      "multistep", 0.1, OptionMap{{"milestones", std::vector<std::int64_t>{2, 5, 5, 8}}});
  check_values(*m, test::kMultiStepLr);
  // An integral number is accepted for an integer key (YAML reads 1e1 as a float).
  const auto c = registry.create("cosine", 0.1, OptionMap{{"total_steps", 1e1}, {"min_lr", 0.001}});
  check_values(*c, test::kCosineLr);

  CHECK_THROWS_WITH(registry.create("cosine", 0.1, OptionMap{{"total_step", std::int64_t{5}}}),
                    Contains("unknown option 'total_step'") && Contains("did you mean 'total_steps'"));
  CHECK_THROWS_WITH(registry.create("cosine", 0.1, OptionMap{{"warmup_step", std::int64_t{5}}}),
                    Contains("did you mean 'warmup_steps'"));
  CHECK_THROWS_WITH(registry.create("cosine", 0.1, OptionMap{{"total_steps", 2.5}}),
                    Contains("'total_steps' must be an integer"));
  CHECK_THROWS_WITH(registry.create("step", 0.1, OptionMap{{"gamma", std::string("x")}}),
                    Contains("'gamma' must be a number"));

  const OptionMap& d = registry.get("one_cycle").defaults;
  CHECK(std::get<double>(d.at("pct_start")) == 0.3);
  CHECK(std::get<double>(d.at("div_factor")) == 25.0);
  CHECK(std::get<double>(d.at("final_div_factor")) == 1e4);
  CHECK(std::get<std::int64_t>(d.at("warmup_steps")) == 0);
}
