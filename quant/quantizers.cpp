#include "quant/quantizers.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"

#include <fmt/format.h>

#include <cmath>

namespace lowbit::quant {

namespace {

int checked_bits(int bits, int lo, int hi, const char* who) {
  core::check(bits >= lo && bits <= hi, "{} quantizer: bits must be in [{}, {}], got {}", who, lo,
              hi, bits);
  return bits;
}

// x viewed as (rows, -1): mean |x| per row, shape (rows).
Tensor mean_abs_per_row(const Tensor& x) {
  const std::int64_t rows = x.size(0);
  return core::mean(core::abs(x).reshape({rows, -1}), {1});
}

}  // namespace

// --- BinaryConnect -------------------------------------------------------------------------

BinaryConnectQuantizer::BinaryConnectQuantizer(float h, bool stochastic, bool clip, double lr_scale,
                                               std::uint64_t seed)
    : h_(h), stochastic_(stochastic), clip_(clip), lr_scale_(lr_scale), rng_(seed) {
  core::check(h > 0.0f && std::isfinite(h), "binary_connect quantizer: H must be > 0, got {}", h);
  if (stochastic_) register_rng("rng", &rng_);
}

Tensor BinaryConnectQuantizer::forward(const Tensor& w) {
  if (stochastic_) {
    if (!is_training()) return w;  // methods.md 1.5: evaluate with the real-valued W_r
    return stochastic_binarize(w, h_, rng_);
  }
  Tensor b = sign_ste(w, SignGrad::identity);
  return h_ == 1.0f ? b : b * h_;
}

std::optional<float> BinaryConnectQuantizer::latent_clip() const {
  if (!clip_) return std::nullopt;
  return h_;
}

std::string BinaryConnectQuantizer::describe() const {
  return fmt::format("binary_connect(H={:.4g}, {}, lr_scale={:.3g})", h_,
                     stochastic_ ? "stochastic" : "deterministic", lr_scale_);
}

// --- XNOR / Bi-Real ------------------------------------------------------------------------

Tensor ScaledSignQuantizer::forward(const Tensor& w) {
  core::check(w.dim() >= 2, "{}: expected weights (out, ...), got {}", type_name(), w.shape());
  if (mode_ == Mode::xnor) {
    std::vector<std::int64_t> alpha_shape(static_cast<std::size_t>(w.dim()), 1);
    alpha_shape[0] = w.size(0);
    const Tensor alpha = mean_abs_per_row(w).reshape(alpha_shape);
    return alpha * sign_ste(w, SignGrad::clipped);
  }
  const Tensor alpha = mean_abs_per_row(w.detach());
  return scaled_sign_ste(w, alpha, mode_ == Mode::bireal_paper);
}

FactoredWeight ScaledSignQuantizer::factored(const Tensor& w) {
  core::check(w.dim() >= 2, "{}: expected weights (out, ...), got {}", type_name(), w.shape());
  if (mode_ == Mode::xnor) return {sign_ste(w, SignGrad::clipped), mean_abs_per_row(w)};
  if (mode_ == Mode::bireal_paper) {
    return {sign_ste(w, SignGrad::clipped), mean_abs_per_row(w.detach())};
  }
  return {forward(w), Tensor()};
}

std::optional<float> ScaledSignQuantizer::latent_clip() const {
  if (!clip_) return std::nullopt;
  return 1.0f;
}

std::string ScaledSignQuantizer::describe() const {
  switch (mode_) {
    case Mode::xnor: return "xnor(alpha = mean|W| per filter)";
    case Mode::bireal_paper: return "bireal(alpha detached, gradient x alpha)";
    case Mode::bireal_code: return "bireal(alpha detached, clip STE)";
  }
  return type_name();
}

// --- DoReFa --------------------------------------------------------------------------------

DorefaWeightQuantizer::DorefaWeightQuantizer(int bits)
    : bits_(checked_bits(bits, 1, 16, "dorefa")) {}

Tensor DorefaWeightQuantizer::forward(const Tensor& w) {
  if (bits_ == 1) {
    const auto e = static_cast<float>(core::mean(core::abs(w.detach())).item());
    if (e == 0.0f) return sign_ste(w, SignGrad::identity);
    return sign_ste(w / e, SignGrad::identity) * e;  // sign(w/E) E: the gradient passes unchanged
  }
  const Tensor t = core::tanh(w);
  const Tensor m = core::max(core::abs(t).reshape({-1}), 0);  // max|tanh(w)|, not detached
  const Tensor unit = t / m * 0.5f + 0.5f;
  return 2.0f * quantize_unit(unit, bits_) - 1.0f;
}

FactoredWeight DorefaWeightQuantizer::factored(const Tensor& w) {
  if (bits_ != 1) return {forward(w), Tensor()};
  const auto e = static_cast<float>(core::mean(core::abs(w.detach())).item());
  if (e == 0.0f) return {sign_ste(w, SignGrad::identity), Tensor()};
  return {sign_ste(w / e, SignGrad::identity), Tensor::full({w.size(0)}, e)};
}

std::string DorefaWeightQuantizer::describe() const { return fmt::format("dorefa(w{})", bits_); }

DorefaActivationQuantizer::DorefaActivationQuantizer(int bits)
    : bits_(checked_bits(bits, 1, 16, "dorefa")) {}

std::string DorefaActivationQuantizer::describe() const { return fmt::format("dorefa(a{})", bits_); }

// --- LSQ -----------------------------------------------------------------------------------

LsqQuantizer::LsqQuantizer(int bits, bool is_signed)
    : bits_(checked_bits(bits, is_signed ? 2 : 1, 16, "lsq")), signed_(is_signed) {
  step_ = register_parameter("step", Tensor::full({1}, 1.0));
  initialized_ = register_buffer("initialized", Tensor::zeros({1}, core::DType::u8));
}

Tensor LsqQuantizer::forward(const Tensor& v) {
  const float qn = signed_ ? static_cast<float>(1 << (bits_ - 1)) : 0.0f;
  const float qp = signed_ ? static_cast<float>((1 << (bits_ - 1)) - 1)
                           : static_cast<float>((1 << bits_) - 1);
  // Initialised from the first training batch (an eval-mode pass, e.g. the model summary's probe,
  // leaves the step alone).
  if (is_training() && initialized_.data<std::uint8_t>()[0] == 0) {
    core::NoGradGuard no_grad;
    const auto mean_abs = static_cast<float>(core::mean(core::abs(v.detach())).item());
    const float s0 = mean_abs > 0.0f ? 2.0f * mean_abs / std::sqrt(qp) : 1.0f;
    step_.fill_(s0);
    initialized_.data<std::uint8_t>()[0] = 1;
  }
  // N: elements of the weight tensor, or features per sample for activations.
  const std::int64_t n = signed_ ? v.numel() : v.numel() / std::max<std::int64_t>(1, v.size(0));
  const float g = 1.0f / std::sqrt(static_cast<float>(n) * qp);
  return lsq_quantize(v, step_, qn, qp, g);
}

std::string LsqQuantizer::describe() const {
  return fmt::format("lsq({}{}, step={:.4g})", signed_ ? "w" : "a", bits_,
                     step_.detach().contiguous().data<float>()[0]);
}

// --- PACT ----------------------------------------------------------------------------------

PactQuantizer::PactQuantizer(int bits, float alpha, float decay)
    : bits_(checked_bits(bits, 1, 16, "pact")), decay_(decay) {
  core::check(alpha > 0.0f, "pact quantizer: initial alpha must be > 0, got {}", alpha);
  alpha_ = register_parameter("alpha", Tensor::full({1}, alpha));
}

Tensor PactQuantizer::regularizer() {
  if (decay_ == 0.0f) return Tensor();
  return core::sum(alpha_ * alpha_) * decay_;
}

std::string PactQuantizer::describe() const {
  return fmt::format("pact(a{}, alpha={:.4g})", bits_, alpha_.detach().contiguous().data<float>()[0]);
}

// --- gradient quantizer --------------------------------------------------------------------

GradientQuantizer::GradientQuantizer(int bits, std::uint64_t seed)
    : bits_(checked_bits(bits, 1, 16, "gradient")), rng_(seed) {
  register_rng("rng", &rng_);
}

Tensor GradientQuantizer::forward(const Tensor& y) {
  if (!is_training()) return y;
  return quantize_gradient(y, bits_, rng_);
}

std::string GradientQuantizer::describe() const { return fmt::format("gradient_quantizer(g{})", bits_); }

}  // namespace lowbit::quant
