#pragma once
// Shared by the quant tests: the built-in quantizers and models, registered once per process
// (an inline function's static is one object across translation units).
#include "core/tensor.hpp"
#include "layers/models.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include "quant/quantizer.hpp"

#include <mutex>
#include <vector>

namespace lowbit::test {

inline void register_quant_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    quant::register_builtin_quantizers();
    layers::register_builtin_models();
  });
}

// A 1-d f32 tensor of `v` (a leaf that wants gradients unless grad is false).
inline core::Tensor vec(const std::vector<float>& v, bool grad = true) {
  core::Tensor t = core::Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())});
  t.set_requires_grad(grad);
  return t;
}

// The elements of an f32 tensor, in order.
inline std::vector<float> values(const core::Tensor& t) {
  const core::Tensor c = t.detach().contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

// d(sum(w * q))/dx for the upstream gradient w (all ones when empty), by one backward pass.
inline std::vector<float> grad_of(const core::Tensor& x, const core::Tensor& q,
                                  const std::vector<float>& upstream = {}) {
  const core::Tensor g = upstream.empty() ? core::Tensor::ones(q.shape()) : core::Tensor::from_vector(upstream, q.shape());
  q.backward(g);
  return values(x.grad());
}

// Element-wise |a - b| <= tol, naming the first element that differs.
inline void require_close(const std::vector<float>& a, const std::vector<float>& b, float tol = 1e-6f) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i << ": " << a[i] << " vs " << b[i]);
    REQUIRE(std::fabs(a[i] - b[i]) <= tol);
  }
}

}  // namespace lowbit::test
