#include "optim/param_group.hpp"

#include "core/error.hpp"

namespace lowbit::optim {

std::string_view no_decay_rule_name(NoDecayRule rule) {
  switch (rule) {
    case NoDecayRule::vectors: return "vectors";
    case NoDecayRule::none: return "none";
  }
  return "?";
}

NoDecayRule parse_no_decay_rule(std::string_view name) {
  if (name == "vectors") return NoDecayRule::vectors;
  if (name == "none") return NoDecayRule::none;
  core::fail("unknown no_decay rule '{}'. HINT: use 'vectors' (no weight decay on parameters with "
             "ndim <= 1, such as biases and BatchNorm gamma/beta) or 'none' (decay everything)",
             name);
}

std::vector<ParamGroup> make_param_groups(const NamedParams& named_params, double weight_decay,
                                          NoDecayRule rule) {
  ParamGroup decay;
  decay.name = "decay";
  decay.weight_decay = weight_decay;
  ParamGroup no_decay;
  no_decay.name = "no_decay";
  no_decay.weight_decay = 0.0;
  for (const auto& [name, param] : named_params) {
    core::check(param.defined(), "make_param_groups: parameter '{}' is an undefined tensor", name);
    const bool exempt = rule == NoDecayRule::vectors && param.dim() <= 1;
    ParamGroup& group = exempt ? no_decay : decay;
    group.param_names.push_back(name);
    group.params.push_back(param);
  }
  return {std::move(decay), std::move(no_decay)};
}

std::vector<ParamGroup> make_single_group(const NamedParams& named_params, double weight_decay) {
  ParamGroup all;
  all.name = "all";
  all.weight_decay = weight_decay;
  for (const auto& [name, param] : named_params) {
    all.param_names.push_back(name);
    all.params.push_back(param);
  }
  return {std::move(all)};
}

}  // namespace lowbit::optim
