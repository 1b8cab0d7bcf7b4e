#include "optim/routing.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <utility>

namespace lowbit::optim {

namespace {

const Optimizer& require(const std::unique_ptr<Optimizer>& opt, const char* which) {
  core::check(opt != nullptr, "routing: the {} optimizer is null", which);
  return *opt;
}

double main_lr(const std::unique_ptr<Optimizer>& main) { return require(main, "main").lr(); }

}  // namespace

RoutingOptimizer::RoutingOptimizer(std::unique_ptr<Optimizer> binary,
                                   std::unique_ptr<Optimizer> main)
    : Optimizer({}, main_lr(main), {}), binary_(std::move(binary)), main_(std::move(main)) {
  require(binary_, "binary");
  core::check(main_->lr() > 0.0,
              "routing: the main optimizer's lr is {}, but the binary optimizer's LR is kept at a "
              "fixed ratio to it. HINT: give the main optimizer an lr > 0",
              main_->lr());
  ratio_ = binary_->lr() / main_->lr();

  std::set<std::string, std::less<>> names;
  std::set<const core::TensorImpl*> tensors;
  for (const Optimizer* opt : {main_.get(), binary_.get()}) {
    for (const ParamGroup& group : opt->groups()) {
      all_groups_.push_back(group);
      for (std::size_t i = 0; i < group.params.size(); ++i) {
        core::check(names.insert(group.param_names[i]).second &&
                        tensors.insert(group.params[i].impl_ptr().get()).second,
                    "routing: parameter '{}' is in both the binary ('{}') and the main ('{}') "
                    "optimizer. HINT: each parameter goes to exactly one of them",
                    group.param_names[i], binary_->name(), main_->name());
      }
    }
  }
}

void RoutingOptimizer::step() {
  main_->step();
  binary_->step();
}

void RoutingOptimizer::zero_grad() {
  main_->zero_grad();
  binary_->zero_grad();
}

void RoutingOptimizer::set_lr(double lr) {
  // A rejected LR (say a Bop gamma above 1) leaves all three LRs as they were.
  const double old = this->lr();
  const double old_binary = binary_->lr();
  Optimizer::set_lr(lr);
  try {
    binary_->set_lr(lr * ratio_);
    main_->set_lr(lr);
  } catch (...) {
    Optimizer::set_lr(old);
    binary_->set_lr(old_binary);
    throw;
  }
}

bool RoutingOptimizer::set_momentum(double momentum) { return main_->set_momentum(momentum); }

std::vector<core::Tensor> RoutingOptimizer::params() const {
  std::vector<core::Tensor> out = main_->params();
  const std::vector<core::Tensor> binary = binary_->params();
  out.insert(out.end(), binary.begin(), binary.end());
  return out;
}

double RoutingOptimizer::group_lr(std::size_t group) const {
  const std::size_t n_main = main_->groups().size();
  if (group < n_main) return main_->group_lr(group);
  core::check(group - n_main < binary_->groups().size(), "routing: group {} of {} does not exist",
              group, all_groups_.size());
  return binary_->group_lr(group - n_main);
}

StepStats RoutingOptimizer::step_stats() const {
  StepStats out = binary_->step_stats();
  StepStats rest = main_->step_stats();
  out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  return out;
}

void RoutingOptimizer::write_state(core::BinaryWriter& out) const {
  out.put_string(kOptimizerStateTag);
  out.put_u32(kOptimizerStateVersion);
  out.put_string(name());
  out.put_f64(lr());
  main_->write_state(out);
  binary_->write_state(out);
}

std::function<void()> RoutingOptimizer::read_state(core::SectionReader& in) {
  if (in.get_string() != kOptimizerStateTag) {
    in.fail_format("not an optimizer state section. HINT: pass the section save_state wrote");
  }
  const std::uint32_t version = in.get_u32();
  if (version != kOptimizerStateVersion) {
    in.fail_format(fmt::format("optimizer state version {} is not supported (this build reads {})",
                               version, kOptimizerStateVersion));
  }
  const std::string saved_name = in.get_string();
  if (saved_name != name()) {
    in.fail_format(
        fmt::format("the state was saved by optimizer '{}', this optimizer is '{}'. "
                    "HINT: resume with the optimizer the run was trained with",
                    saved_name, name()));
  }
  const double lr = in.get_f64();
  if (!(std::isfinite(lr) && lr >= 0.0)) in.fail_format(fmt::format("base lr is {}", lr));
  std::function<void()> install_main = main_->read_state(in);
  std::function<void()> install_binary = binary_->read_state(in);
  return [this, lr, install_main = std::move(install_main),
          install_binary = std::move(install_binary)]() {
    install_main();
    install_binary();
    Optimizer::set_lr(lr);
  };
}

std::unique_ptr<RoutingOptimizer> make_routing(const NamedParams& named_params,
                                               const ParamPredicate& is_binary,
                                               const OptimizerMaker& make_binary,
                                               const OptimizerMaker& make_main) {
  NamedParams binary, rest;
  for (const auto& entry : named_params) {
    (is_binary(entry.first, entry.second) ? binary : rest).push_back(entry);
  }
  core::check(!binary.empty(),
              "routing: no parameter is binary ({} parameters, none matched). HINT: check which "
              "layers have binary weights, or use a single optimizer",
              named_params.size());
  return std::make_unique<RoutingOptimizer>(make_binary(binary), make_main(rest));
}

std::unique_ptr<RoutingOptimizer> make_routing(
    const OptimizerRegistry& registry, const NamedParams& named_params,
    const ParamPredicate& is_binary, std::string_view binary_name, const OptionMap& binary_options,
    std::string_view main_name, const OptionMap& main_options) {
  const OptimizerFactory& binary_factory = registry.get(binary_name);
  const OptimizerFactory& main_factory = registry.get(main_name);
  return make_routing(
      named_params, is_binary,
      [&](const NamedParams& p) { return binary_factory(p, binary_options); },
      [&](const NamedParams& p) { return main_factory(p, main_options); });
}

}  // namespace lowbit::optim
