#include "layers/linear.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/init.hpp"

#include <cmath>

namespace lowbit::layers {

Linear::Linear(const LinearOptions& options, core::Rng& rng) : options_(options) {
  core::check(options.in_features > 0 && options.out_features > 0,
              "Linear: in_features and out_features must be positive, got {} and {}",
              options.in_features, options.out_features);
  Tensor w = Tensor::empty({options.out_features, options.in_features});
  kaiming_uniform_(w, rng, FanMode::fan_in, std::sqrt(5.0));
  weight_ = register_parameter("weight", w);
  if (options.bias) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(options.in_features));
    Tensor b = Tensor::empty({options.out_features});
    uniform_(b, rng, -bound, bound);
    bias_ = register_parameter("bias", b);
  }
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() != 2 || x.size(1) != options_.in_features) {
    core::fail(
        "{}: expected input (N, {}), got {}. HINT: put a Flatten before it, or check the "
        "model spec's in_channels/image_size",
        describe(), options_.in_features, x.shape());
  }
  return core::linear(x, weight_, bias_);
}

std::string Linear::describe() const {
  return fmt::format("Linear({}, {}, bias={})", options_.in_features, options_.out_features,
                     options_.bias);
}

}  // namespace lowbit::layers
