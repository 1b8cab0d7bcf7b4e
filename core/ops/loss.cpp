// log_softmax and cross_entropy, as raw loops over contiguous data (they are small).
//
// log_softmax along an axis of length L, x viewed as (outer, L, inner):
//   out_l = (x_l - max) - log sum_k exp(x_k - max)    (subtracting the max keeps exp <= 1)
//   backward: dx_l = g_l - exp(out_l) * sum_k g_k.
// cross_entropy over logits: (N,C), target: (N) i64, label smoothing s:
//   q_c = (1-s) [c == t] + s/C,  loss_i = -sum_c q_c log p_c = lse_i - sum_c q_c x_c  (sum q = 1),
//   loss = mean_i loss_i;  dlogits_ic = g/N * (p_ic - q_ic).

#include "core/ops/loss.hpp"

#include "core/autograd.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lowbit::core {
namespace {

// Writes log_softmax of the L values at x[0], x[inner], ... into out (same strides).
inline void log_softmax_line(const float* x, float* out, std::int64_t L, std::int64_t inner) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t l = 0; l < L; ++l) m = std::max(m, x[l * inner]);
  if (std::isinf(m) && m < 0) m = 0.0f;  // all -inf: avoid (-inf) - (-inf)
  double s = 0.0;
  for (std::int64_t l = 0; l < L; ++l) s += std::exp(static_cast<double>(x[l * inner] - m));
  // (x - m) - log s, not x - (m + log s): at |m| ~ 1000 the latter rounds log s to m's ulp.
  const float log_s = static_cast<float>(std::log(s));
  for (std::int64_t l = 0; l < L; ++l) out[l * inner] = (x[l * inner] - m) - log_s;
}

}  // namespace

Tensor log_softmax(const Tensor& x, std::int64_t axis) {
  check(x.defined(), "log_softmax: input is undefined");
  check(x.dim() >= 1, "log_softmax: expected at least one axis, got shape {}", x.shape());
  check(x.dtype() == DType::f32, "log_softmax: expected f32 input, got {} (shape {})",
        dtype_name(x.dtype()), x.shape());
  const std::int64_t a = normalize_axis(axis, x.dim(), "log_softmax");
  const std::int64_t L = x.size(a);
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < a; ++d) outer *= x.size(d);
  for (std::int64_t d = a + 1; d < x.dim(); ++d) inner *= x.size(d);

  const Tensor xc = x.detach().contiguous();  // xc: (outer, L, inner)
  Tensor out = Tensor::empty(x.shape());       // out: (outer, L, inner)
  const float* xp = xc.data<float>();
  float* op = out.data<float>();
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      log_softmax_line(xp + o * L * inner + i, op + o * L * inner + i, L, inner);
    }
  }
  return record(out, "log_softmax", {x},
                [saved = out.detach(), outer, L, inner](const Tensor& grad) {
                  const Tensor gc = grad.contiguous();  // gc: (outer, L, inner)
                  Tensor dx = Tensor::empty(saved.shape());
                  const float* gp = gc.data<float>();
                  const float* yp = saved.data<float>();
                  float* dp = dx.data<float>();
                  for (std::int64_t o = 0; o < outer; ++o) {
                    for (std::int64_t i = 0; i < inner; ++i) {
                      const std::int64_t base = o * L * inner + i;
                      double s = 0.0;
                      for (std::int64_t l = 0; l < L; ++l) s += gp[base + l * inner];
                      for (std::int64_t l = 0; l < L; ++l) {
                        const std::int64_t k = base + l * inner;
                        dp[k] = gp[k] - std::exp(yp[k]) * static_cast<float>(s);
                      }
                    }
                  }
                  return Grads{dx};
                });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing) {
  check(logits.defined() && target.defined(), "cross_entropy: logits or target is undefined");
  check(logits.dim() == 2, "cross_entropy: expected logits of shape (N,C), got {}",
        logits.shape());
  check(logits.dtype() == DType::f32, "cross_entropy: expected f32 logits, got {} (shape {})",
        dtype_name(logits.dtype()), logits.shape());
  const std::int64_t N = logits.size(0), C = logits.size(1);
  check(target.dtype() == DType::i64,
        "cross_entropy: target must be i64 class indices, got {} (shape {}). HINT: convert "
        "labels with .to(DType::i64)",
        dtype_name(target.dtype()), target.shape());
  check(target.shape() == Shape{N},
        "cross_entropy: target has shape {}, expected [{}] for logits {}", target.shape(), N,
        logits.shape());
  check(N > 0 && C > 0, "cross_entropy: empty logits {}", logits.shape());
  check(label_smoothing >= 0.0f && label_smoothing <= 1.0f,
        "cross_entropy: label_smoothing must be in [0, 1], got {}", label_smoothing);
  const std::vector<std::int64_t> t = target.to_vector<std::int64_t>();
  for (std::int64_t i = 0; i < N; ++i) {
    const std::int64_t v = t[static_cast<std::size_t>(i)];
    check(v >= 0 && v < C,
          "cross_entropy: target value {} at index {} is outside [0, {}) for logits {}", v, i, C,
          logits.shape());
  }

  const Tensor xc = logits.detach().contiguous();  // xc: (N,C)
  Tensor probs = Tensor::empty({N, C});            // probs: (N,C) softmax, saved for backward
  const float* xp = xc.data<float>();
  float* pp = probs.data<float>();
  const double s = label_smoothing, off = s / static_cast<double>(C);  // q = (1-s) onehot + off
  double total = 0.0;
  for (std::int64_t i = 0; i < N; ++i) {
    const float* row = xp + i * C;
    float* prow = pp + i * C;
    log_softmax_line(row, prow, C, 1);  // prow = log p
    // loss_i = -sum_c q_c log p_c
    double sum_logp = 0.0;
    for (std::int64_t c = 0; c < C; ++c) sum_logp += prow[c];
    total += -(1.0 - s) * prow[t[static_cast<std::size_t>(i)]] - off * sum_logp;
    for (std::int64_t c = 0; c < C; ++c) prow[c] = std::exp(prow[c]);
  }
  Tensor loss = Tensor::scalar(static_cast<float>(total / static_cast<double>(N)));
  return record(loss, "cross_entropy", {logits},
                [probs, t, N, C, off, s](const Tensor& grad) {
                  const float g = static_cast<float>(grad.item()) / static_cast<float>(N);
                  Tensor dx = Tensor::empty({N, C});
                  const float* pp = probs.data<float>();
                  float* dp = dx.data<float>();
                  for (std::int64_t i = 0; i < N; ++i) {
                    for (std::int64_t c = 0; c < C; ++c) {
                      dp[i * C + c] = g * (pp[i * C + c] - static_cast<float>(off));
                    }
                    dp[i * C + t[static_cast<std::size_t>(i)]] -= g * static_cast<float>(1.0 - s);
                  }
                  return Grads{dx};
                });
}

}  // namespace lowbit::core
