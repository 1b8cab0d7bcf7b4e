#include "quant/quant_layers.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"

#include <fmt/format.h>

namespace lowbit::quant {

namespace {

LayerQuantizers checked(LayerQuantizers q, const char* who) {
  core::check(q.weight != nullptr && q.input != nullptr, "{}: weight and input quantizers are required",
              who);
  return q;
}

std::string quantizer_suffix(const Quantizer& w, const Quantizer& a) {
  return fmt::format(" W:{} A:{}", w.describe(), a.describe());
}

}  // namespace

QuantConv2d::QuantConv2d(const layers::Conv2dOptions& options, core::Rng& rng,
                         LayerQuantizers quantizers)
    : options_(options), quantizers_(checked(std::move(quantizers), "QuantConv2d")) {
  // The float layer's initialisation, draw for draw: a quantized model starts from the same
  // latent weights as its float twin.
  const layers::Conv2d init(options, rng);
  weight_ = register_parameter("weight", init.weight().detach());
  if (options.bias) bias_ = register_parameter("bias", init.bias().detach());
  register_module("weight_quantizer", quantizers_.weight);
  register_module("input_quantizer", quantizers_.input);
  if (quantizers_.gradient) register_module("gradient_quantizer", quantizers_.gradient);
}

Tensor QuantConv2d::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != options_.in_channels) {
    core::fail("{}: expected input (N, {}, H, W), got {}", describe(), options_.in_channels,
               x.shape());
  }
  last_output_pixels_ = options_.output_size(x.size(2)) * options_.output_size(x.size(3));
  const FactoredWeight w = quantizers_.weight->factored(weight_);
  const Tensor xq = quantizers_.input->forward(x);
  // Evaluation sums exactly, as the integer engine does; training may take Winograd.
  core::Conv2dParams params = options_.params();
  params.exact = !is_training();
  Tensor y;
  if (w.out_scale.defined()) {  // (dot) * scale + bias, as the engine computes it
    y = core::conv2d(xq, w.values, Tensor(), params) *
        w.out_scale.reshape({1, options_.out_channels, 1, 1});
    if (bias_.defined()) y = y + bias_.reshape({1, options_.out_channels, 1, 1});
  } else {
    y = core::conv2d(xq, w.values, bias_, params);
  }
  return quantizers_.gradient ? quantizers_.gradient->forward(y) : y;
}

std::string QuantConv2d::describe() const {
  return layers::describe_conv(type_name(), options_) +
         quantizer_suffix(*quantizers_.weight, *quantizers_.input);
}

QuantLinear::QuantLinear(const layers::LinearOptions& options, core::Rng& rng,
                         LayerQuantizers quantizers)
    : options_(options), quantizers_(checked(std::move(quantizers), "QuantLinear")) {
  const layers::Linear init(options, rng);
  weight_ = register_parameter("weight", init.weight().detach());
  if (options.bias) bias_ = register_parameter("bias", init.bias().detach());
  register_module("weight_quantizer", quantizers_.weight);
  register_module("input_quantizer", quantizers_.input);
  if (quantizers_.gradient) register_module("gradient_quantizer", quantizers_.gradient);
}

Tensor QuantLinear::forward(const Tensor& x) {
  if (x.dim() != 2 || x.size(1) != options_.in_features) {
    core::fail("{}: expected input (N, {}), got {}", describe(), options_.in_features, x.shape());
  }
  const FactoredWeight w = quantizers_.weight->factored(weight_);
  const Tensor xq = quantizers_.input->forward(x);
  Tensor y;
  if (w.out_scale.defined()) {
    y = core::linear(xq, w.values, Tensor()) * w.out_scale.reshape({1, options_.out_features});
    if (bias_.defined()) y = y + bias_.reshape({1, options_.out_features});
  } else {
    y = core::linear(xq, w.values, bias_);
  }
  return quantizers_.gradient ? quantizers_.gradient->forward(y) : y;
}

std::string QuantLinear::describe() const {
  return fmt::format("QuantLinear({}, {}, bias={})", options_.in_features, options_.out_features,
                     options_.bias) +
         quantizer_suffix(*quantizers_.weight, *quantizers_.input);
}

}  // namespace lowbit::quant
