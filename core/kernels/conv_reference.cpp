// Reference twins of the conv2d kernels: the definition of the convolution written as direct
// loops, accumulating in double. Slow on purpose; the optimized kernels are tested against these.
//
//   y[n,o,oh,ow] = bias[o] + sum_{c,kh,kw} x[n, g*Cg + c, ih, iw] * w[o, c, kh, kw]
//   ih = oh*stride_h - pad_h + kh*dilation_h,  iw = ow*stride_w - pad_w + kw*dilation_w
//   g = o / Og (Cg = C/groups, Og = O/groups); taps with (ih, iw) outside the input read zero.

#include "core/kernels/conv.hpp"

#include <algorithm>
#include <vector>

namespace lowbit::core::kernels {
namespace {

// Calls f(c, ih, iw, kh, kw) for every in-bounds tap of output pixel (oh, ow) of a group;
// c is the channel index within the group.
template <typename F>
void for_each_tap(const ConvGeometry& g, std::int64_t Cg, std::int64_t oh, std::int64_t ow, F&& f) {
  for (std::int64_t c = 0; c < Cg; ++c) {
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
      if (ih < 0 || ih >= g.H) continue;
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
        if (iw < 0 || iw >= g.W) continue;
        f(c, ih, iw, kh, kw);
      }
    }
  }
}

}  // namespace

void conv2d_forward_reference(const ConvGeometry& g, const float* x, const float* w,
                              const float* bias, float* y) {
  const std::int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t o = 0; o < g.O; ++o) {
      const std::int64_t c0 = (o / Og) * Cg;  // first input channel of o's group
      const float* wo = w + o * Cg * g.KH * g.KW;  // wo: (Cg,KH,KW)
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          double acc = bias != nullptr ? bias[o] : 0.0;
          for_each_tap(g, Cg, oh, ow, [&](auto c, auto ih, auto iw, auto kh, auto kw) {
            acc += static_cast<double>(x[((n * g.C + c0 + c) * g.H + ih) * g.W + iw]) *
                   wo[(c * g.KH + kh) * g.KW + kw];
          });
          y[((n * g.O + o) * g.OH + oh) * g.OW + ow] = static_cast<float>(acc);
        }
      }
    }
  }
}

// dx[n, c0+c, ih, iw] = sum over the (o, oh, ow, kh, kw) whose tap reads that pixel of
// dy[n,o,oh,ow] * w[o,c,kh,kw]; scattered into a double buffer, then rounded once.
void conv2d_backward_input_reference(const ConvGeometry& g, const float* dy, const float* w,
                                     float* dx) {
  const std::int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  std::vector<double> acc(static_cast<std::size_t>(g.N * g.C * g.H * g.W), 0.0);  // (N,C,H,W)
  for (std::int64_t n = 0; n < g.N; ++n) {
    for (std::int64_t o = 0; o < g.O; ++o) {
      const std::int64_t c0 = (o / Og) * Cg;
      const float* wo = w + o * Cg * g.KH * g.KW;
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const double d = dy[((n * g.O + o) * g.OH + oh) * g.OW + ow];
          for_each_tap(g, Cg, oh, ow, [&](auto c, auto ih, auto iw, auto kh, auto kw) {
            acc[static_cast<std::size_t>(((n * g.C + c0 + c) * g.H + ih) * g.W + iw)] +=
                d * wo[(c * g.KH + kh) * g.KW + kw];
          });
        }
      }
    }
  }
  for (std::size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<float>(acc[i]);
}

// dw[o,c,kh,kw] = sum_{n,oh,ow} dy[n,o,oh,ow] * x[n, c0+c, ih, iw];
// dbias[o] = sum_{n,oh,ow} dy[n,o,oh,ow].
void conv2d_backward_weight_reference(const ConvGeometry& g, const float* x, const float* dy,
                                      float* dw, float* dbias) {
  const std::int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  const std::int64_t per_o = Cg * g.KH * g.KW;
  std::vector<double> acc(static_cast<std::size_t>(per_o));  // (Cg,KH,KW) of one o
  for (std::int64_t o = 0; o < g.O; ++o) {
    const std::int64_t c0 = (o / Og) * Cg;
    std::fill(acc.begin(), acc.end(), 0.0);
    double bias_acc = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n) {
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const double d = dy[((n * g.O + o) * g.OH + oh) * g.OW + ow];
          bias_acc += d;
          for_each_tap(g, Cg, oh, ow, [&](auto c, auto ih, auto iw, auto kh, auto kw) {
            acc[static_cast<std::size_t>((c * g.KH + kh) * g.KW + kw)] +=
                d * x[((n * g.C + c0 + c) * g.H + ih) * g.W + iw];
          });
        }
      }
    }
    for (std::int64_t i = 0; i < per_o; ++i) {
      dw[o * per_o + i] = static_cast<float>(acc[static_cast<std::size_t>(i)]);
    }
    if (dbias != nullptr) dbias[o] = static_cast<float>(bias_acc);
  }
}

}  // namespace lowbit::core::kernels
