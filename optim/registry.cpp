#include "optim/registry.hpp"

#include "optim/adam.hpp"
#include "optim/bop.hpp"
#include "optim/sgd.hpp"

#include <fmt/format.h>

namespace lowbit::optim {

namespace {

template <typename Options, typename Make>
OptimizerFactory optimizer_entry(std::string name, Make make) {
  return OptimizerFactory{
      [name, make](const NamedParams& params, const OptionMap& map) {
        return make(params, from_option_map<Options>(map, fmt::format("optimizer '{}'", name)));
      },
      to_option_map(Options{})};
}

// A schedule entry accepts its own keys plus the warmup keys, and wraps in warmup.
template <typename Options, typename Make>
ScheduleFactory schedule_entry(std::string name, Make make) {
  OptionMap defaults = to_option_map(Options{});
  defaults.merge(to_option_map(WarmupOptions{}));
  return ScheduleFactory{
      [name, make](double base_lr, const OptionMap& map) {
        Options own;
        WarmupOptions warmup;
        OptionMapReader reader(map, fmt::format("schedule '{}'", name));
        visit_fields(own, reader);
        visit_fields(warmup, reader);
        reader.finish();  // an unknown key is checked against both sets of keys
        return with_warmup(make(base_lr, own), warmup);
      },
      std::move(defaults)};
}

}  // namespace

OptimizerRegistry& optimizer_registry() {
  static OptimizerRegistry registry("optimizer");
  return registry;
}

ScheduleRegistry& schedule_registry() {
  static ScheduleRegistry registry("schedule");
  return registry;
}

void register_builtin_optimizers(OptimizerRegistry& registry) {
  registry.add("sgd", optimizer_entry<SgdOptions>("sgd", make_sgd));
  registry.add("adam", optimizer_entry<AdamOptions>("adam", make_adam));
  registry.add("adamw", optimizer_entry<AdamOptions>("adamw", make_adamw));
  registry.add("bop", optimizer_entry<BopOptions>("bop", make_bop));
}

void register_builtin_schedules(ScheduleRegistry& registry) {
  registry.add("constant",
               schedule_entry<ConstantOptions>("constant", [](double lr, const ConstantOptions& o) {
                 return make_constant_schedule(lr, o);
               }));
  registry.add("step", schedule_entry<StepOptions>("step", make_step_schedule));
  registry.add("multistep", schedule_entry<MultiStepOptions>("multistep", make_multistep_schedule));
  registry.add("cosine", schedule_entry<CosineOptions>("cosine", make_cosine_schedule));
  registry.add("one_cycle", schedule_entry<OneCycleOptions>("one_cycle", make_one_cycle_schedule));
}

void register_builtin_optimizers() {
  if (!optimizer_registry().contains("sgd")) register_builtin_optimizers(optimizer_registry());
}

void register_builtin_schedules() {
  if (!schedule_registry().contains("constant")) register_builtin_schedules(schedule_registry());
}

}  // namespace lowbit::optim
