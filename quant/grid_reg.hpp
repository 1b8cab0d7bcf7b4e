#pragma once
// Uniform k-bit grids, their MSE-optimal step, and two users of one grid definition:
//
//   GridRegularizer      a loss term that pulls latent weights onto the grid (methods.md 3d
//                        spirit: "weights cluster around quantized values"), for any scheme
//   round_weights_to_grid  post-hoc rounding of a trained model (`evaluate --round-weights K`)
//
// Both use the SYMMETRIC k-bit grid of one layer: 2^k levels (c + 1/2) s, c = -2^(k-1) ..
// 2^(k-1) - 1, i.e. +-s/2 for k = 1 and {-3/2, -1/2, 1/2, 3/2} s for k = 2 (mid-rise: every code
// is used, the grid is symmetric, zero is not a level). The step s of a layer is the MSE-optimal
// one for its current weights, found by Lloyd iterations (mse_optimal_step), and is a constant to
// autograd (stop-gradient): the penalty moves the weights, never the grid.
//
// Which layers: every conv/linear layer's weight, in module order, except the first when
// keep_first and the last when keep_last (the quant config's flags: the layers a scheme keeps in
// float are not rounded either). Per-layer overrides are not consulted.

#include "core/tensor.hpp"
#include "layers/module.hpp"
#include "quant/settings.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::quant {

using core::Tensor;

// Levels (c + offset) * step for integer codes c in [lo, hi].
struct UniformGrid {
  std::int64_t lo = 0, hi = 0;
  float offset = 0.0f;

  static UniformGrid symmetric(int bits);      // mid-rise, above (grid_reg, --round-weights)
  static UniformGrid signed_grid(int bits);    // c in [-2^(b-1), 2^(b-1) - 1], offset 0 (RQ weights)
  static UniformGrid unsigned_grid(int bits);  // c in [0, 2^b - 1], offset 0 (RQ activations)

  std::int64_t levels() const { return hi - lo + 1; }
  // The code of the level nearest to x (clipped to the ends; ties away from zero).
  std::int64_t nearest_code(float x, float step) const;
  float nearest(float x, float step) const {
    return (static_cast<float>(nearest_code(x, step)) + offset) * step;
  }
};

// argmin_s sum_i (x_i - nearest(x_i, s))^2: a coarse scan of the outermost level over
// [0.02, 1] max|x| on a sample of <= 64K elements picks the basin, then Lloyd iterations on all of
// x (assign each x to its nearest level, s = sum x (c + o) / sum (c + o)^2, until s moves < 1e-6
// relatively) refine it. Deterministic in x. Returns 0 when every x is 0.
float mse_optimal_step(const float* x, std::int64_t n, const UniformGrid& grid);

// sum_i (w_i - nearest(w_i, step))^2 as one autograd op; dL/dw = 2 g (w - nearest(w)), so it points
// at the nearest level and is 0 on a level (step and levels are constants).
Tensor grid_distance_sq(const Tensor& w, const UniformGrid& grid, float step);

struct GridLayer {
  std::string name;  // the layer's dotted path ("conv2")
  Tensor weight;     // its (latent) weight parameter
};

// The conv/linear weights the rule above selects (float and quantized layers alike).
std::vector<GridLayer> grid_layers(layers::Module& model, bool keep_first, bool keep_last);

// The penalty weight * sum over layers of sum_i (w_i - Q_l(w_i))^2, Q_l the symmetric
// settings.bits grid of layer l at its MSE-optimal step. Like L2 weight decay, but towards the
// nearest grid point instead of 0. The steps are recomputed from the weights at every epoch start
// (set_epoch; or on the first term() when none ran) and held for the epoch: a fixed target the
// weights settle on, and a function of the epoch-start weights, so a run resumed from an epoch
// checkpoint gets the same grids.
class GridRegularizer {
 public:
  GridRegularizer(const GridRegSettings& settings, std::vector<GridLayer> layers);

  // The weight of epoch `epoch` (0-based) of `epochs` (see GridRegSettings); refreshes the steps.
  void set_epoch(std::int64_t epoch, std::int64_t epochs);
  double weight() const { return weight_; }
  bool enabled() const { return settings_.weight > 0.0 && !layers_.empty(); }
  // The loss term; undefined while the weight is 0.
  Tensor term();
  const std::vector<float>& steps() const { return steps_; }  // per layer, after a refresh
  // One line for the run log: the settings and the layers.
  std::string describe() const;
  // One line: this epoch's weight and the weights' RMS distance to their grid in steps.
  std::string status() const;

 private:
  GridRegSettings settings_;
  UniformGrid grid_;
  std::vector<GridLayer> layers_;
  std::vector<float> steps_;  // empty until the first refresh
  double weight_ = 0.0;

  void refresh_steps();
};

// The weight of `epoch` under `settings` (0-based; warm-up, then a linear ramp).
double grid_reg_weight_at(const GridRegSettings& settings, std::int64_t epoch);

// Checks bits in [1, 8] and the rest non-negative; `where` names the config path.
void validate(const GridRegSettings& settings, const std::string& where);

// Replaces every selected layer's weights by their nearest level of its symmetric `bits` grid at
// the MSE-optimal step; returns a per-layer report (step, RMS change) for the log.
std::string round_weights_to_grid(layers::Module& model, int bits, bool keep_first, bool keep_last);

}  // namespace lowbit::quant
