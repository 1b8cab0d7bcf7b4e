#pragma once
// Parameter-free elementwise activations; y has x's shape.
//   ReLU:     y = max(0, x)                  (gradient 0 at 0)
//   HardTanh: y = clamp(x, lo, hi)           (gradient 1 on [lo, hi], 0 outside)
//   Identity: y = x                          (a placeholder a factory can return)

#include "layers/module.hpp"

namespace lowbit::layers {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

class HardTanh : public Module {
 public:
  explicit HardTanh(float lo = -1.0f, float hi = 1.0f);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "HardTanh"; }
  std::string describe() const override;
  float lo() const { return lo_; }
  float hi() const { return hi_; }

 private:
  float lo_, hi_;
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

}  // namespace lowbit::layers
