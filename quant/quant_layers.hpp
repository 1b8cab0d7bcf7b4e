#pragma once
// QuantConv2d and QuantLinear: a float layer's latent weights plus a weight quantizer and an input
// quantizer, by composition (no mode flags):
//   y = conv2d(Qa(x), Qw(W_r)) + b      /      y = Qa(x) Qw(W_r)^T + b
// then, when gradient_bits < 32, DoReFa's gradient quantizer on y (identity forward).
// Parameter names match Conv2d/Linear ("weight", "bias"), so float and quantized checkpoints of the
// same architecture share keys; the quantizers are children "weight_quantizer",
// "input_quantizer" (and "gradient_quantizer").

#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "quant/quantizer.hpp"

namespace lowbit::quant {

struct LayerQuantizers {
  QuantizerPtr weight;
  QuantizerPtr input;
  layers::ModulePtr gradient;  // may be null
};

// Common to both quantized layers: access for the trainer, summary and export.
class QuantLayer {
 public:
  virtual ~QuantLayer() = default;
  virtual Quantizer& weight_quantizer() const = 0;
  virtual Quantizer& input_quantizer() const = 0;
  virtual const Tensor& latent_weight() const = 0;
};

class QuantConv2d : public layers::Module, public QuantLayer {
 public:
  QuantConv2d(const layers::Conv2dOptions& options, core::Rng& rng, LayerQuantizers quantizers);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantConv2d"; }
  std::string describe() const override;

  const layers::Conv2dOptions& options() const { return options_; }
  const Tensor& bias() const { return bias_; }
  Quantizer& weight_quantizer() const override { return *quantizers_.weight; }
  Quantizer& input_quantizer() const override { return *quantizers_.input; }
  const Tensor& latent_weight() const override { return weight_; }
  std::int64_t last_output_pixels() const { return last_output_pixels_; }

 private:
  layers::Conv2dOptions options_;
  std::int64_t last_output_pixels_ = 0;
  LayerQuantizers quantizers_;
  Tensor weight_;
  Tensor bias_;
};

class QuantLinear : public layers::Module, public QuantLayer {
 public:
  QuantLinear(const layers::LinearOptions& options, core::Rng& rng, LayerQuantizers quantizers);

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantLinear"; }
  std::string describe() const override;

  const layers::LinearOptions& options() const { return options_; }
  const Tensor& bias() const { return bias_; }
  Quantizer& weight_quantizer() const override { return *quantizers_.weight; }
  Quantizer& input_quantizer() const override { return *quantizers_.input; }
  const Tensor& latent_weight() const override { return weight_; }

 private:
  layers::LinearOptions options_;
  LayerQuantizers quantizers_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace lowbit::quant
