#include "quant/dbssq.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lowbit::quant {

namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;
constexpr int kMaxShiftBits = 5;  // 2^-(2^5 - 1) = 2^-31 is still a normal float
constexpr int kMaxUniformBits = 8;

// Per-row mean and unbiased std (torch.std) of x viewed as (rows, cols), in double.
struct RowStats {
  std::vector<float> mean, std;
};

RowStats row_stats(const Tensor& xc, std::int64_t rows) {
  const std::int64_t cols = rows == 0 ? 0 : xc.numel() / rows;
  const float* x = xc.data<float>();
  RowStats s;
  s.mean.resize(static_cast<std::size_t>(rows));
  s.std.resize(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    double sum = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) sum += row[c];
    const double mean = cols > 0 ? sum / static_cast<double>(cols) : 0.0;
    double ss = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) ss += (row[c] - mean) * (row[c] - mean);
    const double var = cols > 1 ? ss / static_cast<double>(cols - 1) : 0.0;
    s.mean[static_cast<std::size_t>(r)] = static_cast<float>(mean);
    s.std[static_cast<std::size_t>(r)] = static_cast<float>(std::sqrt(var));
  }
  return s;
}

}  // namespace

DbssqLevels parse_dbssq_levels(std::string_view name) {
  if (name == "shift") return DbssqLevels::shift;
  if (name == "uniform") return DbssqLevels::uniform;
  core::fail("dbssq quantizer: levels '{}' must be 'shift' (powers of two) or 'uniform' (n bits)",
             name);
}

void DbssqOptions::check() const {
  if (levels == DbssqLevels::shift) {
    core::check(bits >= 0 && bits <= kMaxShiftBits,
                "dbssq quantizer: {} shift bits must be in [0, {}] (2^s power-of-two magnitudes). "
                "HINT: set weight_bits / activation_bits",
                bits, kMaxShiftBits);
  } else {
    core::check(bits >= 1 && bits <= kMaxUniformBits,
                "dbssq quantizer: {} uniform bits must be in [1, {}]. HINT: set weight_bits / "
                "activation_bits",
                bits, kMaxUniformBits);
  }
}

float dbssq_level(float x, const DbssqOptions& o) {
  const float sign = x <= 0.0f ? -1.0f : 1.0f;  // sign(0) = -1 (DBSSQ, see the header)
  const float mag = std::fabs(x);
  if (o.levels == DbssqLevels::uniform) {
    const float half = std::ldexp(1.0f, o.bits - 1);  // 2^(n-1) magnitudes
    return sign * std::clamp(std::ceil(mag * half), 1.0f, half) / half;
  }
  const int bottom = 1 - (1 << o.bits);  // the smallest level is 2^bottom = 2^-(2^s - 1)
  if (!(mag < 1.0f)) return sign;        // clamped to the top level (and NaN)
  if (mag == 0.0f) return sign * std::ldexp(1.0f, bottom);
  int p = 0;
  const float m = std::frexp(mag, &p);                    // mag = m 2^p, m in [0.5, 1)
  const int e = std::max(m == 0.5f ? p - 1 : p, bottom);  // ceil(log2 mag), exactly
  return sign * std::ldexp(1.0f, e);
}

Tensor dbssq_blend_rows(const Tensor& x, const std::vector<float>& shift,
                        const std::vector<float>& mul, float eps, const DbssqOptions& options) {
  core::check(x.defined() && x.dtype() == core::DType::f32, "dbssq: expected a defined f32 tensor");
  core::check(eps >= 0.0f && eps <= 1.0f, "dbssq: eps {} must be in [0, 1]", eps);
  const Tensor xc = x.detach().contiguous();
  const auto rows = static_cast<std::int64_t>(shift.size());
  core::check(rows >= 1 && mul.size() == shift.size() && xc.numel() % rows == 0,
              "dbssq: {} row constants for a tensor of {} elements", rows, xc.numel());
  const std::int64_t cols = xc.numel() / rows;
  Tensor q = Tensor::uninitialized(xc.shape());
  const float* xp = xc.data<float>();
  float* qp = q.data<float>();
  const std::int64_t n = xc.numel();
  const DbssqOptions o = options;
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto r = static_cast<std::size_t>(i / cols);
    const float v = (xp[i] - shift[r]) * mul[r];
    // eps = 1 is the exact identity, as in the reference (`if epsilon == 1: return x`).
    qp[i] = eps == 1.0f ? v : eps * v + (1.0f - eps) * dbssq_level(v, o);
  }
  const float slope = options.grad_scaling ? 1.0f : eps;
  return core::record(q, "dbssq_blend", {x}, [mul, cols, slope](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::uninitialized(gc.shape());
    const float* gp = gc.data<float>();
    float* d = dx.data<float>();
    const std::int64_t count = gc.numel();
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
    for (std::int64_t i = 0; i < count; ++i) {
      d[i] = gp[i] * slope * mul[static_cast<std::size_t>(i / cols)];
    }
    return core::Grads{dx};
  });
}

Tensor dbssq_blend(const Tensor& x, float eps, const DbssqOptions& options) {
  return dbssq_blend_rows(x, {0.0f}, {1.0f}, eps, options);
}

// --- eps schedule --------------------------------------------------------------------------

EpsSchedule EpsSchedule::parse(std::string_view name, double eps) {
  EpsSchedule s;
  if (name == "halving") {
    s.kind = Kind::halving;
  } else if (name == "constant") {
    s.kind = Kind::constant;
  } else {
    core::fail("dbssq quantizer: eps_schedule '{}' must be 'halving' or 'constant'", name);
  }
  core::check(eps >= 0.0 && eps <= 1.0, "dbssq quantizer: eps {} must be in [0, 1]", eps);
  s.eps = eps;
  return s;
}

