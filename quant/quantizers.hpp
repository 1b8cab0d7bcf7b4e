#pragma once
// The built-in quantizers (methods.md sections 1, 2, 4, 8). Each forward applies Q with the
// estimator named in its comment; export and the summary inspect these types.

#include "core/rng.hpp"
#include "quant/quantizer.hpp"
#include "quant/ste.hpp"

#include <cstdint>
#include <string>

namespace lowbit::quant {

// Identity: full precision (32 bits).
class NoQuantizer : public Quantizer {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  int bits() const override { return 32; }
  std::string type_name() const override { return "none"; }
};

// BinaryConnect (methods.md 1): deterministic W_b = +H iff W_r >= 0, or stochastic
// W_b = +H w.p. hard_sigmoid(W_r/H); identity STE; W_r clipped to [-H, H] after each step; LR
// scaled by 1/H_glorot when lr_scale = glorot. Stochastic mode evaluates with the real W_r
// (methods.md 1.5: the paper's number). With H = 1, deterministic, it is BNN's weight binarizer.
class BinaryConnectQuantizer : public Quantizer {
 public:
  BinaryConnectQuantizer(float h, bool stochastic, bool clip, double lr_scale, std::uint64_t seed);
  Tensor forward(const Tensor& w) override;
  int bits() const override { return 1; }
  std::optional<float> latent_clip() const override;
  double lr_scale() const override { return lr_scale_; }
  std::string type_name() const override { return "binary_connect"; }
  std::string describe() const override;
  float h() const { return h_; }
  bool stochastic() const { return stochastic_; }

 private:
  float h_;
  bool stochastic_;
  bool clip_;
  double lr_scale_;
  core::Rng rng_;
};

// Binary activations q = sign(x) with the hardtanh STE (BNN, XNOR-Net: gradient 1[|x| <= 1]) or
// Bi-Real's ApproxSign (gradient max(0, 2 - 2|x|)).
class SignQuantizer : public Quantizer {
 public:
  explicit SignQuantizer(SignGrad grad) : grad_(grad) {}
  Tensor forward(const Tensor& x) override { return sign_ste(x, grad_); }
  int bits() const override { return 1; }
  std::string type_name() const override {
    return grad_ == SignGrad::approx_sign ? "approx_sign" : "sign";
  }

 private:
  SignGrad grad_;
};

// XNOR-Net / BWN weights (methods.md 2b): W_b = alpha * sign(W_r), alpha = mean|W_r| per output
// filter. alpha is NOT detached, so the gradient is the exact derivative with the hardtanh STE for
// sign: dL/dW_i = alpha * g_i * 1[|W_i| <= 1] + sign(W_i)/n * sum_j g_j sign(W_j) (the PyTorch
// port's exact mean term, without its n(1 - 1/C) and 1e9 factors). W_r is clamped to [-1, 1]
// after each step as the reference code does before each forward.
//
// Bi-Real weights (methods.md 2c, detach_alpha): the same alpha * sign(W_r) with alpha detached;
// gradient dL/dWb * 1[|W_r| <= 1] times alpha (paper rule) or not (code rule).
class ScaledSignQuantizer : public Quantizer {
 public:
  enum class Mode { xnor, bireal_paper, bireal_code };
  ScaledSignQuantizer(Mode mode, bool clip) : mode_(mode), clip_(clip) {}
  Tensor forward(const Tensor& w) override;
  // xnor and bireal_paper: values = sign(W) (hardtanh STE), out_scale = alpha (detached for
  // bireal); the same gradients as forward(). bireal_code does not factor.
  FactoredWeight factored(const Tensor& w) override;
  int bits() const override { return 1; }
  std::optional<float> latent_clip() const override;
  std::string type_name() const override { return mode_ == Mode::xnor ? "xnor" : "bireal"; }
  std::string describe() const override;
  Mode mode() const { return mode_; }

 private:
  Mode mode_;
  bool clip_;
};

// DoReFa weights (methods.md 4): k = 1: E = mean|w| (detached), w_q = sign(w) * E, identity STE;
// k >= 2: t = tanh(w), t = t / max|t| * 0.5 + 0.5 (max not detached), w_q = 2 quantize_k(t) - 1,
// 2^k symmetric levels without zero.
class DorefaWeightQuantizer : public Quantizer {
 public:
  explicit DorefaWeightQuantizer(int bits);
  Tensor forward(const Tensor& w) override;
  // k = 1: values = sign(w/E) (identity STE), out_scale = E; k >= 2 does not factor.
  FactoredWeight factored(const Tensor& w) override;
  int bits() const override { return bits_; }
  std::string type_name() const override { return "dorefa"; }
  std::string describe() const override;

 private:
  int bits_;
};

// DoReFa activations: q = quantize_k(clip(x, 0, 1)), gradient 1[0 <= x <= 1].
class DorefaActivationQuantizer : public Quantizer {
 public:
  explicit DorefaActivationQuantizer(int bits);
  Tensor forward(const Tensor& x) override { return dorefa_activation(x, bits_); }
  int bits() const override { return bits_; }
  std::string type_name() const override { return "dorefa"; }
  std::string describe() const override;

 private:
  int bits_;
};

// LSQ (methods.md 8.1): learned step s (parameter "step"), signed grid for weights
// (Q_N = 2^(b-1), Q_P = 2^(b-1) - 1), unsigned for activations (0, 2^b - 1); gradient scale
// g = 1/sqrt(N Q_P), N = elements (weights) or elements per sample (activations). s is
// initialised on the first forward to 2 mean|v| / sqrt(Q_P) (buffer "initialized" records it).
class LsqQuantizer : public Quantizer {
 public:
  LsqQuantizer(int bits, bool is_signed);
  Tensor forward(const Tensor& v) override;
  int bits() const override { return bits_; }
  std::string type_name() const override { return "lsq"; }
  std::string describe() const override;
  const Tensor& step() const { return step_; }

 private:
  int bits_;
  bool signed_;
  Tensor step_;
  Tensor initialized_;  // u8 scalar-like buffer (1 element)
};

// PACT (methods.md 8.2): learned clipping level alpha (parameter "alpha"), k-bit uniform grid on
// [0, alpha]; the loss gets decay * alpha^2.
class PactQuantizer : public Quantizer {
 public:
  PactQuantizer(int bits, float alpha, float decay);
  Tensor forward(const Tensor& x) override { return pact_quantize(x, alpha_, bits_); }
  int bits() const override { return bits_; }
  Tensor regularizer() override;
  std::string type_name() const override { return "pact"; }
  std::string describe() const override;
  const Tensor& alpha() const { return alpha_; }

 private:
  int bits_;
  float decay_;
  Tensor alpha_;
};

// DoReFa's gradient quantizer f_g on a layer's output: identity forward, k-bit stochastic
// gradient (see quantize_gradient).
class GradientQuantizer : public layers::Module {
 public:
  GradientQuantizer(int bits, std::uint64_t seed);
  Tensor forward(const Tensor& y) override;
  std::string type_name() const override { return "gradient_quantizer"; }
  std::string describe() const override;

 private:
  int bits_;
  core::Rng rng_;
};

}  // namespace lowbit::quant
