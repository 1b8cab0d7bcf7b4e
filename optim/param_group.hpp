#pragma once
// Parameter groups: the unit an optimizer applies hyperparameters to. Every parameter belongs to
// exactly one group; a group carries its own weight decay and a multiplier on the base LR, so a
// routing optimizer can later hand binary weights to Bop and the rest to Adam/SGD.

#include "core/tensor.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::optim {

// (name, parameter) pairs as a Module lists them ("layer1.conv.weight").
using NamedParams = std::vector<std::pair<std::string, core::Tensor>>;

struct ParamGroup {
  std::string name;
  std::vector<std::string> param_names;  // param_names[i] names params[i]; unique per optimizer
  std::vector<core::Tensor> params;      // handles sharing storage with the model
  double weight_decay = 0.0;
  double lr_scale = 1.0;  // group LR = optimizer base LR * lr_scale
};

// Which parameters make_param_groups exempts from weight decay.
enum class NoDecayRule {
  vectors,  // ndim <= 1 (biases, BatchNorm gamma/beta, scalars) get no decay: the usual choice
  none,     // every parameter is decayed
};

// "vectors" / "none"; parsing an unknown name is an Error listing the known ones.
std::string_view no_decay_rule_name(NoDecayRule rule);
NoDecayRule parse_no_decay_rule(std::string_view name);

// Splits `named_params` into two groups, always in this order and always both present (possibly
// empty): "decay" with `weight_decay` and "no_decay" with 0. Order within a group follows
// `named_params`. Names must be unique and tensors defined, f32 and contiguous.
std::vector<ParamGroup> make_param_groups(const NamedParams& named_params, double weight_decay,
                                          NoDecayRule rule = NoDecayRule::vectors);

// One group "all" holding every parameter with `weight_decay`.
std::vector<ParamGroup> make_single_group(const NamedParams& named_params, double weight_decay);

}  // namespace lowbit::optim
