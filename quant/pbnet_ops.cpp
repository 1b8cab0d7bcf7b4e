// PBNet ops (see pbnet_ops.hpp): channel concatenation, stochastic BN and the binary-concrete
// sign, each a fused loop over the (N, C, S) view of its input (S = product of the axes after 1)
// with its backward beside it. Per-channel sums accumulate in double.

#include "quant/pbnet_ops.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace lowbit::quant {
namespace {

// Extent of the axes after axis 1 (1 for a 2-D tensor).
std::int64_t inner_size(const Tensor& x) {
  std::int64_t s = 1;
  for (std::int64_t a = 2; a < x.dim(); ++a) s *= x.size(a);
  return s;
}

// The shape of x with axis 1 set to `c`.
core::Shape with_channels(const Tensor& x, std::int64_t c) {
  std::vector<std::int64_t> dims = x.shape().dims();
  dims[1] = c;
  return core::Shape(dims);
}

// C of a distribution tensor (N, 2C, ...); `who` names the op in the error.
std::int64_t distribution_channels(const Tensor& x, const char* who) {
  core::check(x.defined() && x.dim() >= 2 && x.size(1) % 2 == 0 && x.dtype() == core::DType::f32,
              "{}: expected an f32 distribution tensor (N, 2C, ...) holding means then variances, "
              "got {}. HINT: feed it the output of a PbConv2d/PbLinear or a StochasticBatchNorm",
              who, x.defined() ? x.shape().str() : std::string("an undefined tensor"));
  return x.size(1) / 2;
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// logit(Phi(t)) and its derivative tabulated on [-kMaxScore, kMaxScore].
struct LogitPhiTable {
  static constexpr int kIntervals = 16384;
  static constexpr double kStep = 2.0 * kMaxScore / kIntervals;
  std::array<float, kIntervals + 1> value{}, slope{};

  LogitPhiTable() {
    for (int i = 0; i <= kIntervals; ++i) {
      const double t = -kMaxScore + i * kStep;
      const double p = 0.5 * std::erfc(-t / std::sqrt(2.0));  // Phi(t)
      const double q = 0.5 * std::erfc(t / std::sqrt(2.0));   // Phi(-t), accurate for t >> 0
      const double phi = std::exp(-0.5 * t * t) / std::sqrt(2.0 * M_PI);
      value[static_cast<std::size_t>(i)] = static_cast<float>(std::log(p) - std::log(q));
      slope[static_cast<std::size_t>(i)] = static_cast<float>(phi / (p * q));
    }
  }
  // Linear interpolation in `table` at t (clamped to the table's range).
  static float at(const std::array<float, kIntervals + 1>& table, float t) {
    const double pos = (std::clamp(static_cast<double>(t), -double(kMaxScore), double(kMaxScore)) +
                        kMaxScore) / kStep;
    const int i = std::min(static_cast<int>(pos), kIntervals - 1);
    const float f = static_cast<float>(pos - i);
    return table[static_cast<std::size_t>(i)] * (1.0f - f) + table[static_cast<std::size_t>(i) + 1] * f;
  }
};

const LogitPhiTable& logit_phi_table() {
  static const LogitPhiTable table;
  return table;
}

}  // namespace

float logit_normal_cdf(float t) { return LogitPhiTable::at(logit_phi_table().value, t); }
float logit_normal_cdf_derivative(float t) { return LogitPhiTable::at(logit_phi_table().slope, t); }

// ---- cat_channels --------------------------------------------------------------------------

Tensor cat_channels(const Tensor& a, const Tensor& b) {
  core::check(a.defined() && b.defined() && a.dim() >= 2 && a.dim() == b.dim() &&
                  a.dtype() == core::DType::f32 && b.dtype() == core::DType::f32,
              "cat_channels: expected two f32 tensors (N, C, ...) of the same rank, got {} and {}",
              a.defined() ? a.shape().str() : "undefined", b.defined() ? b.shape().str() : "undefined");
  for (std::int64_t ax = 0; ax < a.dim(); ++ax) {
    core::check(ax == 1 || a.size(ax) == b.size(ax),
                "cat_channels: shapes {} and {} differ on axis {} (only axis 1 may differ)",
                a.shape(), b.shape(), ax);
  }
  const std::int64_t N = a.size(0), Ca = a.size(1), Cb = b.size(1), S = inner_size(a);
  const Tensor ac = a.detach().contiguous(), bc = b.detach().contiguous();
  Tensor out = Tensor::uninitialized(with_channels(a, Ca + Cb));  // out: (N, Ca+Cb, S)
  float* o = out.data<float>();
  const float* pa = ac.data<float>();
  const float* pb = bc.data<float>();
  for (std::int64_t n = 0; n < N; ++n) {
    std::copy(pa + n * Ca * S, pa + (n + 1) * Ca * S, o + n * (Ca + Cb) * S);
    std::copy(pb + n * Cb * S, pb + (n + 1) * Cb * S, o + n * (Ca + Cb) * S + Ca * S);
  }
  return core::record(out, "cat_channels", {a, b}, [Ca, Cb](const Tensor& g) {
    return core::Grads{g.slice(1, 0, Ca).contiguous(), g.slice(1, Ca, Ca + Cb).contiguous()};
  });
}

// ---- stochastic_batch_norm -----------------------------------------------------------------

Tensor stochastic_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             Tensor running_mean, Tensor running_var, bool training,
                             float momentum, float eps) {
  const std::int64_t C = distribution_channels(x, "stochastic_batch_norm");
  const std::int64_t N = x.size(0), S = inner_size(x), M = N * S;
  for (const Tensor* t : std::array<const Tensor*, 4>{&gamma, &beta, &running_mean, &running_var}) {
    core::check(!t->defined() || t->shape() == core::Shape{C},
                "stochastic_batch_norm: parameters and running stats must have shape [{}] for "
                "input {}, got {}", C, x.shape(), t->shape());
  }
  core::check(gamma.defined() == beta.defined(),
              "stochastic_batch_norm: gamma and beta must be both given or both undefined");
  core::check(running_mean.defined() && running_var.defined(),
              "stochastic_batch_norm: running_mean and running_var are required");
  core::check(!training || M > 1,
              "stochastic_batch_norm: training needs more than one value per channel, got {}",
              x.shape());

  const Tensor xc = x.detach().contiguous();  // xc: (N, 2C, S): means, then variances
  const Tensor gc = gamma.defined() ? gamma.detach().contiguous() : Tensor();
  const float* px = xc.data<float>();
  const float* pg = data_or_null(gc);
  const float* pbeta = beta.defined() ? beta.detach().contiguous().data<float>() : nullptr;
  Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C});  // per channel m, 1/sqrt(v+eps)
  float* pm = mean.data<float>();
  float* pr = invstd.data<float>();
  float* rm = running_mean.data<float>();
  float* rv = running_var.data<float>();
  Tensor y = Tensor::uninitialized(x.shape());  // y: (N, 2C, S)
  float* py = y.data<float>();

