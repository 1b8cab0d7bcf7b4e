#pragma once
// Random tensors drawn from an Rng. Every result is a new contiguous tensor (requires_grad false)
// whose elements, in row-major order, are exactly the values the matching Rng::fill_* call gives.

#include "core/rng.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"

namespace lowbit::core {

// f32, elements uniform in [lo, hi).
Tensor uniform_tensor(const Shape& shape, float lo, float hi, Rng& rng);
// f32, elements normal(mean, std).
Tensor normal_tensor(const Shape& shape, float mean, float std, Rng& rng);
// u8 mask of p's shape: element i is 1 with probability p[i] (p: f32, any layout, in [0, 1]).
Tensor bernoulli_tensor(const Tensor& p, Rng& rng);
// u8 mask of `shape`, every element 1 with the same probability p.
Tensor bernoulli_tensor(const Shape& shape, float p, Rng& rng);

}  // namespace lowbit::core
