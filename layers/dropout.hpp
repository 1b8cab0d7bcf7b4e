#pragma once
// Dropout (Srivastava et al. 2014), inverted: in training each element is kept with probability
// 1 - p and scaled by 1 / (1 - p), so eval is the identity. y has x's shape.
// The mask is drawn from a generator the layer owns, seeded at construction and registered as
// "rng" (Module::named_rngs), so a checkpoint can save and restore its state.

#include "core/rng.hpp"
#include "layers/module.hpp"

#include <cstdint>

namespace lowbit::layers {

class Dropout : public Module {
 public:
  // p in [0, 1).
  Dropout(double p, std::uint64_t seed);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  std::string describe() const override;

  double p() const { return p_; }
  core::Rng& rng() { return rng_; }

 private:
  double p_;
  core::Rng rng_;
};

}  // namespace lowbit::layers