#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < C; ++c) {
    double m = rm[c], v = rv[c];
    if (training) {
      double s1 = 0.0, s2 = 0.0;
      for (std::int64_t n = 0; n < N; ++n) {
        const float* mu = px + (n * 2 * C + c) * S;
        const float* var = mu + C * S;
        for (std::int64_t i = 0; i < S; ++i) {
          s1 += mu[i];
          s2 += double(mu[i]) * mu[i] + var[i];
        }
      }
      m = s1 / double(M);
      v = std::max(0.0, s2 / double(M) - m * m);
      rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * m);
      rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * v * double(M) / double(M - 1));
    }
    const double r = 1.0 / std::sqrt(v + eps);
    pm[c] = static_cast<float>(m);
    pr[c] = static_cast<float>(r);
    const double g = pg ? pg[c] : 1.0, b = pbeta ? pbeta[c] : 0.0;
    const float a_mu = static_cast<float>(g * r), b_mu = static_cast<float>(b - g * r * m);
    const float a_var = static_cast<float>(g * g * r * r);
    for (std::int64_t n = 0; n < N; ++n) {
      const float* mu = px + (n * 2 * C + c) * S;
      const float* var = mu + C * S;
      float* ymu = py + (n * 2 * C + c) * S;
      float* yvar = ymu + C * S;
      for (std::int64_t i = 0; i < S; ++i) {
        ymu[i] = a_mu * mu[i] + b_mu;
        yvar[i] = a_var * var[i];
      }
    }
  }

  const bool need_dgamma = gamma.defined() && gamma.requires_grad();
  const bool need_dbeta = beta.defined() && beta.requires_grad();
  return core::record(
      y, "stochastic_batch_norm", {x, gamma, beta},
      [xc, gc, mean, invstd, N, C, S, training, need_dgamma, need_dbeta](const Tensor& grad) {
        const Tensor gy = grad.contiguous();  // gy: (N, 2C, S)
        const float* pgy = gy.data<float>();
        const float* px = xc.data<float>();
        const float* pg = data_or_null(gc);
        Tensor dx = Tensor::uninitialized(xc.shape());
        Tensor dgamma = need_dgamma ? Tensor::empty({C}) : Tensor();
        Tensor dbeta = need_dbeta ? Tensor::empty({C}) : Tensor();
        float* pdx = dx.data<float>();
        const double Md = double(N * S);
#pragma omp parallel for schedule(static)
        for (std::int64_t c = 0; c < C; ++c) {
          const double m = mean.data<float>()[c], r = invstd.data<float>()[c];
          const double g = pg ? pg[c] : 1.0;
          double sgy = 0.0, sgy_xc = 0.0, sgz_s = 0.0;  // sum gy, sum gy (mu - m), sum gz s
          for (std::int64_t n = 0; n < N; ++n) {
            const std::int64_t o = (n * 2 * C + c) * S;
            for (std::int64_t i = 0; i < S; ++i) {
              sgy += pgy[o + i];
              sgy_xc += double(pgy[o + i]) * (px[o + i] - m);
              sgz_s += double(pgy[o + C * S + i]) * px[o + C * S + i];
            }
          }
          if (need_dbeta) dbeta.data<float>()[c] = static_cast<float>(sgy);
          if (need_dgamma) {
            dgamma.data<float>()[c] = static_cast<float>(r * sgy_xc + 2.0 * g * r * r * sgz_s);
          }
          // Training: m and v depend on the batch (v through mean(s + mu^2) and m).
          double k_mean = 0.0, k_centered = 0.0, k_var = 0.0;
          if (training) {
            const double dl_dr = g * sgy_xc + 2.0 * g * g * r * sgz_s;
            const double dl_dv = -0.5 * r * r * r * dl_dr;
            k_mean = -g * r * sgy / Md;   // d/dm through the centering, spread over mu_i
            k_centered = 2.0 * dl_dv / Md;  // times (mu_i - m)
            k_var = dl_dv / Md;
          }
          const float a_mu = static_cast<float>(g * r), a_var = static_cast<float>(g * g * r * r);
          for (std::int64_t n = 0; n < N; ++n) {
            const std::int64_t o = (n * 2 * C + c) * S;
            for (std::int64_t i = 0; i < S; ++i) {
              pdx[o + i] = static_cast<float>(a_mu * pgy[o + i] + k_mean + k_centered * (px[o + i] - m));
              pdx[o + C * S + i] = static_cast<float>(a_var * pgy[o + C * S + i] + k_var);
            }
          }
        }
        return core::Grads{dx, dgamma, dbeta};
      });
}

