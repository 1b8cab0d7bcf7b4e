#pragma once
// Term revealing of a trained float model, post-training, no retraining (Kung, McDanel, Zhang,
// SC20; methods.md 6). Every conv/linear layer except a first convolution (the reference leaves
// the first conv alone, 6.2) is built as a QuantConv2d/QuantLinear with two term quantizers:
//
//   weights (TermWeightQuantizer): reveal_weights, i.e. uniform b-bit codes with one scale per
//     layer, then the k largest terms of each group of g weights along the input channels;
//     computed once from the loaded weights;
//   inputs (TermDataQuantizer): reveal_data, i.e. b-bit codes at a scale calibrated on a
//     histogram of the layer's float inputs (choose_data_scale), then t terms per value.
//
// The quantizers hold no tensors, so the model loads a float checkpoint strictly. One model
// evaluates every variant: the float network (both pass through), plain uniform quantization
// (binary encoding, no budgets: every set bit of a code is a term) and term revealing, and counts
// the term-pair multiplies of the cost model (quant/terms/cost.hpp) exactly on the data it runs.

#include "layers/factory.hpp"
#include "quant/quantizer.hpp"
#include "quant/terms/calibrate.hpp"
#include "quant/terms/cost.hpp"
#include "quant/terms/reveal.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lowbit::quant {

class TermWeightQuantizer : public Quantizer {
 public:
  // Passes w through until set() reveals it; then returns the revealed values (w's shape).
  Tensor forward(const Tensor& w) override;
  int bits() const override { return options_ ? options_->bits : 32; }
  std::string type_name() const override { return "term_weights"; }
  std::string describe() const override;

  // Reveals `w` under `options` (kept until the next call); nullopt: pass through.
  void set(const Tensor& w, const std::optional<terms::WeightTermOptions>& options);
  const terms::RevealedWeights* revealed() const { return revealed_ ? &*revealed_ : nullptr; }

 private:
  std::optional<terms::WeightTermOptions> options_;
  std::optional<terms::RevealedWeights> revealed_;
};

class TermDataQuantizer : public Quantizer {
 public:
  enum class Mode { pass, calibrate, quantize };

  Tensor forward(const Tensor& x) override;
  int bits() const override { return mode_ == Mode::quantize ? options_.bits : 32; }
  std::string type_name() const override { return "term_data"; }
  std::string describe() const override;

  void pass() { mode_ = Mode::pass; }
  // Clears the histogram and records every input from now on (values pass through).
  void calibrate();
  // The scale minimising the histogram-weighted error of `options` (the reference's search, over
  // 2048 candidates up to the largest |input| seen). An empty histogram is an error.
  float choose_scale(const terms::DataTermOptions& options) const;
  void quantize(const terms::DataTermOptions& options, float scale);
  float scale() const { return scale_; }

  // Called with the kept terms of each quantized input (its shape, i32), for the cost model.
  std::function<void(const Tensor& kept_terms)> on_terms;
  // Term counts of every value quantized since the last quantize() (the data side of the stats).
  const terms::TermStats& stats() const { return stats_; }

 private:
  Mode mode_ = Mode::pass;
  terms::DataHistogram histogram_;
  float max_abs_ = 0.0f;
  terms::DataTermOptions options_;
  float scale_ = 1.0f;
  std::shared_ptr<const terms::TermLimitTable> table_;
  terms::TermStats stats_;
};

// `base` with every conv/linear layer except a first convolution (weight_layers.front(), when
// it is a conv) replaced by a QuantConv2d/QuantLinear with term quantizers.
layers::LayerFactory make_reveal_factory(layers::LayerFactory base,
                                         std::vector<std::string> weight_layers);

// One way of running the model.
struct RevealVariant {
  std::string name;
  bool quantized = true;  // false: the float model
  terms::WeightTermOptions weights;
  terms::DataTermOptions data;
};
// Plain uniform quantization: b-bit weights and data, every set bit a term (bit-serial).
RevealVariant uniform_variant(int weight_bits, int data_bits);

struct RevealLayerCost {
  std::string name;
  std::int64_t macs = 0;        // multiply-accumulates run since apply()
  std::int64_t term_pairs = 0;  // exact: sum over MACs of terms(w) * terms(x)
  double budget_pairs = 0.0;    // the reference profiler's closed form (budget_term_pairs)
  terms::TermStats weights;     // kept / uniform terms of the layer's weights
  terms::TermStats data;        // kept / uniform terms of its inputs
  float data_scale = 0.0f;
};

// Drives the term quantizers of a model built with make_reveal_factory.
class TermRevealer {
 public:
  explicit TermRevealer(layers::Module& model);

  std::size_t size() const { return layers_.size(); }
  // Conv/linear layers left in float (the first conv).
  const std::vector<std::string>& float_layers() const { return float_layers_; }

  void begin_calibration();  // weights pass through, inputs are recorded
  void end_calibration();    // back to the float model
  // Sets every layer to `variant` (data scales chosen from the calibration histograms) and resets
  // the cost counters.
  void apply(const RevealVariant& variant);
  std::vector<RevealLayerCost> costs() const;

 private:
  struct Layer {
    std::string name;
    TermWeightQuantizer* weights = nullptr;
    TermDataQuantizer* data = nullptr;
    Tensor latent;
    std::optional<terms::Conv2dGeometry> conv;  // nullopt: linear
    std::int64_t out_channels = 0;
    std::shared_ptr<RevealLayerCost> cost;
  };
  std::vector<Layer> layers_;
  std::vector<std::string> float_layers_;
  RevealVariant variant_;
};

}  // namespace lowbit::quant
