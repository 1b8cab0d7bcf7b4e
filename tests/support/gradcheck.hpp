#pragma once
// Test helpers shared by every test executable.
//
// gradcheck: compares the analytic gradient of `f` with central differences.
//   L(inputs) = sum_i w_i * f(inputs)_i with fixed random weights w, accumulated in double;
//   dL/dx_j ~ (L(x_j + h) - L(x_j - h)) / 2h for every element j of every input that requires grad.
//   Inputs must be contiguous f32 leaves; f may build any views inside (transpose, slice, expand),
//   which is how non-contiguous paths are checked. Pick inputs away from kinks (relu at 0, ties).
//
//   REQUIRE(gradcheck([](const auto& in) { return tanh(in[0]) * in[1]; }, {rand({3, 4}), rand({4})}));

#include "core/ops.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lowbit::test {

using core::Shape;
using core::Tensor;

struct GradcheckOptions {
  double step = 1e-3;
  double atol = 2e-3;
  double rtol = 2e-2;
  std::uint64_t seed = 7;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // first mismatch: input, element, analytic and numeric values
  explicit operator bool() const { return ok; }
};

using GradFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradFn& f, std::vector<Tensor> inputs, GradcheckOptions opt = {});

// Uniform random f32 tensor in [lo, hi), deterministic in `seed`, requires_grad as asked.
Tensor uniform(const Shape& shape, float lo = -1.0f, float hi = 1.0f, std::uint64_t seed = 1,
               bool requires_grad = true);

// max |a-b| / max(1, |b|) over elements, after bringing both to contiguous f32.
double max_rel_error(const Tensor& a, const Tensor& b);
double max_abs_error(const std::vector<float>& a, const std::vector<float>& b);

// The awkward sizes every optimized kernel is compared on (DESIGN.md).
inline const std::vector<std::int64_t> kAwkwardSizes{1, 31, 32, 33, 63, 64, 65, 127, 128, 129};

}  // namespace lowbit::test