// ---- concrete_sign ---------------------------------------------------------------------------

Tensor concrete_sign(const Tensor& x, float tau, core::Rng& rng, bool straight_through) {
  const std::int64_t C = distribution_channels(x, "concrete_sign");
  core::check(tau > 0.0f && std::isfinite(tau),
              "concrete_sign: the temperature tau must be positive and finite, got {}", tau);
  const std::int64_t N = x.size(0), S = inner_size(x), n_out = N * C * S;
  const Tensor xc = x.detach().contiguous();  // xc: (N, 2C, S)
  const float* px = xc.data<float>();
  // u ~ U(0, 1), drawn serially in output order so the stream is the same for any thread count.
  std::vector<float> u(static_cast<std::size_t>(n_out));
  rng.fill_uniform(u.data(), n_out, 0.0f, 1.0f);

  Tensor h = Tensor::uninitialized(with_channels(x, C));  // h: (N, C, S)
  Tensor dmu = Tensor::uninitialized(h.shape()), dvar = Tensor::uninitialized(h.shape());
  float* ph = h.data<float>();
  float* pdm = dmu.data<float>();
  float* pdv = dvar.data<float>();
  const float inv_tau = 1.0f / tau;
  const LogitPhiTable& table = logit_phi_table();
#pragma omp parallel for schedule(static)
  for (std::int64_t nc = 0; nc < N * C; ++nc) {
    const std::int64_t n = nc / C, c = nc % C;
    const float* mu = px + (n * 2 * C + c) * S;
    const float* var = mu + C * S;
    for (std::int64_t i = 0; i < S; ++i) {
      const std::int64_t o = nc * S + i;
      const float v = std::max(var[i], 0.0f) + kVarEps;
      const float sd = std::sqrt(v);
      const float t = mu[i] / sd;
      const bool clamped = !(std::fabs(t) < kMaxScore);
      const float logit_p = LogitPhiTable::at(table.value, t);
      const float uu = u[static_cast<std::size_t>(o)] + 0x1p-25f;  // in (0, 1): both logs finite
      const float noise = std::log(uu / (1.0f - uu));               // logistic noise
      // h = 2 sigmoid(z) - 1 = (1 - e^-z) / (1 + e^-z), z clamped so e^-z stays finite (expf is
      // several times cheaper than tanhf here, and this loop runs over every activation).
      const float z = std::clamp((logit_p + noise) * inv_tau, -80.0f, 80.0f);
      const float e = std::exp(-z);
      const float hv = (1.0f - e) / (1.0f + e);
      ph[o] = straight_through ? (hv >= 0.0f ? 1.0f : -1.0f) : hv;
      // dh/dt = (1 - h^2)/2 * (1/tau) * dlogitPhi/dt; dt/dmu = 1/sd, dt/ds = -t / (2 v).
      const float dh_dt =
          clamped ? 0.0f : 0.5f * (1.0f - hv * hv) * inv_tau * LogitPhiTable::at(table.slope, t);
      pdm[o] = dh_dt / sd;
      pdv[o] = -dh_dt * t / (2.0f * v);
    }
  }
  return core::record(h, "concrete_sign", {x}, [dmu, dvar, N, C, S, shape = x.shape()](const Tensor& grad) {
    const Tensor g = grad.contiguous();  // g: (N, C, S)
    Tensor dx = Tensor::uninitialized(shape);  // dx: (N, 2C, S)
    const float* pg = g.data<float>();
    const float* pm = dmu.data<float>();
    const float* pv = dvar.data<float>();
    float* pdx = dx.data<float>();
    for (std::int64_t nc = 0; nc < N * C; ++nc) {
      const std::int64_t n = nc / C, c = nc % C;
      float* dm = pdx + (n * 2 * C + c) * S;
      float* dv = dm + C * S;
      for (std::int64_t i = 0; i < S; ++i) {
        dm[i] = pg[nc * S + i] * pm[nc * S + i];
        dv[i] = pg[nc * S + i] * pv[nc * S + i];
      }
    }
    return core::Grads{dx};
  });
}

// ---- sign_of_mean ----------------------------------------------------------------------------

Tensor sign_of_mean(const Tensor& x) {
  const std::int64_t C = distribution_channels(x, "sign_of_mean");
  const std::int64_t N = x.size(0), S = inner_size(x);
  const Tensor xc = x.detach().contiguous();
  Tensor h = Tensor::uninitialized(with_channels(x, C));
  const float* px = xc.data<float>();
  float* ph = h.data<float>();
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t j = 0; j < C * S; ++j) {
      ph[n * C * S + j] = px[n * 2 * C * S + j] >= 0.0f ? 1.0f : -1.0f;
    }
  }
  return h;
}

}  // namespace lowbit::quant
