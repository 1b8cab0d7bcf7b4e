#pragma once
// Linear: y = x W^T + b.  x: (N, in_features) -> y: (N, out_features).
// Init (PyTorch's default, kaiming_uniform with a = sqrt(5)): W, b ~ U(-1/sqrt(in), 1/sqrt(in)).

#include "core/rng.hpp"
#include "layers/module.hpp"

#include <cstdint>

namespace lowbit::layers {

struct LinearOptions {
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;
  bool bias = true;
};

class Linear : public Module {
 public:
  Linear(const LinearOptions& options, core::Rng& rng);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string describe() const override;

  const LinearOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // (out, in)
  const Tensor& bias() const { return bias_; }      // (out), undefined without bias

 private:
  LinearOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace lowbit::layers
