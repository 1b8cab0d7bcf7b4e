// conv2d: forward and backward side by side, through the dispatched conv kernels.
//
//   y[n,o] = bias[o] + sum_{c in group(o)} x[n,c] (*) w[o,c]       (cross-correlation, NCHW)
//   dx = conv_transpose(dy, w),  dw[o,c] = sum_n dy[n,o] (*) x[n,c],  dbias[o] = sum_{n,oh,ow} dy

#include "core/ops/conv.hpp"

#include "core/autograd.hpp"
#include "core/kernels/dispatch.hpp"

namespace lowbit::core {
namespace {

// Output extent of one spatial axis: floor((in + 2*pad - dilation*(k-1) - 1) / stride) + 1,
// or <= 0 when the dilated kernel does not fit the padded input.
std::int64_t output_extent(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                           std::int64_t dilation) {
  const std::int64_t span = dilation * (k - 1) + 1;  // receptive field of one output pixel
  if (in + 2 * pad < span) return 0;
  return (in + 2 * pad - span) / stride + 1;
}

// Checks x, weight, bias and p against each other; returns the kernel geometry.
kernels::ConvGeometry conv2d_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                      const Conv2dParams& p) {
  check(x.defined() && weight.defined(), "conv2d: x and weight must be defined tensors");
  check(x.dtype() == DType::f32 && weight.dtype() == DType::f32,
        "conv2d: expected f32 x and weight, got {} x {} and {} weight {}", dtype_name(x.dtype()),
        x.shape(), dtype_name(weight.dtype()), weight.shape());
  check(x.dim() == 4 && weight.dim() == 4,
        "conv2d: expected x (N,C,H,W) and weight (O,C/groups,KH,KW), got x {} and weight {}",
        x.shape(), weight.shape());
  check(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
            p.pad_h >= 0 && p.pad_w >= 0 && p.groups >= 1,
        "conv2d: invalid params stride ({}, {}), padding ({}, {}), dilation ({}, {}), groups {} "
        "for x {} and weight {}. HINT: strides, dilations and groups are >= 1, padding >= 0",
        p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups, x.shape(),
        weight.shape());
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t O = weight.size(0), KH = weight.size(2), KW = weight.size(3);
  check(C >= 1 && O >= 1 && KH >= 1 && KW >= 1 && weight.size(1) >= 1,
        "conv2d: empty channel or kernel axis in x {} or weight {}", x.shape(), weight.shape());
  check(C % p.groups == 0 && O % p.groups == 0,
        "conv2d: groups = {} must divide the input channels of x {} and the output channels of "
        "weight {}",
        p.groups, x.shape(), weight.shape());
  check(weight.size(1) * p.groups == C,
        "conv2d: weight {} expects {} input channels ({} per group x {} groups), but x {} has {}. "
        "HINT: weight is (O, C/groups, KH, KW)",
        weight.shape(), weight.size(1) * p.groups, weight.size(1), p.groups, x.shape(), C);
  if (bias.defined()) {
    check(bias.dtype() == DType::f32 && bias.dim() == 1 && bias.size(0) == O,
          "conv2d: bias {} ({}) does not match weight {}: expected an f32 bias of shape [{}]",
          bias.shape(), dtype_name(bias.dtype()), weight.shape(), O);
  }
  const std::int64_t OH = output_extent(H, KH, p.stride_h, p.pad_h, p.dilation_h);
  const std::int64_t OW = output_extent(W, KW, p.stride_w, p.pad_w, p.dilation_w);
  check(OH >= 1 && OW >= 1,
        "conv2d: kernel {}x{} with dilation ({}, {}) does not fit x {} padded by ({}, {}) "
        "(weight {}). HINT: increase padding or reduce the kernel or dilation",
        KH, KW, p.dilation_h, p.dilation_w, x.shape(), p.pad_h, p.pad_w, weight.shape());
  return {N,          C,          H,        W,        O,           KH,          KW,      OH, OW,
          p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups,
          p.exact};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  const kernels::ConvGeometry g = conv2d_geometry(x, weight, bias, p);
  const Tensor xc = x.contiguous().detach();       // xc: (N,C,H,W)
  const Tensor wc = weight.contiguous().detach();  // wc: (O,C/groups,KH,KW)
  const Tensor bc = bias.defined() ? bias.contiguous().detach() : Tensor();  // bc: (O)
  Tensor y = Tensor::uninitialized(Shape{g.N, g.O, g.OH, g.OW});  // kernels overwrite outputs
  kernels::kernels().conv2d_forward(g, xc.data<float>(), wc.data<float>(),
                                    bc.defined() ? bc.data<float>() : nullptr, y.data<float>());

  const bool need_x = x.requires_grad();
  const bool need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  // dx needs only the weight, dw only the input: save no more than the gradients asked for.
  return record(y, "conv2d", {x, weight, bias},
                [g, need_x, need_w, need_b, xs = need_w ? xc : Tensor(),
                 ws = need_x ? wc : Tensor()](const Tensor& grad) {
                  const Tensor dy = grad.contiguous();  // dy: (N,O,OH,OW)
                  const auto& k = kernels::kernels();
                  Tensor dx, dw, db;
                  if (need_x) {
                    dx = Tensor::uninitialized(Shape{g.N, g.C, g.H, g.W});
                    k.conv2d_backward_input(g, dy.data<float>(), ws.data<float>(),
                                            dx.data<float>());
                  }
                  if (need_w) {
                    dw = Tensor::uninitialized(Shape{g.O, g.C / g.groups, g.KH, g.KW});
                    if (need_b) db = Tensor::empty(Shape{g.O});
                    k.conv2d_backward_weight(g, xs.data<float>(), dy.data<float>(),
                                             dw.data<float>(), need_b ? db.data<float>() : nullptr);
                  } else if (need_b) {  // dbias alone, when dw is not wanted
                    db = Tensor::uninitialized(Shape{g.O});
                    kernels::conv2d_bias_grad(g, dy.data<float>(), db.data<float>());
                  }
                  return Grads{dx, dw, db};
                });
}

}  // namespace lowbit::core
