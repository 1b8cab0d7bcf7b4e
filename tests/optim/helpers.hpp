#pragma once
// Small helpers shared by the optim tests.

#include "core/tensor.hpp"
#include "optim/param_group.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace lowbit::optim::test {

// A leaf parameter holding `values` in `shape` (requires grad).
inline core::Tensor make_param(const std::vector<float>& values, const core::Shape& shape) {
  core::Tensor p = core::Tensor::from_vector(values, shape);
  p.set_requires_grad(true);
  return p;
}

inline core::Tensor make_param(const std::array<float, 3>& values) {
  return make_param(std::vector<float>(values.begin(), values.end()), core::Shape{3});
}

inline void set_grad(core::Tensor& p, const std::vector<float>& values) {
  p.set_grad(core::Tensor::from_vector(values, p.shape()));
}

inline void set_grad(core::Tensor& p, std::initializer_list<float> values) {
  set_grad(p, std::vector<float>(values));
}

inline void set_grad(core::Tensor& p, const std::array<float, 3>& values) {
  set_grad(p, std::vector<float>(values.begin(), values.end()));
}

// One group "all" holding the named parameters with the given weight decay.
inline std::vector<ParamGroup> one_group(const NamedParams& params, double weight_decay) {
  return make_single_group(params, weight_decay);
}

inline std::vector<float> values(const core::Tensor& t) { return t.to_vector<float>(); }

}  // namespace lowbit::optim::test
