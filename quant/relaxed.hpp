#pragma once
// Relaxed Quantization, RQ (Louizos, Reisser, Blankevoort, Gavves, Welling, ICLR 2019;
// methods.md 3c).
//
// Grid g_c = (c + o) alpha for codes c in [lo, hi] (UniformGrid): signed for weights
// (c in [-2^(b-1), 2^(b-1) - 1], i.e. beta = -2^(b-1) alpha) and unsigned for post-ReLU activations
// (c in [0, 2^b - 1], beta = 0). Input noise x~ = x + eps, eps ~ Logistic(0, sigma). Bin c covers
// [g_c - alpha/2, g_c + alpha/2]; with S the sigmoid
//
//   pi_c = S((g_c + alpha/2 - x) / sigma) - S((g_c - alpha/2 - x) / sigma)
//
// and the end bins absorb the tails (no lower edge for the first, no upper edge for the last), so
// sum pi = 1: that is the clipping. log pi is computed as log S(u) + log S(-l) + log(1 - e^-(u-l))
// (u, l the scaled bin edges), which stays finite where the difference of sigmoids underflows.
//
// Local grid: only the bins that overlap [x - delta, x + delta], delta = delta_sigmas * sigma,
// are evaluated; the window's first and last bins absorb the tails as the grid's ends do, so
// sum pi = 1 holds on the window too and the other bins get zero mass. (Bins overlapping the
// window, not centres inside it: with centres only, an x half-way between two levels with small
// sigma would keep one of the two equally likely bins.) With the paper's delta = 3 sigma the
// categorical mean moves by up to ~0.12 alpha against the full grid (logistic tails beyond 3 sigma
// hold 4.7% each side); delta = 8 sigma keeps it below 1e-3 alpha. tests/quant/test_relaxed.cpp
// measures both.
//
// Relaxed sample (concrete / Gumbel-softmax): z = softmax((log pi + G) / lambda), G ~ Gumbel(0, 1)
// per (element, grid code), x^ = sum z_c g_c. RQ-ST (straight_through): the forward takes the hard
// argmax level, the backward the relaxed z. Gradients reach x, alpha and sigma analytically through
// log pi and g (one op, rq_sample). The Gumbel noise is a counter-based hash of (key, element,
// code), so it does not depend on the window or the thread count; the quantizer draws one key per
// call from its seeded generator (saved in checkpoints).
//
// Eval mode: deterministic rounding to the mode of the categorical, which for symmetric logistic
// noise is the nearest level, clipped to the grid's ends (rq_round).

#include "core/rng.hpp"
#include "quant/grid_reg.hpp"
#include "quant/quantizer.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::quant {

struct RqOptions {
  UniformGrid grid;
  float temperature = 1.0f;   // lambda > 0
  float delta_sigmas = 3.0f;  // local grid half-width in units of sigma (inf: the whole grid)
  bool straight_through = false;
};

// The relaxed sample x^ of every element of x; alpha and sigma are 1-element f32 tensors > 0.
// One autograd op with the exact gradient of the relaxed sample (RQ-ST: of the relaxed sample,
// while the forward is hard) to x, alpha and sigma, the window held fixed.
Tensor rq_sample(const Tensor& x, const Tensor& alpha, const Tensor& sigma, const RqOptions& options,
                 std::uint64_t noise_key);

// A Gumbel(0, 1) draw from 64 random bits (the op hashes (key, element, code) into them); finite
// for every input.
float gumbel_from_bits(std::uint64_t bits);

// The categorical over the local window of one x: codes first_code .. first_code + pi.size() - 1.
struct RqCategorical {
  std::int64_t first_code = 0;
  std::vector<double> pi;
};
RqCategorical rq_categorical(float x, float alpha, float sigma, const UniformGrid& grid,
                             float delta_sigmas);

// Nearest level, clipped: (clamp(round(x / alpha - o), lo, hi) + o) alpha. The gradient to x is
// the range STE 1[g_lo <= x <= g_hi] (eval mode normally records none).
Tensor rq_round(const Tensor& x, float alpha, const UniformGrid& grid);

// The quantizer (registry name "rq"). Parameters "log_alpha" and "log_sigma" (alpha = e^log_alpha,
// sigma = e^log_sigma: both stay positive), buffer "initialized", generator "rng". On the first
// training forward alpha becomes the MSE-optimal step of the tensor for its grid (weights: the
// latent weights, after train.init_from; activations: the first batch) and sigma = alpha / 3;
// eval-mode passes before that (the summary's probe) use those values without storing them.
class RelaxedQuantizer : public Quantizer {
 public:
  struct Options {
    int bits = 2;
    bool is_signed = true;  // weights; activations use the unsigned grid
    double temperature_start = 2.0;
    double temperature_end = 0.5;
    double delta_sigmas = 3.0;
    bool straight_through = false;
  };
  RelaxedQuantizer(const Options& options, std::uint64_t seed);

  Tensor forward(const Tensor& x) override;
  void set_epoch(std::int64_t epoch, std::int64_t epochs) override;
  int bits() const override { return options_.bits; }
  std::string type_name() const override { return "rq"; }
  std::string describe() const override;

  float alpha() const;
  float sigma() const;
  float temperature() const { return temperature_; }
  const UniformGrid& grid() const { return grid_; }
  bool initialized() const;

 private:
  Options options_;
  UniformGrid grid_;
  float temperature_;
  Tensor log_alpha_, log_sigma_;
  Tensor initialized_;  // u8 (1)
  core::Rng rng_;
};

}  // namespace lowbit::quant
