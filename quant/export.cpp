#include "quant/export.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/activation.hpp"
#include "layers/batch_norm.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/linear.hpp"
#include "layers/pooling.hpp"
#include "layers/residual.hpp"
#include "layers/sequential.hpp"
#include "quant/dbssq.hpp"
#include "quant/quant_layers.hpp"
#include "quant/quantizers.hpp"
#include "quant/xnor/kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

namespace lowbit::quant {

namespace {

using core::Tensor;
using Item = std::pair<std::string, layers::Module*>;  // (dotted name, module)

std::vector<float> to_floats(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Training's eval batch norm as scale/shift (core/ops/norm.cpp + core/kernels/norm.cpp).
xnor::Affine batch_norm_affine(const layers::BatchNorm& bn) {
  const std::vector<float> mean = to_floats(bn.running_mean()), var = to_floats(bn.running_var());
  const std::size_t c = mean.size();
  const std::vector<float> gamma = bn.weight().defined() ? to_floats(bn.weight()) : std::vector<float>(c, 1.0f);
  const std::vector<float> beta = bn.bias().defined() ? to_floats(bn.bias()) : std::vector<float>(c, 0.0f);
  const auto eps = static_cast<float>(bn.options().eps);
  xnor::Affine a;
  a.scale.resize(c);
  a.shift.resize(c);
  for (std::size_t i = 0; i < c; ++i) {
    const auto invstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[i]) + eps));
    a.scale[i] = gamma[i] * invstd;
    a.shift[i] = beta[i] - mean[i] * a.scale[i];
  }
  return a;
}

bool binary_input(const QuantLayer& q) { return q.input_quantizer().bits() == 1; }
bool binary_weights(const QuantLayer& q) { return q.weight_quantizer().bits() == 1; }

struct LayerGeometry {
  std::int64_t out_c, in_c, kernel, stride, pad;
  Tensor bias;
};

LayerGeometry geometry_of(layers::Module* m) {
  if (auto* q = dynamic_cast<QuantConv2d*>(m)) {
    const auto& o = q->options();
    return {o.out_channels, o.in_channels, o.kernel_size, o.stride, o.padding, q->bias()};
  }
  if (auto* q = dynamic_cast<QuantLinear*>(m)) {
    const auto& o = q->options();
    return {o.out_features, o.in_features, 1, 1, 0, q->bias()};
  }
  if (auto* c = dynamic_cast<layers::Conv2d*>(m)) {
    const auto& o = c->options();
    return {o.out_channels, o.in_channels, o.kernel_size, o.stride, o.padding, c->bias()};
  }
  auto* l = dynamic_cast<layers::Linear*>(m);
  const auto& o = l->options();
  return {o.out_features, o.in_features, 1, 1, 0, l->bias()};
}

class Exporter {
 public:
  Exporter(xnor::Model& model) : m_(model) {}

