#include "quant/terms/cost.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <vector>

namespace lowbit::quant::terms {

std::int64_t linear_term_pairs(const std::int32_t* w_terms, const std::int32_t* x_terms,
                               std::int64_t out, std::int64_t in, std::int64_t batch) {
  // Σ_n Σ_o Σ_i w[o,i]·x[n,i] = Σ_i (Σ_o w[o,i]) · (Σ_n x[n,i])
  std::vector<std::int64_t> w_col(static_cast<std::size_t>(in), 0);  // (in)
  for (std::int64_t o = 0; o < out; ++o) {
    for (std::int64_t i = 0; i < in; ++i) w_col[static_cast<std::size_t>(i)] += w_terms[o * in + i];
  }
  std::int64_t total = 0;
  for (std::int64_t n = 0; n < batch; ++n) {
    for (std::int64_t i = 0; i < in; ++i) {
      total += w_col[static_cast<std::size_t>(i)] * x_terms[n * in + i];
    }
  }
  return total;
}

namespace {

void check_terms_tensor(const core::Tensor& t, std::int64_t ndim, const char* what) {
  core::check(t.defined() && t.dtype() == core::DType::i32 && t.dim() == ndim,
              "term-pair count: {} must be an i32 tensor with {} axes (kept_terms of "
              "reveal_weights / reveal_data)",
              what, ndim);
}

}  // namespace

std::int64_t linear_term_pairs(const core::Tensor& w_terms, const core::Tensor& x_terms) {
  check_terms_tensor(w_terms, 2, "weight terms (out, in)");
  check_terms_tensor(x_terms, 2, "input terms (batch, in)");
  core::check(w_terms.size(1) == x_terms.size(1),
              "linear term-pair count: weights {} and inputs {} disagree on the input size",
              w_terms.shape(), x_terms.shape());
  const core::Tensor wc = w_terms.contiguous();
  const core::Tensor xc = x_terms.contiguous();
  return linear_term_pairs(wc.data<std::int32_t>(), xc.data<std::int32_t>(), wc.size(0), wc.size(1),
                           xc.size(0));
}

std::int64_t conv2d_term_pairs(const core::Tensor& w_terms, const core::Tensor& x_terms,
                               const Conv2dGeometry& g) {
  check_terms_tensor(w_terms, 4, "weight terms (out, c, kh, kw)");
  check_terms_tensor(x_terms, 4, "input terms (n, c, h, w)");
  const std::int64_t O = w_terms.size(0), C = w_terms.size(1);
  const std::int64_t KH = w_terms.size(2), KW = w_terms.size(3);
  const std::int64_t N = x_terms.size(0), H = x_terms.size(2), W = x_terms.size(3);
  core::check(x_terms.size(1) == C,
              "conv2d term-pair count: weights {} and inputs {} disagree on the channels (grouped "
              "convolutions are not supported)",
              w_terms.shape(), x_terms.shape());
  core::check(g.stride_h >= 1 && g.stride_w >= 1 && g.dilation_h >= 1 && g.dilation_w >= 1 &&
                  g.pad_h >= 0 && g.pad_w >= 0,
              "conv2d term-pair count: strides and dilations must be >= 1, padding >= 0");
  const std::int64_t OH = (H + 2 * g.pad_h - g.dilation_h * (KH - 1) - 1) / g.stride_h + 1;
  const std::int64_t OW = (W + 2 * g.pad_w - g.dilation_w * (KW - 1) - 1) / g.stride_w + 1;
  core::check(OH >= 1 && OW >= 1, "conv2d term-pair count: input {} is smaller than the kernel {}",
              x_terms.shape(), w_terms.shape());

  const core::Tensor wc = w_terms.contiguous();
  const core::Tensor xc = x_terms.contiguous();
  const std::int32_t* wt = wc.data<std::int32_t>();  // (O, C, KH, KW)
  const std::int32_t* xt = xc.data<std::int32_t>();  // (N, C, H, W)

  // Every output channel sees the same inputs: sum the weight terms over `out` first.
  std::vector<std::int64_t> w_sum(static_cast<std::size_t>(C * KH * KW), 0);  // (C, KH, KW)
  for (std::int64_t o = 0; o < O; ++o) {
    for (std::int64_t i = 0; i < C * KH * KW; ++i) {
      w_sum[static_cast<std::size_t>(i)] += wt[o * C * KH * KW + i];
    }
  }
  std::int64_t total = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t c = 0; c < C; ++c) {
      const std::int32_t* plane = xt + (n * C + c) * H * W;  // (H, W)
      for (std::int64_t kh = 0; kh < KH; ++kh) {
        for (std::int64_t kw = 0; kw < KW; ++kw) {
          const std::int64_t wv = w_sum[static_cast<std::size_t>((c * KH + kh) * KW + kw)];
          if (wv == 0) continue;
          std::int64_t x_sum = 0;  // input terms this tap meets over all output positions
          for (std::int64_t oh = 0; oh < OH; ++oh) {
            const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
            if (ih < 0 || ih >= H) continue;
            for (std::int64_t ow = 0; ow < OW; ++ow) {
              const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
              if (iw >= 0 && iw < W) x_sum += plane[ih * W + iw];
            }
          }
          total += wv * x_sum;
        }
      }
    }
  }
  return total;
}

double budget_term_pairs(std::int64_t macs, const BudgetCost& cost) {
  core::check(cost.group_size >= 1 && cost.budget >= 0 && cost.data_terms >= 0,
              "budget term-pair count: group size must be >= 1, budget and data terms >= 0");
  const double w = cost.group_size == 1 ? std::min(cost.budget, cost.weight_bits) : cost.budget;
  const double d = std::min(cost.data_terms, cost.data_bits);
  return static_cast<double>(macs) * d * w / static_cast<double>(cost.group_size);
}

double uniform_term_pairs(std::int64_t macs, int weight_bits, int data_bits) {
  return static_cast<double>(macs) * weight_bits * data_bits;
}

}  // namespace lowbit::quant::terms
