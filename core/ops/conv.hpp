#pragma once

#include "core/tensor.hpp"

#include <cstdint>

namespace lowbit::core {

struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;  // zero padding
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
  // Sum the products directly (im2col + sgemm), not through Winograd's fractional transforms:
  // integer-valued inputs then give exactly integer sums, as quantized layers in evaluation need
  // to match the integer engine bit for bit.
  bool exact = false;
};

// x: (N,C,H,W), weight: (O,C/groups,KH,KW), bias: (O) or undefined -> (N,O,OH,OW).
// Winograd for 3x3 and 5x5 stride-1 convs (unless p.exact), else im2col + sgemm.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

}  // namespace lowbit::core
