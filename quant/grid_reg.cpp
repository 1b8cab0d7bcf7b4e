#include "quant/grid_reg.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "quant/quant_layers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace lowbit::quant {

namespace {

constexpr std::int64_t kParallelThreshold = 1 << 15;
constexpr int kMaxLloydIterations = 100;
constexpr int kScanSteps = 48;

int checked_grid_bits(int bits, const char* who) {
  core::check(bits >= 1 && bits <= 16, "{}: bits must be in [1, 16], got {}", who, bits);
  return bits;
}

// The conv/linear layer's own weight parameter, or an undefined tensor for other modules.
Tensor weight_of(layers::Module* m) {
  if (auto* c = dynamic_cast<layers::Conv2d*>(m)) return c->weight();
  if (auto* l = dynamic_cast<layers::Linear*>(m)) return l->weight();
  if (auto* q = dynamic_cast<QuantLayer*>(m)) return q->latent_weight();
  return Tensor();
}

// sqrt(mean (w - Q(w))^2) / step: how far the weights sit from their grid, in steps.
double rms_distance_in_steps(const Tensor& w, const UniformGrid& grid, float step) {
  if (step <= 0.0f || w.numel() == 0) return 0.0;
  const Tensor c = w.detach().contiguous();
  const float* p = c.data<float>();
  double ss = 0.0;
  for (std::int64_t i = 0; i < c.numel(); ++i) {
    const double d = p[i] - grid.nearest(p[i], step);
    ss += d * d;
  }
  return std::sqrt(ss / static_cast<double>(c.numel())) / step;
}

float step_of(const Tensor& w, const UniformGrid& grid) {
  const Tensor c = w.detach().contiguous();
  return mse_optimal_step(c.data<float>(), c.numel(), grid);
}

}  // namespace

// --- grids ---------------------------------------------------------------------------------

UniformGrid UniformGrid::symmetric(int bits) {
  const std::int64_t half = std::int64_t{1} << (checked_grid_bits(bits, "symmetric grid") - 1);
  return {-half, half - 1, 0.5f};
}

UniformGrid UniformGrid::signed_grid(int bits) {
  core::check(bits >= 2 && bits <= 16, "signed grid: bits must be in [2, 16], got {}", bits);
  const std::int64_t half = std::int64_t{1} << (bits - 1);
  return {-half, half - 1, 0.0f};
}

UniformGrid UniformGrid::unsigned_grid(int bits) {
  return {0, (std::int64_t{1} << checked_grid_bits(bits, "unsigned grid")) - 1, 0.0f};
}

std::int64_t UniformGrid::nearest_code(float x, float step) const {
  // Clamped before the rounding and the cast, so huge x / step stays in range.
  const float r = std::clamp(x / step - offset, static_cast<float>(lo) - 1.0f, static_cast<float>(hi) + 1.0f);
  return std::clamp(static_cast<std::int64_t>(std::round(r)), lo, hi);
}

namespace {

// sum (x - nearest(x, s))^2 over every stride-th element.
double squared_error(const float* x, std::int64_t n, std::int64_t stride, const UniformGrid& grid,
                     float s) {
  double err = 0.0;
  for (std::int64_t i = 0; i < n; i += stride) {
    const double d = x[i] - grid.nearest(x[i], s);
    err += d * d;
  }
  return err;
}

}  // namespace

