#pragma once
// 2-D convolution kernels over NCHW float buffers. The `_fast` kernels are the dispatch table's:
// Winograd (conv_winograd.hpp) for the 3x3 stride-1 convs it pays on, im2col + sgemm (OpenMP over
// the batch) for the rest. Each has a reference twin (direct loops) with the same signature.

#include <cstdint>

namespace lowbit::core::kernels {

struct ConvGeometry {
  std::int64_t N, C, H, W;     // input  x: (N,C,H,W)
  std::int64_t O, KH, KW;      // weight w: (O, C/groups, KH, KW)
  std::int64_t OH, OW;         // output y: (N,O,OH,OW)
  std::int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
  bool exact = false;  // no Winograd (see Conv2dParams::exact)
};

// y = conv(x, w) + bias; bias: (O) or nullptr. y is overwritten.
void conv2d_forward_im2col(const ConvGeometry& g, const float* x, const float* w,
                           const float* bias, float* y);
void conv2d_forward_reference(const ConvGeometry& g, const float* x, const float* w,
                              const float* bias, float* y);

// dx = dL/dx given dy: (N,O,OH,OW). dx is overwritten.
void conv2d_backward_input_im2col(const ConvGeometry& g, const float* dy, const float* w,
                                  float* dx);
void conv2d_backward_input_reference(const ConvGeometry& g, const float* dy, const float* w,
                                     float* dx);

// dw = dL/dw, dbias = dL/dbias (nullptr to skip). Both are overwritten.
void conv2d_backward_weight_im2col(const ConvGeometry& g, const float* x, const float* dy,
                                   float* dw, float* dbias);
void conv2d_backward_weight_reference(const ConvGeometry& g, const float* x, const float* dy,
                                      float* dw, float* dbias);

// dbias[o] = sum over n, oh, ow of dy[n, o, oh, ow]; dy: (N, O, OH, OW).
void conv2d_bias_grad(const ConvGeometry& g, const float* dy, float* dbias);

void conv2d_forward_fast(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                         float* y);
void conv2d_backward_input_fast(const ConvGeometry& g, const float* dy, const float* w, float* dx);
void conv2d_backward_weight_fast(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                                 float* dbias);

}  // namespace lowbit::core::kernels
