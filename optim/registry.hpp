#pragma once
// Optimizers and schedules by name, for the config layer. Registries start empty and are filled
// by the explicit register_builtin_*() calls (never by static initialisers); plugins add to the
// same registries.
//
// Each entry is a factory over a string-keyed OptionMap plus the map of every option it accepts
// with its default (`defaults`, built from the options struct: the schema for config checking
// and --print-config). Unknown keys and wrong types are Errors naming the key and the closest
// known one.
//
//   register_builtin_optimizers();
//   auto opt = optimizer_registry().create("sgd", model.named_parameters(),
//                                          OptionMap{{"lr", 0.05}, {"nesterov", true}});
//   register_builtin_schedules();
//   auto sched = schedule_registry().create("cosine", opt->lr(),
//                                           OptionMap{{"total_steps", 10000}, {"warmup_steps", 500}});
//
// Built-in optimizers: "sgd" (SgdOptions), "adam", "adamw" (AdamOptions), "bop" (BopOptions: "lr"
// is Bop's gamma, "threshold" its tau; every parameter it is given must hold +-1, so a model
// normally reaches it through make_routing in optim/routing.hpp).
// Built-in schedules: "constant", "step", "multistep", "cosine", "one_cycle" (their options
// structs); every schedule also accepts WarmupOptions' keys (warmup_steps, warmup_start_factor)
// and is wrapped in a linear warmup when warmup_steps > 0.

#include "core/registry.hpp"
#include "optim/optimizer.hpp"
#include "optim/options.hpp"
#include "optim/schedule.hpp"

#include <functional>
#include <memory>

namespace lowbit::optim {

struct OptimizerFactory {
  std::function<std::unique_ptr<Optimizer>(const NamedParams&, const OptionMap&)> make;
  OptionMap defaults;  // every accepted key with its default value

  std::unique_ptr<Optimizer> operator()(const NamedParams& params, const OptionMap& options) const {
    return make(params, options);
  }
};

struct ScheduleFactory {
  std::function<std::unique_ptr<LrSchedule>(double base_lr, const OptionMap&)> make;
  OptionMap defaults;  // every accepted key (warmup keys included) with its default value

  std::unique_ptr<LrSchedule> operator()(double base_lr, const OptionMap& options) const {
    return make(base_lr, options);
  }
};

using OptimizerRegistry = core::Registry<OptimizerFactory>;
using ScheduleRegistry = core::Registry<ScheduleFactory>;

// The process-wide registries (empty until filled).
OptimizerRegistry& optimizer_registry();
ScheduleRegistry& schedule_registry();

// Add the built-ins to `registry`; an Error if one of the names is already there.
void register_builtin_optimizers(OptimizerRegistry& registry);
void register_builtin_schedules(ScheduleRegistry& registry);
// Add the built-ins to the process-wide registries; calling again is a no-op.
void register_builtin_optimizers();
void register_builtin_schedules();

}  // namespace lowbit::optim
