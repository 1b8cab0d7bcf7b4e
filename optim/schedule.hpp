#pragma once
// Learning-rate schedules: the LR of every iteration as a pure function of the global step
// (0-based: lr_at(0) is the LR of the first optimizer step), so a resumed run needs only the step.
// Each returns an absolute LR built on `base_lr` (normally the optimizer's configured lr). The
// closed forms match PyTorch's schedulers stepped once per iteration.
//
//   constant    lr = base
//   step        lr = base * gamma^floor(t / step_size)                          (StepLR)
//   multistep   lr = base * gamma^#{m in milestones : m <= t}                   (MultiStepLR)
//   cosine      lr = min + (base - min) * (1 + cos(pi * t / T)) / 2, t <= T;
//               min for t > T                                  (CosineAnnealingLR, no restart)
//   one_cycle   OneCycleLR (Smith & Topin 2017), cosine annealing, two phases, with the momentum
//               cycled inversely (momentum_at), see OneCycleOptions
//   warmup      wraps any schedule: lr = inner(t) * f(t) with
//               f(t) = s + (1 - s) * min(t, W) / W   (LinearLR with end_factor 1, chained)

#include "optim/optimizer.hpp"
#include "optim/options.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace lowbit::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // LR for the optimizer step with 0-based index `step` (>= 0).
  virtual double lr_at(std::int64_t step) const = 0;
  // The momentum for that step when the schedule cycles it (one_cycle), else nothing.
  virtual std::optional<double> momentum_at(std::int64_t step) const {
    (void)step;
    return std::nullopt;
  }
};

// Sets the optimizer's LR (and momentum, where the schedule cycles it and the optimizer has one)
// for step `step`; returns the LR.
double apply_schedule(const LrSchedule& schedule, std::int64_t step, Optimizer& optimizer);

struct ConstantOptions {};
struct StepOptions {
  std::int64_t step_size = 1000;  // optimizer steps between decays (> 0)
  double gamma = 0.1;
};
struct MultiStepOptions {
  std::vector<std::int64_t> milestones;  // global steps at which lr *= gamma (any order)
  double gamma = 0.1;
};
struct CosineOptions {
  std::int64_t total_steps = 0;  // T (> 0): the step at which min_lr is reached
  double min_lr = 0.0;
};
// PyTorch OneCycleLR (three_phase false, anneal_strategy 'cos', cycle_momentum as PyTorch).
//   initial = max_lr / div_factor,  final = initial / final_div_factor
//   phase 1: steps 0 .. e1 = pct_start * total_steps - 1,   cosine from initial to max_lr
//   phase 2: steps e1 .. e2 = total_steps - 1,              cosine from max_lr to final
//   cos_anneal(a, b, pct) = b + (a - b) / 2 * (1 + cos(pi * pct)), pct = (t - start) / (end - start)
//   momentum (cycle_momentum): phase 1 from max_momentum down to base_momentum, phase 2 back up,
//   the same cos_anneal and pct (SGD's momentum, Adam's beta1)
// Steps past total_steps - 1 keep the final LR (PyTorch raises there).
struct OneCycleOptions {
  std::int64_t total_steps = 0;  // > 0
  double max_lr = 0.0;           // 0: use base_lr as the peak
  double pct_start = 0.3;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool cycle_momentum = true;
  double base_momentum = 0.85;  // in [0, 1)
  double max_momentum = 0.95;   // in [0, 1)
};
// Wraps another schedule; warmup_steps = 0 means no warmup.
struct WarmupOptions {
  std::int64_t warmup_steps = 0;
  double warmup_start_factor = 0.1;  // in [0, 1]: f(0)
};

void visit_fields(ConstantOptions& o, FieldVisitor& v);
void visit_fields(StepOptions& o, FieldVisitor& v);
void visit_fields(MultiStepOptions& o, FieldVisitor& v);
void visit_fields(CosineOptions& o, FieldVisitor& v);
void visit_fields(OneCycleOptions& o, FieldVisitor& v);
void visit_fields(WarmupOptions& o, FieldVisitor& v);

// Each factory checks its options (an Error naming the option and the fix).
std::unique_ptr<LrSchedule> make_constant_schedule(double base_lr, const ConstantOptions& o = {});
std::unique_ptr<LrSchedule> make_step_schedule(double base_lr, const StepOptions& o);
std::unique_ptr<LrSchedule> make_multistep_schedule(double base_lr, const MultiStepOptions& o);
std::unique_ptr<LrSchedule> make_cosine_schedule(double base_lr, const CosineOptions& o);
std::unique_ptr<LrSchedule> make_one_cycle_schedule(double base_lr, const OneCycleOptions& o);
// Returns `inner` itself when o.warmup_steps == 0.
std::unique_ptr<LrSchedule> with_warmup(std::unique_ptr<LrSchedule> inner, const WarmupOptions& o);

}  // namespace lowbit::optim