double EpsSchedule::at(std::int64_t epoch, std::int64_t epochs) const {
  if (kind == Kind::constant) return eps;
  core::check(epochs >= 1, "dbssq eps schedule: epochs must be >= 1, got {}", epochs);
  const std::int64_t e = std::clamp<std::int64_t>(epoch, 0, epochs - 1);
  const auto paper_epochs = static_cast<std::int64_t>(kDbssqPaperEps.size());
  return kDbssqPaperEps[static_cast<std::size_t>(e * paper_epochs / epochs)];
}

// --- quantizers ----------------------------------------------------------------------------

DbssqQuantizer::DbssqQuantizer(const DbssqOptions& options, const EpsSchedule& schedule)
    : options_(options), schedule_(schedule) {
  options_.check();
  training_eps_ = static_cast<float>(schedule_.at(0, 1));
}

void DbssqQuantizer::set_epoch(std::int64_t epoch, std::int64_t epochs) {
  training_eps_ = static_cast<float>(schedule_.at(epoch, epochs));
}

int DbssqQuantizer::bits() const {
  return options_.levels == DbssqLevels::shift ? options_.bits + 1 : options_.bits;
}

float DbssqQuantizer::eps() const { return is_training() ? training_eps_ : 0.0f; }

std::string DbssqQuantizer::describe() const {
  // e.g. "dbssq(shift s=2, train eps=0.125 (halving), grad 1)"; eval always uses eps = 0.
  return fmt::format("dbssq({}={}, train eps={:.4g} ({}), grad {})",
                     options_.levels == DbssqLevels::shift ? "shift s" : "uniform n", options_.bits,
                     training_eps_,
                     schedule_.kind == EpsSchedule::Kind::halving ? "halving" : "constant",
                     options_.grad_scaling ? "1" : "eps");
}

DbssqWeightQuantizer::DbssqWeightQuantizer(std::int64_t out_channels, const DbssqOptions& options,
                                           const EpsSchedule& schedule)
    : DbssqQuantizer(options, schedule) {
  core::check(out_channels >= 1, "dbssq weight quantizer: needs the output channels, got {}",
              out_channels);
  sigma_ = register_buffer("sigma", Tensor::ones({out_channels}));
  initialized_ = register_buffer("initialized", Tensor::zeros({1}, core::DType::u8));
}

bool DbssqWeightQuantizer::captured() const { return initialized_.data<std::uint8_t>()[0] != 0; }

FactoredWeight DbssqWeightQuantizer::factored(const Tensor& w) {
  core::check(w.dim() >= 2 && w.size(0) == sigma_.numel(),
              "dbssq weight quantizer: expected weights ({}, ...), got {}", sigma_.numel(),
              w.shape());
  const std::int64_t rows = w.size(0);
  const Tensor wc = w.detach().contiguous();
  const RowStats stats = row_stats(wc, rows);
  // sigma_c of the starting weights: captured on the first training forward, i.e. after
  // train.init_from loaded them (an eval pass before that, such as the summary's probe, uses the
  // current std and captures nothing).
  if (is_training() && !captured()) {
    float* s = sigma_.data<float>();
    for (std::int64_t r = 0; r < rows; ++r) s[r] = stats.std[static_cast<std::size_t>(r)];
    initialized_.data<std::uint8_t>()[0] = 1;
  }
  std::vector<float> mul(static_cast<std::size_t>(rows));
  Tensor scale = Tensor::uninitialized({rows});
  float* sc = scale.data<float>();
  const float* sigma = sigma_.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float sd = stats.std[static_cast<std::size_t>(r)];
    mul[static_cast<std::size_t>(r)] = sd > 0.0f ? 1.0f / (3.0f * sd) : 1.0f / 3.0f;
    sc[r] = 3.0f * (captured() ? sigma[r] : sd);
  }
  return {dbssq_blend_rows(w, stats.mean, mul, eps(), options_), scale};
}

Tensor DbssqWeightQuantizer::forward(const Tensor& w) {
  const FactoredWeight f = factored(w);
  std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  shape[0] = w.size(0);
  return f.values * f.out_scale.reshape(shape);
}

DbssqActivationQuantizer::DbssqActivationQuantizer(std::int64_t channels,
                                                   const DbssqOptions& options,
                                                   const EpsSchedule& schedule)
    : DbssqQuantizer(options, schedule), channels_(channels) {
  core::check(channels >= 1, "dbssq activation quantizer: needs the layer's input channels, got {}",
              channels);
  layers::BatchNormOptions bn;
  bn.num_features = channels;
  bn.affine = false;  // parameter-free: gamma = 1, beta = 0 (methods.md 7.2)
  norm_ = register_module("norm", std::make_shared<layers::BatchNorm2d>(bn));
}

Tensor DbssqActivationQuantizer::forward(const Tensor& x) {
  core::check((x.dim() == 4 || x.dim() == 2) && x.size(1) == channels_,
              "dbssq activation quantizer: expected input (N, {}, H, W) or (N, {}), got {}",
              channels_, channels_, x.shape());
  const Tensor a =
      x.dim() == 4
          ? (*norm_)(x)
          : (*norm_)(x.reshape({x.size(0), channels_, 1, 1})).reshape({x.size(0), channels_});
  return dbssq_blend_rows(a, {0.0f}, {kInputScale}, eps(), options_) * 3.0f;
}

}  // namespace lowbit::quant
