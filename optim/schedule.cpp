#include "optim/schedule.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace lowbit::optim {

namespace {

void check_step(std::int64_t step) {
  core::check(step >= 0, "lr_at: step must be >= 0, got {}", step);
}

// Cosine interpolation from a (pct 0) to b (pct 1), as PyTorch's _annealing_cos.
double cos_anneal(double a, double b, double pct) {
  return b + (a - b) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

class ConstantSchedule final : public LrSchedule {
 public:
  explicit ConstantSchedule(double base) : base_(base) {}
  double lr_at(std::int64_t step) const override {
    check_step(step);
    return base_;
  }

 private:
  double base_;
};

class StepSchedule final : public LrSchedule {
 public:
  StepSchedule(double base, StepOptions o) : base_(base), o_(o) {}
  double lr_at(std::int64_t step) const override {
    check_step(step);
    return base_ * std::pow(o_.gamma, static_cast<double>(step / o_.step_size));
  }

 private:
  double base_;
  StepOptions o_;
};

class MultiStepSchedule final : public LrSchedule {
 public:
  MultiStepSchedule(double base, MultiStepOptions o) : base_(base), o_(std::move(o)) {
    std::sort(o_.milestones.begin(), o_.milestones.end());
  }
  double lr_at(std::int64_t step) const override {
    check_step(step);
    // bisect_right: milestones <= step have been passed (duplicates count twice, as in PyTorch).
    const auto passed = std::upper_bound(o_.milestones.begin(), o_.milestones.end(), step) -
                        o_.milestones.begin();
    return base_ * std::pow(o_.gamma, static_cast<double>(passed));
  }

 private:
  double base_;
  MultiStepOptions o_;
};

class CosineSchedule final : public LrSchedule {
 public:
  CosineSchedule(double base, CosineOptions o) : base_(base), o_(o) {}
  double lr_at(std::int64_t step) const override {
    check_step(step);
    if (step >= o_.total_steps) return o_.min_lr;
    const double pct = static_cast<double>(step) / static_cast<double>(o_.total_steps);
    return cos_anneal(base_, o_.min_lr, pct);
  }

 private:
  double base_;
  CosineOptions o_;
};

class OneCycleSchedule final : public LrSchedule {
 public:
  OneCycleSchedule(double base, OneCycleOptions o) : o_(o) {
    max_lr_ = o.max_lr > 0.0 ? o.max_lr : base;
    initial_lr_ = max_lr_ / o.div_factor;
    final_lr_ = initial_lr_ / o.final_div_factor;
    end1_ = o.pct_start * static_cast<double>(o.total_steps) - 1.0;
    end2_ = static_cast<double>(o.total_steps) - 1.0;
  }
  double lr_at(std::int64_t step) const override {
    const double t = position(step);
    if (t <= end1_) return cos_anneal(initial_lr_, max_lr_, t / end1_);
    return cos_anneal(max_lr_, final_lr_, (t - end1_) / (end2_ - end1_));
  }
  std::optional<double> momentum_at(std::int64_t step) const override {
    if (!o_.cycle_momentum) return std::nullopt;
    const double t = position(step);
    if (t <= end1_) return cos_anneal(o_.max_momentum, o_.base_momentum, t / end1_);
    return cos_anneal(o_.base_momentum, o_.max_momentum, (t - end1_) / (end2_ - end1_));
  }

 private:
  double position(std::int64_t step) const {
    check_step(step);
    return static_cast<double>(std::min(step, o_.total_steps - 1));
  }

  OneCycleOptions o_;
  double max_lr_, initial_lr_, final_lr_;
  double end1_, end2_;  // last step of each phase (PyTorch's phase end_step, a float)
};

class WarmupSchedule final : public LrSchedule {
 public:
  WarmupSchedule(std::unique_ptr<LrSchedule> inner, WarmupOptions o)
      : inner_(std::move(inner)), o_(o) {}
  double lr_at(std::int64_t step) const override {
    const double inner = inner_->lr_at(step);
    if (step >= o_.warmup_steps) return inner;
    const double s = o_.warmup_start_factor;
    const double frac = static_cast<double>(step) / static_cast<double>(o_.warmup_steps);
    return inner * (s + (1.0 - s) * frac);
  }
  std::optional<double> momentum_at(std::int64_t step) const override {
    return inner_->momentum_at(step);
  }

 private:
  std::unique_ptr<LrSchedule> inner_;
  WarmupOptions o_;
};

void check_base(double base_lr, const char* who) {
  core::check(std::isfinite(base_lr) && base_lr >= 0.0,
              "{} schedule: base lr must be finite and >= 0, got {}", who, base_lr);
}

void check_gamma(double gamma, const char* who) {
  core::check(std::isfinite(gamma) && gamma > 0.0,
              "{} schedule: gamma must be finite and > 0, got {}. HINT: gamma is the factor the "
              "LR is multiplied by at each decay, e.g. 0.1",
              who, gamma);
}

void check_total(std::int64_t total_steps, const char* who) {
  core::check(total_steps > 0,
              "{} schedule: total_steps must be > 0, got {}. HINT: set schedule.total_steps to "
              "epochs * steps_per_epoch",
              who, total_steps);
}

}  // namespace

void visit_fields(ConstantOptions&, FieldVisitor&) {}
void visit_fields(StepOptions& o, FieldVisitor& v) {
  v.field("step_size", o.step_size);
  v.field("gamma", o.gamma);
}
void visit_fields(MultiStepOptions& o, FieldVisitor& v) {
  v.field("milestones", o.milestones);
  v.field("gamma", o.gamma);
}
void visit_fields(CosineOptions& o, FieldVisitor& v) {
  v.field("total_steps", o.total_steps);
  v.field("min_lr", o.min_lr);
}
void visit_fields(OneCycleOptions& o, FieldVisitor& v) {
  v.field("total_steps", o.total_steps);
  v.field("max_lr", o.max_lr);
  v.field("pct_start", o.pct_start);
  v.field("div_factor", o.div_factor);
  v.field("final_div_factor", o.final_div_factor);
  v.field("cycle_momentum", o.cycle_momentum);
  v.field("base_momentum", o.base_momentum);
  v.field("max_momentum", o.max_momentum);
}
void visit_fields(WarmupOptions& o, FieldVisitor& v) {
  v.field("warmup_steps", o.warmup_steps);
  v.field("warmup_start_factor", o.warmup_start_factor);
}

std::unique_ptr<LrSchedule> make_constant_schedule(double base_lr, const ConstantOptions&) {
  check_base(base_lr, "constant");
  return std::make_unique<ConstantSchedule>(base_lr);
}

std::unique_ptr<LrSchedule> make_step_schedule(double base_lr, const StepOptions& o) {
  check_base(base_lr, "step");
  check_gamma(o.gamma, "step");
  core::check(o.step_size > 0, "step schedule: step_size must be > 0, got {}", o.step_size);
  return std::make_unique<StepSchedule>(base_lr, o);
}

std::unique_ptr<LrSchedule> make_multistep_schedule(double base_lr, const MultiStepOptions& o) {
  check_base(base_lr, "multistep");
  check_gamma(o.gamma, "multistep");
  for (const std::int64_t m : o.milestones) {
    core::check(m >= 0, "multistep schedule: milestone {} is negative", m);
  }
  return std::make_unique<MultiStepSchedule>(base_lr, o);
}

std::unique_ptr<LrSchedule> make_cosine_schedule(double base_lr, const CosineOptions& o) {
  check_base(base_lr, "cosine");
  check_total(o.total_steps, "cosine");
  core::check(std::isfinite(o.min_lr) && o.min_lr >= 0.0,
              "cosine schedule: min_lr must be finite and >= 0, got {}", o.min_lr);
  return std::make_unique<CosineSchedule>(base_lr, o);
}

std::unique_ptr<LrSchedule> make_one_cycle_schedule(double base_lr, const OneCycleOptions& o) {
  check_base(base_lr, "one_cycle");
  check_total(o.total_steps, "one_cycle");
  core::check(std::isfinite(o.max_lr) && o.max_lr >= 0.0,
              "one_cycle schedule: max_lr must be finite and >= 0 (0 uses the optimizer lr), "
              "got {}",
              o.max_lr);
  core::check(o.pct_start > 0.0 && o.pct_start < 1.0,
              "one_cycle schedule: pct_start must be in (0, 1), got {}", o.pct_start);
  core::check(o.div_factor > 0.0 && o.final_div_factor > 0.0,
              "one_cycle schedule: div_factor and final_div_factor must be > 0, got {} and {}",
              o.div_factor, o.final_div_factor);
  // Both phases need at least one step of length, or pct would divide by zero.
  const double end1 = o.pct_start * static_cast<double>(o.total_steps) - 1.0;
  core::check(end1 > 0.0 && end1 < static_cast<double>(o.total_steps) - 1.0,
              "one_cycle schedule: pct_start {} with total_steps {} leaves a phase without "
              "steps. HINT: raise total_steps or move pct_start towards 0.5",
              o.pct_start, o.total_steps);
  for (const double m : {o.base_momentum, o.max_momentum}) {
    core::check(!o.cycle_momentum || (std::isfinite(m) && m >= 0.0 && m < 1.0),
                "one_cycle schedule: base_momentum and max_momentum must be in [0, 1), got {} and "
                "{}",
                o.base_momentum, o.max_momentum);
  }
  return std::make_unique<OneCycleSchedule>(base_lr, o);
}

std::unique_ptr<LrSchedule> with_warmup(std::unique_ptr<LrSchedule> inner, const WarmupOptions& o) {
  core::check(inner != nullptr, "with_warmup: no schedule to wrap");
  core::check(o.warmup_steps >= 0, "warmup: warmup_steps must be >= 0, got {}", o.warmup_steps);
  core::check(o.warmup_start_factor >= 0.0 && o.warmup_start_factor <= 1.0,
              "warmup: warmup_start_factor must be in [0, 1], got {}. HINT: the first step's LR "
              "is warmup_start_factor times the schedule's LR",
              o.warmup_start_factor);
  if (o.warmup_steps == 0) return inner;
  return std::make_unique<WarmupSchedule>(std::move(inner), o);
}

double apply_schedule(const LrSchedule& schedule, std::int64_t step, Optimizer& optimizer) {
  const double lr = schedule.lr_at(step);
  optimizer.set_lr(lr);
  if (const std::optional<double> m = schedule.momentum_at(step)) optimizer.set_momentum(*m);
  return lr;
}

}  // namespace lowbit::optim