float mse_optimal_step(const float* x, std::int64_t n, const UniformGrid& grid) {
  float max_abs = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  if (n == 0 || max_abs == 0.0f) return 0.0f;
  // 1. Coarse scan on a sample (<= 64K elements): the outermost level at t * max|x| for t in
  //    [0.02, 1], 48 geometric steps. Lloyd alone can stop in a local optimum that leaves the
  //    outer levels empty; the scan starts it in the right basin.
  const std::int64_t stride = std::max<std::int64_t>(1, n / 65536);
  const double top = std::max(std::fabs(static_cast<double>(grid.lo) + grid.offset),
                              std::fabs(static_cast<double>(grid.hi) + grid.offset));
  double s = max_abs / top, best = std::numeric_limits<double>::infinity();
  for (int k = 0; k < kScanSteps; ++k) {
    const double t = 0.02 * std::pow(50.0, static_cast<double>(k) / (kScanSteps - 1));
    const auto cand = static_cast<float>(t * max_abs / top);
    const double err = squared_error(x, n, stride, grid, cand);
    if (err < best) {
      best = err;
      s = cand;
    }
  }
  // 2. Lloyd iterations on all of x (each one lowers the error): assign every x to its nearest
  //    level, then s = sum x (c + o) / sum (c + o)^2, until s moves < 1e-6 relatively.
  for (int it = 0; it < kMaxLloydIterations; ++it) {
    double num = 0.0, den = 0.0;
    const auto step = static_cast<float>(s);
#pragma omp parallel for schedule(static) reduction(+ : num, den) if (n > kParallelThreshold)
    for (std::int64_t i = 0; i < n; ++i) {
      const double level = static_cast<double>(grid.nearest_code(x[i], step)) + grid.offset;
      num += x[i] * level;
      den += level * level;
    }
    if (den == 0.0 || num <= 0.0) break;  // every x on the zero level: keep this step
    const double next = num / den;
    const bool settled = std::fabs(next - s) <= 1e-6 * s;
    s = next;
    if (settled) break;
  }
  return static_cast<float>(s);
}

Tensor grid_distance_sq(const Tensor& w, const UniformGrid& grid, float step) {
  core::check(w.defined() && w.dtype() == core::DType::f32, "grid_distance_sq: expected an f32 tensor");
  core::check(step > 0.0f && std::isfinite(step), "grid_distance_sq: step must be > 0, got {}", step);
  const Tensor wc = w.detach().contiguous();
  const float* p = wc.data<float>();
  const std::int64_t n = wc.numel();
  double ss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : ss) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = p[i] - grid.nearest(p[i], step);
    ss += d * d;
  }
  return core::record(Tensor::scalar(static_cast<float>(ss)), "grid_distance_sq", {w},
                      [wc, grid, step](const Tensor& g) {
                        const float scale = 2.0f * static_cast<float>(g.item());
                        Tensor dw = Tensor::uninitialized(wc.shape());
                        const float* x = wc.data<float>();
                        float* d = dw.data<float>();
                        const std::int64_t count = wc.numel();
#pragma omp parallel for schedule(static) if (count > kParallelThreshold)
                        for (std::int64_t i = 0; i < count; ++i) {
                          d[i] = scale * (x[i] - grid.nearest(x[i], step));
                        }
                        return core::Grads{dw};
                      });
}

// --- layers --------------------------------------------------------------------------------

std::vector<GridLayer> grid_layers(layers::Module& model, bool keep_first, bool keep_last) {
  std::vector<GridLayer> all;
  for (auto& [name, m] : model.named_modules()) {
    if (Tensor w = weight_of(m); w.defined()) all.push_back({name, w});
  }
  const std::size_t begin = keep_first && !all.empty() ? 1 : 0;
  std::size_t end = all.size();
  if (keep_last && end > begin) --end;
  return {all.begin() + static_cast<std::ptrdiff_t>(begin),
          all.begin() + static_cast<std::ptrdiff_t>(std::max(begin, end))};
}

// --- regularizer ---------------------------------------------------------------------------

double grid_reg_weight_at(const GridRegSettings& s, std::int64_t epoch) {
  if (epoch < s.warmup_epochs) return 0.0;
  if (s.ramp_epochs <= 0) return s.weight;
  const double t = static_cast<double>(epoch - s.warmup_epochs + 1) / static_cast<double>(s.ramp_epochs);
  return s.weight * std::min(1.0, t);
}

