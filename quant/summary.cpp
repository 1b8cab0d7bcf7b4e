#include "quant/summary.hpp"

#include "core/autograd.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "quant/pbnet_layers.hpp"
#include "quant/quant_layers.hpp"

#include <fmt/format.h>

namespace lowbit::quant {

namespace {

std::int64_t packed(std::int64_t elements, int bits) {
  return bits >= 32 ? elements * 4 : (elements * bits + 7) / 8;
}

// Fills params/bytes from the weight count and bias, given the layer's weight bits.
void count_bytes(LayerCost& c, std::int64_t weights, std::int64_t bias) {
  c.params = weights + bias;
  c.float_bytes = 4 * c.params;
  c.packed_bytes = packed(weights, c.weight_bits) + 4 * bias;
}

std::string human(std::int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}G", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 10'000) return fmt::format("{:.1f}K", static_cast<double>(n) / 1e3);
  return fmt::format("{}", n);
}

std::string bytes(std::int64_t n) {
  if (n >= 1 << 20) return fmt::format("{:.2f} MiB", static_cast<double>(n) / (1 << 20));
  if (n >= 1 << 10) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1 << 10));
  return fmt::format("{} B", n);
}

}  // namespace

ModelCost model_cost(layers::Module& model, const core::Shape& item) {
  const bool was_training = model.is_training();
  model.eval();
  {
    core::NoGradGuard no_grad;
    std::vector<std::int64_t> dims{1};
    for (auto d : item.dims()) dims.push_back(d);
    model.forward(core::Tensor::zeros(core::Shape(dims)));
  }
  model.train(was_training);

  ModelCost cost;
  cost.total_params = model.num_parameters();
  std::int64_t counted = 0;
  for (auto& [name, m] : model.named_modules()) {
    LayerCost c;
    c.name = name;
    c.type = m->type_name();
    if (auto* q = dynamic_cast<QuantConv2d*>(m)) {
      const auto& o = q->options();
      c.weight_bits = q->weight_quantizer().bits();
      c.input_bits = q->input_quantizer().bits();
      const std::int64_t w = q->latent_weight().numel();
      count_bytes(c, w, o.bias ? o.out_channels : 0);
      c.macs = w * q->last_output_pixels();
    } else if (auto* pc = dynamic_cast<PbConv2d*>(m)) {  // binary weights (MAP or sampled)
      c.weight_bits = 1;
      c.input_bits = pc->input_bits();
      count_bytes(c, pc->weight().numel(), 0);
      c.macs = pc->weight().numel() * pc->last_output_pixels();
    } else if (auto* pl = dynamic_cast<PbLinear*>(m)) {
      c.weight_bits = 1;
      c.input_bits = pl->input_bits();
      count_bytes(c, pl->weight().numel(), 0);
      c.macs = pl->weight().numel();
    } else if (auto* f = dynamic_cast<layers::Conv2d*>(m)) {
      const auto& o = f->options();
      const std::int64_t w = f->weight().numel();
      count_bytes(c, w, o.bias ? o.out_channels : 0);
      c.macs = w * f->last_output_pixels();
    } else if (auto* ql = dynamic_cast<QuantLinear*>(m)) {
      c.weight_bits = ql->weight_quantizer().bits();
      c.input_bits = ql->input_quantizer().bits();
      const std::int64_t w = ql->latent_weight().numel();
      count_bytes(c, w, ql->options().bias ? ql->options().out_features : 0);
      c.macs = w;
    } else if (auto* fl = dynamic_cast<layers::Linear*>(m)) {
      const std::int64_t w = fl->weight().numel();
      count_bytes(c, w, fl->options().bias ? fl->options().out_features : 0);
      c.macs = w;
    } else {
      continue;
    }
    counted += c.params;
    cost.float_bytes += c.float_bytes;
    cost.packed_bytes += c.packed_bytes;
    if (c.weight_bits >= 32 && c.input_bits >= 32) {
      cost.macs_float += c.macs;
    } else if (c.weight_bits == 1 && c.input_bits == 1) {
      cost.macs_binary += c.macs;
    } else {
      cost.macs_low_bit += c.macs;
    }
    cost.layers.push_back(std::move(c));
  }
  cost.other_params = cost.total_params - counted;
  cost.float_bytes += 4 * cost.other_params;
  cost.packed_bytes += 4 * cost.other_params;
  return cost;
}

std::string format_summary(const ModelCost& cost) {
  std::string s = fmt::format("{:<28} {:<12} {:>3} {:>3} {:>10} {:>10} {:>11} {:>11}\n", "layer", "type",
                              "W", "A", "params", "MACs", "float", "packed");
  auto bits = [](int b) { return b >= 32 ? std::string("fp") : fmt::format("{}", b); };
  for (const auto& c : cost.layers) {
    s += fmt::format("{:<28} {:<12} {:>3} {:>3} {:>10} {:>10} {:>11} {:>11}\n", c.name, c.type,
                     bits(c.weight_bits), bits(c.input_bits), human(c.params), human(c.macs),
                     bytes(c.float_bytes), bytes(c.packed_bytes));
  }
  const std::int64_t macs = cost.macs_float + cost.macs_binary + cost.macs_low_bit;
  auto pct = [macs](std::int64_t m) { return macs > 0 ? 100.0 * static_cast<double>(m) / static_cast<double>(macs) : 0.0; };
  s += fmt::format("parameters: {} ({} in batch-norm / quantizers, kept f32)\n", human(cost.total_params),
                   human(cost.other_params));
  s += fmt::format("MACs per image: {} = float {} ({:.1f}%) + binary W1A1 {} ({:.1f}%) + other low-bit {} ({:.1f}%)\n",
                   human(macs), human(cost.macs_float), pct(cost.macs_float), human(cost.macs_binary),
                   pct(cost.macs_binary), human(cost.macs_low_bit), pct(cost.macs_low_bit));
  s += fmt::format("size: {} as float, {} packed ({:.1f}x smaller)\n", bytes(cost.float_bytes),
                   bytes(cost.packed_bytes),
                   cost.packed_bytes > 0 ? static_cast<double>(cost.float_bytes) / static_cast<double>(cost.packed_bytes) : 0.0);
  return s;
}

}  // namespace lowbit::quant
