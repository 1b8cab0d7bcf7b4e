#include "quant/relaxed.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "quant/relaxed_kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lowbit::quant {

namespace {

using rq_kernels::sigmoid;
using rq_kernels::Window;
using rq_kernels::window_log_probs;
using rq_kernels::window_of;

constexpr std::int64_t kParallelThreshold = 1 << 14;
constexpr std::int64_t kChunk = 4096;  // elements per forward call (a multiple of 8)

float scalar_of(const Tensor& t, const char* who) {
  core::check(t.defined() && t.numel() == 1 && t.dtype() == core::DType::f32,
              "{}: expected a 1-element f32 tensor", who);
  return t.detach().contiguous().data<float>()[0];
}

// The largest window any x can get: floor(2 delta / alpha) + 2 bins, at most the grid.
std::int64_t max_window(double alpha, double delta, const UniformGrid& g) {
  const double m = std::floor(2.0 * delta / alpha) + 2.0;
  return static_cast<std::int64_t>(std::min(m, static_cast<double>(g.levels())));
}

}  // namespace

float gumbel_from_bits(std::uint64_t bits) {
  return rq_kernels::gumbel_of_bits23(static_cast<std::uint32_t>(bits >> 41));
}

// --- the op --------------------------------------------------------------------------------

Tensor rq_sample(const Tensor& x, const Tensor& alpha_t, const Tensor& sigma_t, const RqOptions& o,
                 std::uint64_t noise_key) {
  core::check(x.defined() && x.dtype() == core::DType::f32, "rq_sample: expected an f32 tensor");
  const float alpha = scalar_of(alpha_t, "rq_sample alpha");
  const float sigma = scalar_of(sigma_t, "rq_sample sigma");
  core::check(alpha > 0.0f && std::isfinite(alpha) && sigma > 0.0f && std::isfinite(sigma),
              "rq_sample: alpha and sigma must be finite and > 0, got {} and {}", alpha, sigma);
  core::check(o.temperature > 0.0f, "rq_sample: temperature must be > 0, got {}", o.temperature);
  core::check(o.delta_sigmas >= 0.0f, "rq_sample: delta_sigmas must be >= 0, got {}", o.delta_sigmas);
  const Tensor xc = x.detach().contiguous();
  const std::int64_t n = xc.numel();
  const double delta = static_cast<double>(o.delta_sigmas) * sigma;
  const std::int64_t mw = max_window(alpha, delta, o.grid);
  const float r = alpha / sigma;
  const float log1m_exp_r = std::log(-std::expm1(-r));
  const float inv_lambda = 1.0f / o.temperature;
  const UniformGrid grid = o.grid;

  Tensor out = Tensor::uninitialized(xc.shape());
  // Saved for the backward: each element's window and relaxed z over it.
  Tensor windows = Tensor::uninitialized({n, 2}, core::DType::i64);  // (n, 2): lo, hi
  Tensor z = Tensor::uninitialized({n, mw});                          // (n, mw)
  rq_kernels::ForwardArgs args;
  args.x = xc.data<float>();
  args.alpha = alpha;
  args.sigma = sigma;
  args.delta = delta;
  args.max_window = mw;
  args.log1m_exp_r = log1m_exp_r;
  args.inv_lambda = inv_lambda;
  args.grid = grid;
  args.straight_through = o.straight_through;
  args.noise_key = noise_key;
  args.y = out.data<float>();
  args.windows = windows.data<std::int64_t>();
  args.z = z.data<float>();
  const auto kernel = rq_kernels::avx2_supported() ? rq_kernels::forward_avx2 : rq_kernels::forward_scalar;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  bool finite = true;
#pragma omp parallel for schedule(static) reduction(&& : finite) if (n > kParallelThreshold)
  for (std::int64_t c = 0; c < chunks; ++c) {
    finite = kernel(args, c * kChunk, std::min(n, (c + 1) * kChunk)) && finite;
  }
  core::check(finite, "rq_sample: the input holds NaN or inf. HINT: lower optim.lr or set "
              "optim.clip_grad_norm");

  const core::Shape a_shape = alpha_t.shape(), s_shape = sigma_t.shape();
  return core::record(out, "rq_sample", {x, alpha_t, sigma_t}, [=](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::uninitialized(xc.shape());
    const float* gp = gc.data<float>();
    const float* xv = xc.data<float>();
    const std::int64_t* wv = windows.data<std::int64_t>();
    const float* zv = z.data<float>();
    float* d = dx.data<float>();
    const float off = grid.offset;
    const double inv_sigma = 1.0 / sigma;
    const double dr_coef = 1.0 / std::expm1(static_cast<double>(r));  // d log(1 - e^-r) / dr
    double d_alpha = 0.0, d_sigma = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : d_alpha, d_sigma) if (n > kParallelThreshold)
    for (std::int64_t e = 0; e < n; ++e) {
      const double gy = gp[e];
      const std::int64_t lo = wv[2 * e], hi = wv[2 * e + 1];
      const std::int64_t m = hi - lo + 1;
      const float* ze = zv + e * mw;
      double mean_code = 0.0;  // sum z (c + o): x^ = alpha * mean_code
      for (std::int64_t j = 0; j < m; ++j) mean_code += ze[j] * (static_cast<double>(lo + j) + off);
      double ax = 0.0, aa = gy * mean_code, as = 0.0;  // dL/dx, dL/dalpha, dL/dsigma of this element
      // dL/dlog pi_j = gy * z_j (g_j - x^) / lambda (softmax backward), then through log pi.
      for (std::int64_t j = 0; j + 1 < m; ++j) {
        // The edge between bins j and j + 1: the upper edge u of bin j, the lower edge of j + 1.
        const double c_up = static_cast<double>(lo + j) + off + 0.5;
        const double u = (c_up * alpha - xv[e]) * inv_sigma;
        const double wj = gy * ze[j] * ((static_cast<double>(lo + j) + off) - mean_code) * alpha * inv_lambda;
        const double wk = gy * ze[j + 1] * ((static_cast<double>(lo + j + 1) + off) - mean_code) * alpha * inv_lambda;
        // log pi_j has +log S(u); log pi_(j+1) has +log S(-u): d/du = wj S(-u) - wk S(u).
        const double su = sigmoid(static_cast<float>(u));
        const double du = wj * (1.0 - su) - wk * su;
        ax -= du * inv_sigma;
        aa += du * c_up * inv_sigma;
        as -= du * u * inv_sigma;
      }
      // log(1 - e^-r) in every interior bin (both edges inside the window).
      double interior = 0.0;
      for (std::int64_t j = 1; j + 1 < m; ++j) {
        interior += gy * ze[j] * ((static_cast<double>(lo + j) + off) - mean_code) * alpha * inv_lambda;
      }
      aa += interior * dr_coef * inv_sigma;              // dr/dalpha = 1/sigma
      as -= interior * dr_coef * r * inv_sigma;          // dr/dsigma = -r/sigma
      d[e] = static_cast<float>(ax);
      d_alpha += aa;
      d_sigma += as;
    }
    return core::Grads{dx, Tensor::full(a_shape, d_alpha), Tensor::full(s_shape, d_sigma)};
  });
}

