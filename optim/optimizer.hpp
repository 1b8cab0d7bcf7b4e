#pragma once
// Optimizer: the interface every optimizer (SGD, Adam, AdamW, Bop and the routing optimizer)
// implements over a list of parameter groups.
//
// Training-loop contract:
//   opt.zero_grad();  loss.backward();  [clip_grad_norm(opt.params(), ...)]
//   opt.set_lr(schedule.lr_at(global_step));  opt.step();  ++global_step;
// step() reads each parameter's .grad() and updates the parameter in place under NoGradGuard;
// a parameter whose grad is undefined is skipped entirely (its step count does not advance), as
// in PyTorch. Group g uses LR lr() * groups()[g].lr_scale and its own weight_decay.
//
// State: per parameter, a step count and a fixed list of named float buffers shaped like the
// parameter (SGD: momentum; Adam: exp_avg, exp_avg_sq), created lazily on the parameter's first
// step. save_state/load_state round-trip all of it plus the base LR, keyed by parameter name, so a
// resumed run continues bit-identically.
//
// State section payload (core/io.hpp encodings; version 1):
//   string  "lowbit.optim.state"       u32 version       string optimizer name()   f64 base lr
//   u64 parameter count, then per parameter:
//     string name   vector<i64> shape   i64 step   u32 buffer count
//     per buffer: u8 present, and when present a tensor (core/tensor_io.hpp)
//
// Composites: a RoutingOptimizer (optim/routing.hpp) owns other optimizers and overrides the
// virtual zero_grad, set_lr, params, groups, group_lr, step_stats, write_state and read_state.
// It constructs this base with no groups; the base's own group list then stays empty.

#include "core/io.hpp"
#include "core/tensor.hpp"
#include "optim/param_group.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::optim {

// The first fields of every optimizer state payload (see above).
inline constexpr std::string_view kOptimizerStateTag = "lowbit.optim.state";
inline constexpr std::uint32_t kOptimizerStateVersion = 1;

// Named numbers describing the last step() for logging, e.g. {"flips", 12}, {"flip_ratio", 1e-4}.
using StepStats = std::vector<std::pair<std::string, double>>;

class Optimizer {
 public:
  // Checks the groups: parameter names unique across groups, tensors defined, f32 and
  // contiguous, lr, weight decay and lr_scale finite and >= 0. `buffer_names` lists the
  // per-parameter state buffers of the concrete optimizer.
  Optimizer(std::vector<ParamGroup> groups, double lr, std::vector<std::string> buffer_names);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Drops every parameter's gradient (the next backward() starts from nothing).
  virtual void zero_grad();

  double lr() const { return lr_; }
  virtual void set_lr(double lr);  // lr finite and >= 0 (an optimizer may narrow the range)
  // The momentum a schedule cycles (SGD's momentum, Adam's beta1: what PyTorch's OneCycleLR
  // writes into the param groups), in [0, 1). False, and nothing changed, when the optimizer has
  // none to cycle.
  virtual bool set_momentum(double momentum) { (void)momentum; return false; }
  virtual double group_lr(std::size_t group) const { return lr_ * groups_.at(group).lr_scale; }

  virtual const std::vector<ParamGroup>& groups() const { return groups_; }
  // Every parameter, group by group (for clip_grad_norm).
  virtual std::vector<core::Tensor> params() const;

  // Registry name: "sgd", "adam", "adamw", "bop", "routing".
  virtual std::string name() const = 0;

  // Numbers describing the last step() for logging; empty unless the optimizer has some (Bop:
  // "flips", "flip_ratio").
  virtual StepStats step_stats() const { return {}; }

  // Writes the whole state as one section named `section` (the writer must have no open section).
  virtual void save_state(core::BinaryWriter& out, std::string section) const;
  // Restores state written by save_state of an optimizer of the same name() over parameters with
  // the same names and shapes. A missing, extra or reshaped parameter is an Error naming it; on
  // any error this optimizer is left unchanged.
  virtual void load_state(core::SectionReader& in);

  // The two halves of save/load, public so a composite can nest its parts' payloads in its own
  // section. save_state = begin_section + write_state + end_section; load_state = read_state +
  // expect_end + the returned action.
  // Appends this optimizer's payload to the writer's open section.
  virtual void write_state(core::BinaryWriter& out) const;
  // Decodes and checks one payload at the reader's position (not requiring the section's end),
  // changing nothing; returns the action that installs it (it does not throw).
  [[nodiscard]] virtual std::function<void()> read_state(core::SectionReader& in);

 protected:
  struct ParamState {
    std::int64_t step = 0;               // completed updates of this parameter
    std::vector<core::Tensor> buffers;   // buffer_names().size() entries; undefined until used
  };

  ParamState& state(std::size_t group, std::size_t index) { return state_[group][index]; }
  // The state's buffer `b`, created zero-filled in the parameter's shape if absent.
  core::Tensor& buffer(ParamState& s, std::size_t b, const core::Tensor& param);
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }

 private:
  std::vector<ParamGroup> groups_;
  double lr_;
  std::vector<std::string> buffer_names_;
  std::vector<std::vector<ParamState>> state_;  // state_[g][i] belongs to groups_[g].params[i]
};

// The parameter's gradient as a contiguous f32 tensor, or undefined when it has none. A
// non-contiguous gradient is replaced by a packed copy so callers can use data<float>().
core::Tensor contiguous_grad(core::Tensor param);

}  // namespace lowbit::optim
