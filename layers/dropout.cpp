#include "layers/dropout.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"

namespace lowbit::layers {

Dropout::Dropout(double p, std::uint64_t seed) : p_(p), rng_(seed) {
  core::check(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got {}", p);
  register_rng("rng", &rng_);
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  const float keep = static_cast<float>(1.0 - p_);
  // scale: (x's shape) 1/keep where kept, 0 where dropped; a constant for autograd.
  const Tensor scale =
      core::bernoulli_tensor(x.shape(), keep, rng_).to(core::DType::f32) * (1.0f / keep);
  return x * scale;
}

std::string Dropout::describe() const { return fmt::format("Dropout(p={:g})", p_); }

}  // namespace lowbit::layers
