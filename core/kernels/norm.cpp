// Batch normalisation (Ioffe & Szegedy 2015) over x: (N,C,S), per channel c, M = N*S elements.
//
// Forward (training): mean = sum x / M, var = sum (x - mean)^2 / M (biased; two passes, in
//   double), invstd = 1/sqrt(var + eps); y = (x - mean) * invstd * gamma + beta.
// Forward (use_given_stats): mean and invstd are inputs.
// Backward, with xhat = (x - mean) * invstd:
//   dbeta = sum dy, dgamma = sum dy * xhat (both modes);
//   training: dx = gamma*invstd/M * (M*dy - sum dy - xhat * sum dy*xhat);
//   given stats: dx = dy * gamma * invstd.
// gamma/beta nullptr mean 1 and 0. Channel sums are accumulated in double: the reference twins
// element by element, the fast twins row by row (each row of S elements summed in float, in SIMD
// lanes, and the rows in double).
//
// The fast twins run OpenMP over channels and walk each channel's N rows of S contiguous floats;
// the reference twins index every element directly.

#include "core/kernels/norm.hpp"

#include <cmath>

namespace lowbit::core::kernels {

// Below this many elements a parallel region costs more than it saves.
constexpr std::int64_t kParallelMinElements = 1 << 15;
namespace {

inline float gamma_of(const float* gamma, std::int64_t c) { return gamma ? gamma[c] : 1.0f; }
inline float beta_of(const float* beta, std::int64_t c) { return beta ? beta[c] : 0.0f; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// forward

void batch_norm_forward_fast(std::int64_t N, std::int64_t C, std::int64_t S, const float* x,
                             const float* gamma, const float* beta, float eps,
                             bool use_given_stats, float* mean, float* invstd, float* y) {
  const std::int64_t M = N * S;
#pragma omp parallel for schedule(static) if (C * M >= kParallelMinElements)
  for (std::int64_t c = 0; c < C; ++c) {
    if (!use_given_stats) {
      double s = 0.0;
      for (std::int64_t n = 0; n < N; ++n) {
        const float* xr = x + (n * C + c) * S;  // xr: (S)
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (std::int64_t i = 0; i < S; ++i) part += xr[i];
        s += part;
      }
      const double mu = s / static_cast<double>(M);
      const auto muf = static_cast<float>(mu);
      double ss = 0.0;
      for (std::int64_t n = 0; n < N; ++n) {
        const float* xr = x + (n * C + c) * S;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (std::int64_t i = 0; i < S; ++i) {
          const float d = xr[i] - muf;
          part += d * d;
        }
        ss += part;
      }
      mean[c] = static_cast<float>(mu);
      invstd[c] = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(M) + eps));
    }
    // y = x * scale + shift with scale = gamma*invstd, shift = beta - mean*scale.
    const float scale = gamma_of(gamma, c) * invstd[c];
    const float shift = beta_of(beta, c) - mean[c] * scale;
    for (std::int64_t n = 0; n < N; ++n) {
      const float* xr = x + (n * C + c) * S;
      float* yr = y + (n * C + c) * S;
      for (std::int64_t i = 0; i < S; ++i) yr[i] = xr[i] * scale + shift;
    }
  }
}

void batch_norm_forward_reference(std::int64_t N, std::int64_t C, std::int64_t S, const float* x,
                                  const float* gamma, const float* beta, float eps,
                                  bool use_given_stats, float* mean, float* invstd, float* y) {
  const double M = static_cast<double>(N * S);
  for (std::int64_t c = 0; c < C; ++c) {
    if (!use_given_stats) {
      double s = 0.0;
      for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t i = 0; i < S; ++i) s += x[(n * C + c) * S + i];
      }
      const double mu = s / M;
      double ss = 0.0;
      for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t i = 0; i < S; ++i) {
          const double d = x[(n * C + c) * S + i] - mu;
          ss += d * d;
        }
      }
      mean[c] = static_cast<float>(mu);
      invstd[c] = static_cast<float>(1.0 / std::sqrt(ss / M + eps));
    }
    const double mu = mean[c], is = invstd[c];
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t i = 0; i < S; ++i) {
        const std::int64_t k = (n * C + c) * S + i;
        y[k] = static_cast<float>((x[k] - mu) * is * gamma_of(gamma, c) + beta_of(beta, c));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// backward

void batch_norm_backward_fast(std::int64_t N, std::int64_t C, std::int64_t S, const float* dy,
                              const float* x, const float* mean, const float* invstd,
                              const float* gamma, bool use_given_stats, float* dx, float* dgamma,
                              float* dbeta) {
  const std::int64_t M = N * S;
#pragma omp parallel for schedule(static) if (C * M >= kParallelMinElements)
  for (std::int64_t c = 0; c < C; ++c) {
    const float mu = mean[c], is = invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (std::int64_t n = 0; n < N; ++n) {
      const float* xr = x + (n * C + c) * S;  // xr, dyr: (S)
      const float* dyr = dy + (n * C + c) * S;
      float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
      for (std::int64_t i = 0; i < S; ++i) {
        a += dyr[i];
        b += dyr[i] * (xr[i] - mu);
      }
      sum_dy += a;
      sum_dy_xhat += b;
    }
    sum_dy_xhat *= is;
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (!dx) continue;
    const float k = gamma_of(gamma, c) * is;
    if (use_given_stats) {
      for (std::int64_t n = 0; n < N; ++n) {
        const float* dyr = dy + (n * C + c) * S;
        float* dxr = dx + (n * C + c) * S;
        for (std::int64_t i = 0; i < S; ++i) dxr[i] = dyr[i] * k;
      }
    } else {
      // dx = k * (dy - sum_dy/M - xhat * sum_dy_xhat/M), xhat = (x - mu) * is.
      const float mean_dy = static_cast<float>(sum_dy / static_cast<double>(M));
      const float xcoef = static_cast<float>(sum_dy_xhat / static_cast<double>(M)) * is;
      for (std::int64_t n = 0; n < N; ++n) {
        const float* xr = x + (n * C + c) * S;
        const float* dyr = dy + (n * C + c) * S;
        float* dxr = dx + (n * C + c) * S;
        for (std::int64_t i = 0; i < S; ++i) {
          dxr[i] = k * (dyr[i] - mean_dy - (xr[i] - mu) * xcoef);
        }
      }
    }
  }
}

void batch_norm_backward_reference(std::int64_t N, std::int64_t C, std::int64_t S,
                                   const float* dy, const float* x, const float* mean,
                                   const float* invstd, const float* gamma, bool use_given_stats,
                                   float* dx, float* dgamma, float* dbeta) {
  const double M = static_cast<double>(N * S);
  for (std::int64_t c = 0; c < C; ++c) {
    const double mu = mean[c], is = invstd[c], gm = gamma_of(gamma, c);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t i = 0; i < S; ++i) {
        const std::int64_t k = (n * C + c) * S + i;
        sum_dy += dy[k];
        sum_dy_xhat += dy[k] * (x[k] - mu) * is;
      }
    }
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (!dx) continue;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t i = 0; i < S; ++i) {
        const std::int64_t k = (n * C + c) * S + i;
        const double xhat = (x[k] - mu) * is;
        dx[k] = use_given_stats
                    ? static_cast<float>(dy[k] * gm * is)
                    : static_cast<float>(gm * is / M * (M * dy[k] - sum_dy - xhat * sum_dy_xhat));
      }
    }
  }
}

}  // namespace lowbit::core::kernels