void validate(const GridRegSettings& s, const std::string& where) {
  core::check(s.bits >= 1 && s.bits <= 8, "config: {}.bits = {} must be in [1, 8]", where, s.bits);
  core::check(s.weight >= 0.0 && std::isfinite(s.weight),
              "config: {}.weight = {} must be >= 0 (0 = off)", where, s.weight);
  core::check(s.warmup_epochs >= 0 && s.ramp_epochs >= 0,
              "config: {}.warmup_epochs and ramp_epochs must be >= 0", where);
}

GridRegularizer::GridRegularizer(const GridRegSettings& settings, std::vector<GridLayer> layers)
    : settings_(settings),
      grid_(UniformGrid::symmetric(static_cast<int>(settings.bits))),
      layers_(std::move(layers)) {
  validate(settings_, "quant.grid_reg");
  weight_ = grid_reg_weight_at(settings_, 0);
}

void GridRegularizer::refresh_steps() {
  steps_.clear();
  for (const auto& l : layers_) steps_.push_back(step_of(l.weight, grid_));
}

void GridRegularizer::set_epoch(std::int64_t epoch, std::int64_t /*epochs*/) {
  weight_ = grid_reg_weight_at(settings_, epoch);
  if (enabled()) refresh_steps();
}

Tensor GridRegularizer::term() {
  if (weight_ <= 0.0) return Tensor();
  if (steps_.size() != layers_.size()) refresh_steps();
  Tensor total;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const float step = steps_[i];
    if (step <= 0.0f) continue;  // an all-zero weight sits on no level; nothing to pull
    Tensor d = grid_distance_sq(layers_[i].weight, grid_, step);
    total = total.defined() ? total + d : d;
  }
  return total.defined() ? total * static_cast<float>(weight_) : total;
}

std::string GridRegularizer::describe() const {
  std::string names;
  for (const auto& l : layers_) names += (names.empty() ? "" : ", ") + l.name;
  return fmt::format(
      "grid_reg: weight {:.3g} * sum (w - Q(w))^2, Q = symmetric {}-bit grid, MSE-optimal step per "
      "layer; warm-up {} epochs, ramp {} epochs; layers: {}",
      settings_.weight, settings_.bits, settings_.warmup_epochs, settings_.ramp_epochs,
      names.empty() ? "(none)" : names);
}

std::string GridRegularizer::status() const {
  std::string s = fmt::format("grid_reg: weight {:.3g}; RMS distance to the grid in steps:", weight_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const float step = i < steps_.size() ? steps_[i] : step_of(layers_[i].weight, grid_);
    s += fmt::format(" {} {:.3f} (step {:.4g})", layers_[i].name,
                     rms_distance_in_steps(layers_[i].weight, grid_, step), step);
  }
  return s;
}

// --- post-hoc rounding ---------------------------------------------------------------------

std::string round_weights_to_grid(layers::Module& model, int bits, bool keep_first, bool keep_last) {
  const UniformGrid grid = UniformGrid::symmetric(bits);
  core::NoGradGuard no_grad;
  std::string report = fmt::format("rounded weights to the symmetric {}-bit grid ({} levels, "
                                   "MSE-optimal step per layer):\n",
                                   bits, grid.levels());
  for (auto& l : grid_layers(model, keep_first, keep_last)) {
    const float step = step_of(l.weight, grid);
    const double rms = rms_distance_in_steps(l.weight, grid, step);
    if (step > 0.0f) {
      Tensor w = l.weight;
      core::check(w.is_contiguous(), "round_weights_to_grid: {} weight is not contiguous", l.name);
      float* p = w.data<float>();
      for (std::int64_t i = 0; i < w.numel(); ++i) p[i] = grid.nearest(p[i], step);
    }
    report += fmt::format("  {:<24} {:>9} weights  step {:.5g}  RMS change {:.3f} steps\n", l.name,
                          l.weight.numel(), step, rms);
  }
  return report;
}

}  // namespace lowbit::quant
