#include "quant/reveal_model.hpp"

#include "core/error.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "quant/quant_layers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lowbit::quant {

// --- weights -------------------------------------------------------------------------------

void TermWeightQuantizer::set(const Tensor& w,
                              const std::optional<terms::WeightTermOptions>& options) {
  options_ = options;
  revealed_.reset();
  if (options_) revealed_ = terms::reveal_weights(w.detach().contiguous(), *options_);
}

Tensor TermWeightQuantizer::forward(const Tensor& w) {
  if (!revealed_) return w;
  core::check(revealed_->values.shape() == w.shape(),
              "term_weights: revealed for weights {}, called with {}. HINT: call "
              "TermRevealer::apply again after changing the weights",
              revealed_->values.shape(), w.shape());
  return revealed_->values;
}

std::string TermWeightQuantizer::describe() const {
  if (!options_) return "term_weights(float)";
  const bool all = options_->budget == terms::kNoBudget;
  return fmt::format("term_weights(w{}, g={}, k={}, {})", options_->bits, options_->group_size,
                     all ? std::string("all") : std::to_string(options_->budget),
                     terms::encoding_name(options_->encoding));
}

// --- data ----------------------------------------------------------------------------------

void TermDataQuantizer::calibrate() {
  mode_ = Mode::calibrate;
  histogram_.clear();
  max_abs_ = 0.0f;
}

float TermDataQuantizer::choose_scale(const terms::DataTermOptions& options) const {
  core::check(histogram_.total() > 0.0,
              "term_data: no calibration inputs recorded. HINT: run some batches between "
              "TermRevealer::begin_calibration and end_calibration");
  // The reference searches (1e-8, histogram max]; the inputs never exceed max |x|, so the same
  // 2048 candidates up to it give a finer grid.
  const float top = std::min(max_abs_, histogram_.max());
  if (!(top > 1e-6f)) return 1.0f;  // the inputs are all zero: any scale will do
  terms::ScaleSearch search;
  search.max_scale = top;
  return terms::choose_data_scale(histogram_, options, search);
}

void TermDataQuantizer::quantize(const terms::DataTermOptions& options, float scale) {
  core::check(scale > 0.0f && std::isfinite(scale), "term_data: scale {} must be > 0", scale);
  mode_ = Mode::quantize;
  options_ = options;
  scale_ = scale;
  table_ =
      std::make_shared<const terms::TermLimitTable>(options.bits, options.terms, options.encoding);
  stats_ = {};
}

Tensor TermDataQuantizer::forward(const Tensor& x) {
  if (mode_ == Mode::pass) return x;
  const Tensor xc = x.detach().contiguous();
  const float* xp = xc.data<float>();
  const std::int64_t n = xc.numel();
  if (mode_ == Mode::calibrate) {
    histogram_.add(xp, n);
    for (std::int64_t i = 0; i < n; ++i) max_abs_ = std::max(max_abs_, std::fabs(xp[i]));
    return x;
  }
  Tensor y = Tensor::uninitialized(xc.shape());
  Tensor kept = Tensor::uninitialized(xc.shape(), core::DType::i32);  // (x's shape)
  stats_ += terms::reveal_data(xp, y.data<float>(), n, scale_, *table_, kept.data<std::int32_t>());
  if (on_terms) on_terms(kept);
  return y;
}

std::string TermDataQuantizer::describe() const {
  if (mode_ != Mode::quantize) return "term_data(float)";
  return fmt::format("term_data(a{}, t={}, {}, scale={:.4g})", options_.bits, options_.terms,
                     terms::encoding_name(options_.encoding), scale_);
}

// --- model ---------------------------------------------------------------------------------

namespace {

LayerQuantizers term_quantizers() {
  return {std::make_shared<TermWeightQuantizer>(), std::make_shared<TermDataQuantizer>(), nullptr};
}

}  // namespace

layers::LayerFactory make_reveal_factory(layers::LayerFactory base,
                                         std::vector<std::string> weight_layers) {
  layers::LayerFactory f = base;
  const std::string first = weight_layers.empty() ? std::string() : weight_layers.front();
  f.make_conv = [make_float = base.make_conv, first](const layers::Conv2dOptions& o,
                                                     const std::string& name,
                                                     core::Rng& rng) -> layers::ModulePtr {
    if (name == first)
      return make_float(o, name, rng);  // methods.md 6.2: the first conv stays float
    return std::make_shared<QuantConv2d>(o, rng, term_quantizers());
  };
  f.make_linear = [](const layers::LinearOptions& o, const std::string&,
                     core::Rng& rng) -> layers::ModulePtr {
    return std::make_shared<QuantLinear>(o, rng, term_quantizers());
  };
  return f;
}

