#pragma once
// DBSSQ: differentiable, bit-shifting and scalable quantization (Zia Badar, arXiv:2510.16088;
// methods.md section 7, reference code zia-badar/DBSSQ models/resnetQuan.py).
//
// The quantizer is a convex blend of the identity and a hard quantizer Q (section 7.1):
//
//   q_eps(x) = eps * x + (1 - eps) * Q(x)      eps = 1: identity;  eps = 0: Q
//
//   shift (s shift bits):  Q(x) = sign(x) * L(|x|), L = the smallest level of
//                          {2^0, 2^-1, ..., 2^-(2^s - 1)} that is >= |x|, clamped to 1
//                          (a ceiling in the log domain, not nearest rounding; no zero level)
//   uniform (n bits):      levels {1, 2, ..., 2^(n-1)} / 2^(n-1), the same ceiling assignment
//
//   sign(x) = -1 for x <= 0, +1 otherwise. NOTE: this is the one place in lowbit where
//   sign(0) = -1 (DESIGN.md fixes sign(0) = +1): the DBSSQ specification (methods.md 0.3, 7.1 and
//   the reference code's `x <= 0` test) maps 0 to the negative level, and the self-checks of 7.5
//   test it (Q(0) = -1/8 for s = 2).
//
// Gradient: the exact derivative dq/dx = eps almost everywhere (no STE); with grad_scaling the
// reference's backward hook divides by eps, so dq/dx = 1 (also at eps = 0, the limit).
//
// Weights (DbssqWeightQuantizer, section 7.2), per output channel c, statistics without gradient:
//   w_n = (w - mean_c(w)) / std_c(w)          (std unbiased, as torch.std)
//   w_q = 3 sigma_c * q_eps(w_n / 3)          sigma_c: std_c of the starting weights, captured on
//                                             the first training forward (buffer "sigma")
// The mean is never added back. factored() returns values q_eps(w_n / 3) (at eps = 0 exactly
// +-2^-j) with out_scale 3 sigma_c, the (sign, exponent) + per-channel scale export form.
//
// Activations (DbssqActivationQuantizer): a parameter-free batch norm over the input channels
// (child "norm": BatchNorm2d without affine, running statistics updated in training), then
//   a_q = 3 * q_eps(a_n / 3).
//
// eps follows a schedule set by the trainer through Quantizer::set_epoch (halving: the paper's
// table of section 7.3 stretched over train.epochs; constant: a fixed value). In eval mode
// eps = 0: the network evaluates with the hard quantizer.

#include "layers/batch_norm.hpp"
#include "quant/quantizer.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace lowbit::quant {

enum class DbssqLevels { shift, uniform };

DbssqLevels parse_dbssq_levels(std::string_view name);  // "shift" or "uniform"

struct DbssqOptions {
  DbssqLevels levels = DbssqLevels::shift;
  int bits = 2;  // shift: s in [0, 5] (2^s magnitudes); uniform: n in [1, 8] (2^(n-1) magnitudes)
  bool grad_scaling = true;

  void check() const;  // an Error naming the bad field
};

// Q(x) of section 7.1 (the hard quantizer, eps = 0).
float dbssq_level(float x, const DbssqOptions& options);

// q_eps(x) elementwise with its exact gradient (eps, or 1 with grad_scaling). eps in [0, 1].
Tensor dbssq_blend(const Tensor& x, float eps, const DbssqOptions& options);

// x viewed as (rows, -1): v[r, :] = q_eps((x[r, :] - shift[r]) * mul[r]) with
// dL/dx[r, :] = dL/dv[r, :] * slope * mul[r] (shift and mul are constants, no gradient).
Tensor dbssq_blend_rows(const Tensor& x, const std::vector<float>& shift,
                        const std::vector<float>& mul, float eps, const DbssqOptions& options);

// The eps schedule. halving: epoch e (0-based) of `epochs` uses the paper's epoch
// floor(e * 15 / epochs) of the table 1, 1/2 x3, 1/4 x3, 1/8 x3, 1/16 x2, 1/32, 1/64, 1/128.
struct EpsSchedule {
  enum class Kind { halving, constant };
  Kind kind = Kind::halving;
  double eps = 0.0;  // constant

  static EpsSchedule parse(std::string_view name, double eps);  // "halving" or "constant"
  double at(std::int64_t epoch, std::int64_t epochs) const;
};

inline constexpr std::array<double, 15> kDbssqPaperEps{
    1.0,   0.5,   0.5,      0.5,      0.25,     0.25,     0.25,     0.125,
    0.125, 0.125, 1.0 / 16, 1.0 / 16, 1.0 / 32, 1.0 / 64, 1.0 / 128};

// Common to both: the eps in force (the schedule's in training, 0 in eval mode).
class DbssqQuantizer : public Quantizer {
 public:
  DbssqQuantizer(const DbssqOptions& options, const EpsSchedule& schedule);
  void set_epoch(std::int64_t epoch, std::int64_t epochs) override;
  int bits() const override;
  float eps() const;  // the value forward() uses now
  float training_eps() const { return training_eps_; }
  const DbssqOptions& options() const { return options_; }
  std::string describe() const override;

 protected:
  DbssqOptions options_;
  EpsSchedule schedule_;
  float training_eps_;
};

class DbssqWeightQuantizer : public DbssqQuantizer {
 public:
  // out_channels: the weight's leading axis (the size of "sigma").
  DbssqWeightQuantizer(std::int64_t out_channels, const DbssqOptions& options,
                       const EpsSchedule& schedule);
  Tensor forward(const Tensor& w) override;
  FactoredWeight factored(const Tensor& w) override;
  std::string type_name() const override { return "dbssq"; }
  bool captured() const;
  const Tensor& sigma() const { return sigma_; }

 private:
  Tensor sigma_;        // (out): per-channel std of the starting weights
  Tensor initialized_;  // u8 (1): sigma captured
};

class DbssqActivationQuantizer : public DbssqQuantizer {
 public:
  // channels: the layer's input channels (axis 1 of its input).
  DbssqActivationQuantizer(std::int64_t channels, const DbssqOptions& options,
                           const EpsSchedule& schedule);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "dbssq"; }
  // The parameter-free batch norm in front of the quantizer (export folds it into an affine).
  const layers::BatchNorm2d& norm() const { return *norm_; }
  // The quantizer sees norm(x) * kInputScale; its levels are scaled back by 1 / kInputScale.
  static constexpr float kInputScale = 1.0f / 3.0f;

 private:
  std::int64_t channels_;
  std::shared_ptr<layers::BatchNorm2d> norm_;
};

}  // namespace lowbit::quant