RqCategorical rq_categorical(float x, float alpha, float sigma, const UniformGrid& grid,
                             float delta_sigmas) {
  core::check(alpha > 0.0f && sigma > 0.0f, "rq_categorical: alpha and sigma must be > 0");
  const double delta = static_cast<double>(delta_sigmas) * sigma;
  const Window w = window_of(x, alpha, delta, grid);
  RqCategorical c;
  c.first_code = w.lo;
  c.pi.resize(static_cast<std::size_t>(w.hi - w.lo + 1));
  const double r = static_cast<double>(alpha) / sigma;
  window_log_probs<double>(x, alpha, sigma, grid.offset, w, std::log(-std::expm1(-r)), c.pi.data());
  for (double& p : c.pi) p = std::exp(p);
  return c;
}

Tensor rq_round(const Tensor& x, float alpha, const UniformGrid& grid) {
  core::check(x.defined() && x.dtype() == core::DType::f32, "rq_round: expected an f32 tensor");
  core::check(alpha > 0.0f, "rq_round: alpha must be > 0, got {}", alpha);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::uninitialized(xc.shape());
  const float* xp = xc.data<float>();
  float* yp = out.data<float>();
  const std::int64_t n = xc.numel();
#pragma omp parallel for schedule(static) if (n > kParallelThreshold)
  for (std::int64_t i = 0; i < n; ++i) yp[i] = grid.nearest(xp[i], alpha);
  const float lo = (static_cast<float>(grid.lo) + grid.offset) * alpha;
  const float hi = (static_cast<float>(grid.hi) + grid.offset) * alpha;
  return core::record(out, "rq_round", {x}, [xc, lo, hi](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::uninitialized(xc.shape());
    const float* xp = xc.data<float>();
    const float* gp = gc.data<float>();
    float* d = dx.data<float>();
    for (std::int64_t i = 0; i < xc.numel(); ++i) d[i] = xp[i] >= lo && xp[i] <= hi ? gp[i] : 0.0f;
    return core::Grads{dx};
  });
}