RevealVariant uniform_variant(int weight_bits, int data_bits) {
  RevealVariant v;
  v.name = fmt::format("uniform W{}/A{}", weight_bits, data_bits);
  v.weights.bits = weight_bits;
  v.weights.budget = terms::kNoBudget;
  v.weights.encoding = terms::Encoding::binary;
  v.data.bits = data_bits;
  v.data.terms = data_bits;  // a b-bit magnitude has at most b set bits: no limit
  v.data.encoding = terms::Encoding::binary;
  return v;
}

TermRevealer::TermRevealer(layers::Module& model) {
  for (auto& [name, m] : model.named_modules()) {
    Layer l;
    l.name = name;
    if (auto* c = dynamic_cast<QuantConv2d*>(m)) {
      const layers::Conv2dOptions& o = c->options();
      core::check(o.groups == 1,
                  "reveal: layer '{}' is a grouped convolution, which the term-pair "
                  "count does not support",
                  name);
      l.weights = dynamic_cast<TermWeightQuantizer*>(&c->weight_quantizer());
      l.data = dynamic_cast<TermDataQuantizer*>(&c->input_quantizer());
      l.latent = c->latent_weight();
      terms::Conv2dGeometry g;
      g.stride_h = g.stride_w = o.stride;
      g.pad_h = g.pad_w = o.padding;
      g.dilation_h = g.dilation_w = o.dilation;
      l.conv = g;
    } else if (auto* q = dynamic_cast<QuantLinear*>(m)) {
      l.weights = dynamic_cast<TermWeightQuantizer*>(&q->weight_quantizer());
      l.data = dynamic_cast<TermDataQuantizer*>(&q->input_quantizer());
      l.latent = q->latent_weight();
    } else {
      if (dynamic_cast<layers::Conv2d*>(m) != nullptr ||
          dynamic_cast<layers::Linear*>(m) != nullptr) {
        float_layers_.push_back(name);
      }
      continue;
    }
    core::check(l.weights != nullptr && l.data != nullptr,
                "reveal: layer '{}' does not carry term quantizers. HINT: build the model with "
                "make_reveal_factory",
                name);
    l.cost = std::make_shared<RevealLayerCost>();
    l.cost->name = name;
    // Exact term pairs of every quantized input: its kept terms against the weights' kept terms.
    l.data->on_terms = [cost = l.cost, w = l.weights, conv = l.conv](const Tensor& x_terms) {
      const terms::RevealedWeights* r = w->revealed();
      if (r == nullptr) return;
      const Tensor& w_terms = r->kept_terms;  // (out, in[, kh, kw])
      if (conv) {
        cost->term_pairs += terms::conv2d_term_pairs(w_terms, x_terms, *conv);
        const std::int64_t kh = w_terms.size(2), kw = w_terms.size(3);
        const std::int64_t oh =
            (x_terms.size(2) + 2 * conv->pad_h - conv->dilation_h * (kh - 1) - 1) / conv->stride_h +
            1;
        const std::int64_t ow =
            (x_terms.size(3) + 2 * conv->pad_w - conv->dilation_w * (kw - 1) - 1) / conv->stride_w +
            1;
        cost->macs += x_terms.size(0) * w_terms.numel() * oh * ow;
      } else {
        cost->term_pairs += terms::linear_term_pairs(w_terms, x_terms);
        cost->macs += x_terms.size(0) * w_terms.numel();
      }
    };
    layers_.push_back(std::move(l));
  }
  core::check(!layers_.empty(),
              "reveal: the model has no layer with term quantizers. HINT: build it with "
              "make_reveal_factory");
}

void TermRevealer::begin_calibration() {
  for (auto& l : layers_) {
    l.weights->set(l.latent, std::nullopt);
    l.data->calibrate();
  }
}

void TermRevealer::end_calibration() {
  for (auto& l : layers_) l.data->pass();
}

void TermRevealer::apply(const RevealVariant& variant) {
  variant_ = variant;
  for (auto& l : layers_) {
    *l.cost = RevealLayerCost{};
    l.cost->name = l.name;
    if (!variant.quantized) {
      l.weights->set(l.latent, std::nullopt);
      l.data->pass();
      continue;
    }
    l.weights->set(l.latent, variant.weights);
    const float scale = l.data->choose_scale(variant.data);
    l.data->quantize(variant.data, scale);
    l.cost->data_scale = scale;
    l.cost->weights = l.weights->revealed()->stats;
  }
}

std::vector<RevealLayerCost> TermRevealer::costs() const {
  std::vector<RevealLayerCost> out;
  for (const auto& l : layers_) {
    RevealLayerCost c = *l.cost;
    if (variant_.quantized) {
      c.data = l.data->stats();
      const auto& w = variant_.weights;
      c.budget_pairs =
          w.budget == terms::kNoBudget
              ? terms::uniform_term_pairs(c.macs, w.bits, variant_.data.bits)
              : terms::budget_term_pairs(c.macs, {w.bits, variant_.data.bits, w.group_size,
                                                  w.budget, variant_.data.terms});
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace lowbit::quant
