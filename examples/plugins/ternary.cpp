// Example quantizer plugin: ternary weights (TWN, Li, Zhang & Liu 2016), registered as the weight
// quantizer "ternary". Per output channel o of W (viewed as (out, -1)):
//
//   delta_o = 0.7 * mean|W_o|
//   alpha_o = mean of |W_oi| over |W_oi| > delta_o        (0 when no weight is above delta)
//   Q(W)_oi = alpha_o * sign(W_oi) * 1[|W_oi| > delta_o]   values in {-alpha_o, 0, +alpha_o}
//   dL/dW = dL/dQ * 1[|W| <= 1]                           clipped straight-through estimator
//
// The estimator is the exact gradient of the surrogate hardtanh(W) (check_plugin_gradients.cpp
// checks it with lowbit's gradcheck); latent weights are clipped to [-1, 1] after each step. Use
// it with `quant.weight_quantizer: ternary` (ternary.yaml): every quantized conv/linear layer then
// trains ternary weights, the first and last layers stay float as the config says.

#include "core/autograd.hpp"
#include "core/tensor.hpp"
#include "layers/plugin_api.hpp"
#include "quant/quantizer.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace {

using lowbit::core::Tensor;

Tensor ternarize(const Tensor& w) {
  const Tensor wc = w.detach().contiguous();
  const std::int64_t rows = wc.dim() == 0 ? 1 : wc.size(0);
  const std::int64_t cols = rows > 0 ? wc.numel() / rows : 0;
  Tensor q = Tensor::uninitialized(wc.shape());
  const float* wp = wc.data<float>();
  float* qp = q.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = wp + r * cols;
    double abs_sum = 0.0;
    for (std::int64_t i = 0; i < cols; ++i) abs_sum += std::fabs(row[i]);
    const double delta = 0.7 * abs_sum / static_cast<double>(cols);
    double kept_sum = 0.0;
    std::int64_t kept = 0;
    for (std::int64_t i = 0; i < cols; ++i) {
      if (std::fabs(row[i]) > delta) {
        kept_sum += std::fabs(row[i]);
        ++kept;
      }
    }
    const float alpha = kept > 0 ? static_cast<float>(kept_sum / static_cast<double>(kept)) : 0.0f;
    for (std::int64_t i = 0; i < cols; ++i) {
      const float v = row[i];
      qp[r * cols + i] = std::fabs(v) > delta ? (v >= 0.0f ? alpha : -alpha) : 0.0f;
    }
  }
  return lowbit::core::record(q, "ternary", {w}, [wc](const Tensor& grad) {
    const Tensor g = grad.contiguous();
    Tensor dw = Tensor::uninitialized(wc.shape());
    const float* wp = wc.data<float>();
    const float* gp = g.data<float>();
    float* dwp = dw.data<float>();
    for (std::int64_t i = 0; i < wc.numel(); ++i) dwp[i] = std::fabs(wp[i]) <= 1.0f ? gp[i] : 0.0f;
    return lowbit::core::Grads{dw};
  });
}

class TernaryQuantizer : public lowbit::quant::Quantizer {
 public:
  Tensor forward(const Tensor& w) override { return ternarize(w); }
  int bits() const override { return 2; }
  std::optional<float> latent_clip() const override { return 1.0f; }
  std::string type_name() const override { return "ternary"; }
  std::string describe() const override {
    return "ternary(delta = 0.7 mean|W|, per output channel)";
  }
};

}  // namespace

extern "C" int lowbit_plugin_api_version() { return LOWBIT_PLUGIN_API_VERSION; }

extern "C" void lowbit_plugin_register(lowbit::PluginContext* ctx) {
  lowbit::quant::QuantizerFactory factory;
  factory.make = [](const lowbit::quant::QuantizerSpec&) -> lowbit::quant::QuantizerPtr {
    return std::make_shared<TernaryQuantizer>();
  };
  factory.weights = true;
  factory.activations = false;  // a weight quantizer only: as an activation quantizer it is refused
  ctx->add(lowbit::quant::quantizer_registry(), "ternary", std::move(factory));
}