  // Emits the items from value `x`; returns the last value.
  xnor::ValueId run(const std::vector<Item>& items, xnor::ValueId x) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& [name, mod] = items[i];
      x = emit(items, i, x);
      (void)name;
      (void)mod;
    }
    return x;
  }

 private:
  // Per-feature values of a linear layer's input (a batch norm in front of it) in training's
  // order -> the engine's: permuted from CHW to HWC when the input came through Flatten.
  std::vector<float> feature_order(const std::vector<float>& src) const {
    const std::int64_t H = flat_.h, W = flat_.w, C = flat_.c;
    if (C <= 0 || H * W <= 1 || static_cast<std::int64_t>(src.size()) != H * W * C) return src;
    std::vector<float> dst(src.size());
    for (std::int64_t ch = 0; ch < C; ++ch) {
      for (std::int64_t y = 0; y < H; ++y) {
        for (std::int64_t xx = 0; xx < W; ++xx) dst[(y * W + xx) * C + ch] = src[(ch * H + y) * W + xx];
      }
    }
    return dst;
  }

  // Weights (out, in, k, k) in training's order -> (out, k, k, in), with the columns of a linear
  // layer after Flatten permuted from CHW to HWC.
  std::vector<float> engine_order(const Tensor& w, const LayerGeometry& g) {
    const std::vector<float> src = to_floats(w);
    std::vector<float> dst(src.size());
    const std::int64_t k = g.kernel, c = g.in_c;
    if (k == 1 && flat_.c > 0 && flat_.h * flat_.w * flat_.c == c && flat_.h * flat_.w > 1) {
      for (std::int64_t o = 0; o < g.out_c; ++o) {
        const std::vector<float> row = feature_order({src.begin() + o * c, src.begin() + (o + 1) * c});
        std::copy(row.begin(), row.end(), dst.begin() + o * c);
      }
      return dst;
    }
    for (std::int64_t o = 0; o < g.out_c; ++o) {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        for (std::int64_t y = 0; y < k; ++y) {
          for (std::int64_t xx = 0; xx < k; ++xx) {
            dst[((o * k + y) * k + xx) * c + ch] = src[((o * c + ch) * k + y) * k + xx];
          }
        }
      }
    }
    return dst;
  }

  xnor::ValueId as_float(xnor::ValueId x, const std::string& name) {
    if (m_.value(x).kind == xnor::ValueKind::f32) return x;
    return m_.add(name + ".to_float", xnor::ToFloat{}, {x});
  }

  // Linear layers read a (1, 1, features) value: flatten whatever comes in.
  xnor::ValueId flat_for_linear(layers::Module* m, xnor::ValueId x, const std::string& name) {
    const bool linear = dynamic_cast<QuantLinear*>(m) != nullptr || dynamic_cast<layers::Linear*>(m) != nullptr;
    const auto& v = m_.value(x);
    if (!linear || (v.h == 1 && v.w == 1)) return x;
    flat_ = {v.h, v.w, v.c};
    return m_.add(name + ".flatten", xnor::Flatten{}, {x});
  }

  void emit_float_layer(layers::Module* m, const std::string& name, xnor::ValueId& x, const Tensor& weight) {
    const LayerGeometry g = geometry_of(m);
    x = as_float(flat_for_linear(m, x, name), name);
    xnor::Conv2d c;
    c.out_c = g.out_c;
    c.kernel = g.kernel;
    c.stride = g.stride;
    c.pad = g.pad;
    c.weight = engine_order(weight, g);
    if (g.bias.defined()) c.bias = to_floats(g.bias);
    x = m_.add(name, c, {x});
  }

  // Weights whose factored values are small multiples of a power of two (DBSSQ at eps 0:
  // out_scale[o] * +-2^-j, or +-m / 2^(n-1) for uniform levels) as a conv2d_i8 with int8 codes
  // q = values * 2^J and scale out_scale * 2^-J, the smallest such J (docs/dbssq-export.md says
  // why int8 and not shifts). Nothing when no J <= 7 gives codes within [-127, 127] (DBSSQ with 3
  // shift bits needs 2^7 = 128).
  std::optional<xnor::Conv2dI8> power_of_two_codes(layers::Module* m, Quantizer& wq, const Tensor& latent) {
    FactoredWeight f;
    {
      core::NoGradGuard no_grad;
      const bool was = wq.is_training();
      wq.eval();  // eps = 0: the quantized levels
      f = wq.factored(latent);
      wq.train(was);
    }
    if (!f.out_scale.defined()) return std::nullopt;
    const LayerGeometry g = geometry_of(m);
    const std::vector<float> v = engine_order(f.values, g);
    for (int j = 0; j <= 7; ++j) {
      const float p = std::ldexp(1.0f, j);
      const bool fits = std::all_of(v.begin(), v.end(), [p](float a) {
        const float code = a * p;
        return code == std::round(code) && std::fabs(code) <= 127.0f;
      });
      if (!fits) continue;
      xnor::Conv2dI8 c;
      c.out_c = g.out_c;
      c.kernel = g.kernel;
      c.stride = g.stride;
      c.pad = g.pad;
      c.weight.resize(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) c.weight[i] = static_cast<std::int8_t>(v[i] * p);
      c.scale = to_floats(f.out_scale);
      for (float& sc : c.scale) sc = std::ldexp(sc, -j);  // exact: a power-of-two factor
      if (g.bias.defined()) c.bias = to_floats(g.bias);
      return c;
    }
    return std::nullopt;
  }

  // A DBSSQ layer with DBSSQ (shift-level) activations, all in integers: the activation
  // quantizer's batch norm as an affine, its power-of-two codes (quantize_pow2, i8), and the
  // int8 x int8 convolution whose scale carries both codes' scales.
  void emit_dbssq_codes(layers::Module* m, const std::string& name, xnor::ValueId& x, QuantLayer& q,
                        const DbssqActivationQuantizer& aq) {
    const DbssqOptions& o = aq.options();
    core::check(o.levels == DbssqLevels::shift && o.bits <= 2,
                "export: layer '{}': DBSSQ activations with {} levels and {} bits have no engine "
                "form. HINT: the engine takes power-of-two (shift) activation levels with at most 2 "
                "shift bits",
                name, o.levels == DbssqLevels::shift ? "shift" : "uniform", o.bits);
    auto* wq = dynamic_cast<DbssqWeightQuantizer*>(&q.weight_quantizer());
    std::optional<xnor::Conv2dI8> c;
    if (wq != nullptr) c = power_of_two_codes(m, *wq, q.latent_weight());
    core::check(c.has_value(),
                "export: layer '{}': DBSSQ activations need DBSSQ weights with at most 2 shift "
                "bits (int8 codes) in the same layer",
                name);
    x = as_float(flat_for_linear(m, x, name), name);
    xnor::Affine norm = batch_norm_affine(aq.norm());
    if (m_.value(x).h * m_.value(x).w == 1) {  // a linear layer's features
      norm.scale = feature_order(norm.scale);
      norm.shift = feature_order(norm.shift);
    }
    x = m_.add(name + ".norm", norm, {x});
    const int J = (1 << o.bits) - 1;
    x = m_.add(name + ".quantize",
               xnor::QuantizePow2{.shift_bits = o.bits, .in_scale = DbssqActivationQuantizer::kInputScale},
               {x});
    // An activation code a stands for a * 2^-J / in_scale (model.hpp).
    const float code_scale = std::ldexp(1.0f, -J) / DbssqActivationQuantizer::kInputScale;
    for (float& sc : c->scale) sc *= code_scale;
    x = m_.add(name, *c, {x});
  }

  // Index of the layer that consumes item i's BN output when the fold applies, else 0.
  static bool fold_applies(const std::vector<Item>& items, std::size_t i) {
    if (i + 1 >= items.size() || dynamic_cast<layers::BatchNorm*>(items[i + 1].second) == nullptr) return false;
    for (std::size_t j = i + 2; j < items.size(); ++j) {
      layers::Module* m = items[j].second;
      if (auto* h = dynamic_cast<layers::HardTanh*>(m)) {
        if (h->lo() < 0.0f && h->hi() >= 0.0f) continue;
        return false;
      }
      if (dynamic_cast<layers::Identity*>(m) || dynamic_cast<layers::Dropout*>(m) ||
          dynamic_cast<layers::MaxPool2d*>(m) || dynamic_cast<layers::Flatten*>(m)) {
        continue;
      }
      auto* q = dynamic_cast<QuantLayer*>(m);
      return q != nullptr && binary_input(*q) && binary_weights(*q);
    }
    return false;
  }

  void emit_binary(const std::vector<Item>& items, std::size_t& i, xnor::ValueId& x) {
    const auto& [name, mod] = items[i];
    auto* q = dynamic_cast<QuantLayer*>(mod);
    const LayerGeometry g = geometry_of(mod);
    x = flat_for_linear(mod, x, name);
    if (m_.value(x).kind == xnor::ValueKind::f32) x = m_.add(name + ".sign", xnor::Sign{}, {x});
    core::check(m_.value(x).kind == xnor::ValueKind::bits, "export: '{}' needs a binary input", name);

    FactoredWeight f;
    {
      core::NoGradGuard no_grad;
      f = q->weight_quantizer().factored(q->latent_weight());
    }
    std::vector<float> scale(static_cast<std::size_t>(g.out_c), 1.0f);
    if (f.out_scale.defined()) {
      scale = to_floats(f.out_scale);
    } else if (auto* bc = dynamic_cast<BinaryConnectQuantizer*>(&q->weight_quantizer())) {
      scale.assign(scale.size(), bc->h());
    }
    const std::vector<float> w = engine_order(f.values, g);  // (out, k, k, in) of +-value
    const std::int64_t words = xnor::words_for(g.in_c), taps = g.kernel * g.kernel;
    xnor::BConv2d b;
    b.out_c = g.out_c;
    b.kernel = g.kernel;
    b.stride = g.stride;
    b.pad = g.pad;
    b.weight.assign(static_cast<std::size_t>(g.out_c * taps * words), 0);
    for (std::int64_t o = 0; o < g.out_c; ++o) {
      for (std::int64_t t = 0; t < taps; ++t) {
        for (std::int64_t c = 0; c < g.in_c; ++c) {
          if (w[(o * taps + t) * g.in_c + c] < 0.0f) {
            b.weight[(o * taps + t) * words + c / 64] |= std::uint64_t{1} << (c % 64);
          }
        }
      }
    }
    const std::vector<float> bias = g.bias.defined() ? to_floats(g.bias) : std::vector<float>();
    const bool factored = f.out_scale.defined();
    // The conv's float output for integer dot d, as training computes it.
    auto conv_out = [&](std::int64_t o, std::int64_t d) {
      float y = static_cast<float>(d);
      if (factored || scale[o] != 1.0f) y = y * scale[o];
      if (!bias.empty()) y = y + bias[o];
      return y;
    };
    if (fold_applies(items, i)) {
      const xnor::Affine bn = batch_norm_affine(dynamic_cast<layers::BatchNorm&>(*items[i + 1].second));
      const std::int64_t kmax = g.in_c * taps;
      b.output = xnor::BinaryOutput::threshold;
      b.threshold.resize(static_cast<std::size_t>(g.out_c));
      b.flip.resize(static_cast<std::size_t>(g.out_c));
      for (std::int64_t o = 0; o < g.out_c; ++o) {
        auto positive = [&](std::int64_t d) { return conv_out(o, d) * bn.scale[o] + bn.shift[o] >= 0.0f; };
        const bool lo = positive(-kmax), hi = positive(kmax);
        if (lo == hi) {  // constant over the range: always +1 (or always -1)
          b.flip[o] = 0;
          b.threshold[o] = static_cast<std::int32_t>(lo ? -kmax - 1 : kmax + 1);
          continue;
        }
        // Increasing: +1 iff d >= tau (first positive). Decreasing: +1 iff d <= tau (last positive).
        const bool increasing = hi;
        std::int64_t tau = increasing ? kmax : -kmax;
        for (std::int64_t d = -kmax; d <= kmax; ++d) {
          if (increasing && positive(d)) {
            tau = d;
            break;
          }
          if (!increasing && positive(d)) tau = d;
        }
        b.flip[o] = increasing ? 0 : 1;
        b.threshold[o] = static_cast<std::int32_t>(tau);
      }
      x = m_.add(name, b, {x});
      ++i;  // the BN is folded
      return;
    }
    b.output = xnor::BinaryOutput::scale_bias;
    b.scale = scale;
    b.bias = bias.empty() ? std::vector<float>(scale.size(), 0.0f) : bias;
    x = m_.add(name, b, {x});
  }

  void emit_kbit(layers::Module* mod, const std::string& name, xnor::ValueId& x) {
    auto* q = dynamic_cast<QuantLayer*>(mod);
    auto* wq = dynamic_cast<DorefaWeightQuantizer*>(&q->weight_quantizer());
    auto* aq = dynamic_cast<DorefaActivationQuantizer*>(&q->input_quantizer());
    core::check(wq != nullptr && aq != nullptr,
                "export: layer '{}' ({}) has no engine form: k-bit layers need DoReFa weights and "
                "DoReFa inputs",
                name, mod->describe());
    const LayerGeometry g = geometry_of(mod);
    x = flat_for_linear(mod, x, name);
    x = as_float(x, name);
    const int ka = aq->bits(), kw = wq->bits();
    x = m_.add(name + ".quantize", xnor::Quantize{.bits = ka}, {x});
    FactoredWeight f;
    {
      core::NoGradGuard no_grad;
      f = wq->factored(q->latent_weight());
    }
    const float mw = static_cast<float>((1 << kw) - 1), ma = static_cast<float>((1 << ka) - 1);
    const std::vector<float> w = engine_order(f.values, g);
    xnor::KConv2d k;
    k.out_c = g.out_c;
    k.kernel = g.kernel;
    k.stride = g.stride;
    k.pad = g.pad;
    k.weight_bits = kw;
    k.weight.resize(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      // values (2u - M)/M for k >= 2, +-1 for k = 1 (scaled by E in out_scale)
      const float u = kw == 1 ? (w[i] > 0.0f ? 1.0f : 0.0f) : std::round((w[i] * mw + mw) * 0.5f);
      k.weight[i] = static_cast<std::uint8_t>(u);
    }
    const std::vector<float> e = f.out_scale.defined() ? to_floats(f.out_scale) : std::vector<float>();
    k.scale.resize(static_cast<std::size_t>(g.out_c));
    for (std::int64_t o = 0; o < g.out_c; ++o) k.scale[o] = (e.empty() ? 1.0f : e[o]) / (mw * ma);
    k.bias = g.bias.defined() ? to_floats(g.bias) : std::vector<float>(k.scale.size(), 0.0f);
    x = m_.add(name, k, {x});
  }

  xnor::ValueId emit(const std::vector<Item>& items, std::size_t& i, xnor::ValueId x) {
    const auto& [name, mod] = items[i];
    if (auto* q = dynamic_cast<QuantLayer*>(mod)) {
      if (binary_input(*q) && binary_weights(*q)) {
        emit_binary(items, i, x);
        return x;
      }
      if (q->input_quantizer().bits() >= 32) {  // quantized weights, float inputs (BinaryConnect, DBSSQ)
        if (dynamic_cast<DbssqWeightQuantizer*>(&q->weight_quantizer()) != nullptr) {
          if (auto c = power_of_two_codes(mod, q->weight_quantizer(), q->latent_weight())) {
            x = as_float(flat_for_linear(mod, x, name), name);
            x = m_.add(name, *c, {x});
            return x;
          }
        }
        Tensor w;
        {
          core::NoGradGuard no_grad;
          const bool was = q->weight_quantizer().is_training();
          q->weight_quantizer().eval();  // stochastic BinaryConnect: the real weights
          w = q->weight_quantizer().forward(q->latent_weight());
          q->weight_quantizer().train(was);
        }
        emit_float_layer(mod, name, x, w);
        return x;
      }
      if (const auto* aq = dynamic_cast<const DbssqActivationQuantizer*>(&q->input_quantizer())) {
        emit_dbssq_codes(mod, name, x, *q, *aq);
        return x;
      }
      emit_kbit(mod, name, x);
      return x;
    }
    if (auto* c = dynamic_cast<layers::Conv2d*>(mod)) {
      core::check(c->options().groups == 1 && c->options().dilation == 1,
                  "export: '{}': grouped or dilated convolutions are not in the engine", name);
      emit_float_layer(mod, name, x, c->weight());
      return x;
    }
    if (auto* l = dynamic_cast<layers::Linear*>(mod)) {
      emit_float_layer(mod, name, x, l->weight());
      return x;
    }
    if (auto* bn = dynamic_cast<layers::BatchNorm*>(mod)) {
      return m_.add(name, batch_norm_affine(*bn), {as_float(x, name)});
    }
    if (dynamic_cast<layers::ReLU*>(mod)) return m_.add(name, xnor::Relu{}, {as_float(x, name)});
    if (auto* h = dynamic_cast<layers::HardTanh*>(mod)) {
      if (m_.value(x).kind == xnor::ValueKind::bits) return x;  // already +-1
      return m_.add(name, xnor::Clip{.lo = h->lo(), .hi = h->hi()}, {x});
    }
    if (dynamic_cast<layers::Identity*>(mod) || dynamic_cast<layers::Dropout*>(mod)) return x;
    if (auto* p = dynamic_cast<layers::MaxPool2d*>(mod)) {
      const auto& o = p->options();
      return m_.add(name, xnor::MaxPool{o.kernel_size, o.stride > 0 ? o.stride : o.kernel_size, o.padding}, {x});
    }
    if (auto* p = dynamic_cast<layers::AvgPool2d*>(mod)) {
      const auto& o = p->options();
      return m_.add(name, xnor::AvgPool{o.kernel_size, o.stride > 0 ? o.stride : o.kernel_size, o.padding},
                    {as_float(x, name)});
    }
    if (dynamic_cast<layers::GlobalAvgPool*>(mod)) return m_.add(name, xnor::GlobalAvgPool{}, {as_float(x, name)});
    if (dynamic_cast<layers::Flatten*>(mod)) {
      const auto& v = m_.value(x);
      flat_ = {v.h, v.w, v.c};
      if (v.h == 1 && v.w == 1) return x;
      return m_.add(name, xnor::Flatten{}, {x});
    }
    if (dynamic_cast<layers::Sequential*>(mod)) return run(children(*mod, name), x);
    if (dynamic_cast<layers::BasicBlock*>(mod) || dynamic_cast<layers::BiRealBlock*>(mod)) {
      return emit_block(*mod, name, x);
    }
    core::fail("export: layer '{}' ({}) has no engine form. HINT: the engine runs conv/linear "
               "(float, binary, DoReFa k-bit), batch-norm, relu, hardtanh, pooling, flatten and "
               "the basic / Bi-Real residual blocks",
               name, mod->describe());
  }

  // BasicBlock: body (conv1 .. bn2), shortcut, add, relu2. BiRealBlock: body (conv, bn), shortcut, add.
  xnor::ValueId emit_block(layers::Module& block, const std::string& name, xnor::ValueId x) {
    std::vector<Item> body;
    layers::Module* downsample = nullptr;
    layers::Module* after = nullptr;
    for (const auto& [child, mod] : block.named_children()) {
      if (child == "downsample") {
        downsample = mod.get();
      } else if (child == "relu2") {
        after = mod.get();
      } else {
        body.emplace_back(join(name, child), mod.get());
      }
    }
    const xnor::ValueId in = as_float(x, name);
    const Flat saved = flat_;
    xnor::ValueId y = as_float(run(body, in), name + ".body");
    xnor::ValueId shortcut = in;
    if (downsample != nullptr) {
      flat_ = saved;
      shortcut = as_float(run(children(*downsample, join(name, "downsample")), in), name + ".shortcut");
    }
    y = m_.add(name + ".add", xnor::Add{}, {y, shortcut});
    if (after != nullptr) {
      std::vector<Item> tail{{join(name, "relu2"), after}};
      y = run(tail, y);
    }
    return y;
  }

  static std::vector<Item> children(layers::Module& m, const std::string& prefix) {
    std::vector<Item> out;
    for (const auto& [child, mod] : m.named_children()) out.emplace_back(join(prefix, child), mod.get());
    return out;
  }

 public:
  static std::vector<Item> top(layers::Module& m) { return children(m, ""); }

 private:
  struct Flat {
    std::int64_t h = 0, w = 0, c = 0;
  };
  xnor::Model& m_;
  Flat flat_;
};

}  // namespace

xnor::Model export_model(layers::Module& model, const ExportInput& input) {
  xnor::InputSpec spec;
  spec.channels = input.channels;
  spec.height = input.height;
  spec.width = input.width;
  spec.mean = input.mean;
  spec.std = input.std;
  xnor::Model m = xnor::Model::create(spec);
  Exporter e(m);
  std::vector<Item> items;
  if (dynamic_cast<layers::Sequential*>(&model) != nullptr) {
    items = Exporter::top(model);
  } else {
    items.emplace_back("", &model);
  }
  e.run(items, m.input_id());
  core::check(m.value(m.output).kind == xnor::ValueKind::f32,
              "export: the model's last layer does not give float logits");
  xnor::validate(m, "exported model");
  return m;
}

}  // namespace lowbit::quant