// --- the quantizer -------------------------------------------------------------------------

RelaxedQuantizer::RelaxedQuantizer(const Options& options, std::uint64_t seed)
    : options_(options),
      grid_(options.is_signed ? UniformGrid::signed_grid(options.bits)
                              : UniformGrid::unsigned_grid(options.bits)),
      rng_(seed) {
  core::check(options.temperature_start > 0.0 && options.temperature_end > 0.0,
              "rq quantizer: rq_temperature and rq_temperature_end must be > 0, got {} and {}",
              options.temperature_start, options.temperature_end);
  core::check(options.delta_sigmas > 0.0,
              "rq quantizer: rq_delta_sigmas must be > 0 (the paper uses 3), got {}",
              options.delta_sigmas);
  temperature_ = static_cast<float>(options.temperature_start);
  log_alpha_ = register_parameter("log_alpha", Tensor::full({1}, 0.0));
  log_sigma_ = register_parameter("log_sigma", Tensor::full({1}, std::log(1.0 / 3.0)));
  initialized_ = register_buffer("initialized", Tensor::zeros({1}, core::DType::u8));
  register_rng("rng", &rng_);
}

bool RelaxedQuantizer::initialized() const { return initialized_.data<std::uint8_t>()[0] != 0; }

float RelaxedQuantizer::alpha() const {
  return std::exp(log_alpha_.detach().contiguous().data<float>()[0]);
}
float RelaxedQuantizer::sigma() const {
  return std::exp(log_sigma_.detach().contiguous().data<float>()[0]);
}

void RelaxedQuantizer::set_epoch(std::int64_t epoch, std::int64_t epochs) {
  temperature_ = static_cast<float>(
      anneal_geometric(options_.temperature_start, options_.temperature_end, epoch, epochs));
}

Tensor RelaxedQuantizer::forward(const Tensor& x) {
  float data_alpha = 0.0f;  // the MSE-optimal step of this tensor, while not initialised
  if (!initialized()) {
    const Tensor xc = x.detach().contiguous();
    data_alpha = mse_optimal_step(xc.data<float>(), xc.numel(), grid_);
    if (!(data_alpha > 0.0f)) data_alpha = 1.0f;  // all zeros: any step rounds them to 0
    if (is_training()) {
      core::NoGradGuard no_grad;
      log_alpha_.fill_(std::log(data_alpha));
      log_sigma_.fill_(std::log(data_alpha / 3.0f));
      initialized_.data<std::uint8_t>()[0] = 1;
    }
  }
  if (!is_training()) return rq_round(x, initialized() ? alpha() : data_alpha, grid_);
  RqOptions o;
  o.grid = grid_;
  o.temperature = temperature_;
  o.delta_sigmas = static_cast<float>(options_.delta_sigmas);
  o.straight_through = options_.straight_through;
  return rq_sample(x, core::exp(log_alpha_), core::exp(log_sigma_), o, rng_.next_u64());
}

std::string RelaxedQuantizer::describe() const {
  return fmt::format("rq({}{}, alpha={:.4g}, sigma={:.4g}, lambda={:.3g} ({:.3g}->{:.3g}), "
                     "window {:.3g} sigma{})",
                     options_.is_signed ? "w" : "a", options_.bits, alpha(), sigma(), temperature_,
                     options_.temperature_start, options_.temperature_end, options_.delta_sigmas,
                     options_.straight_through ? ", ST" : "");
}

}  // namespace lowbit::quant
