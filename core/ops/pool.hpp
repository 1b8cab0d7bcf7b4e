#pragma once

#include "core/tensor.hpp"

#include <cstdint>

namespace lowbit::core {

struct Pool2dParams {
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;  // max: padding never wins; avg: padding counts as zeros
};

// x: (N,C,H,W) -> (N,C,OH,OW). Gradient goes to the first maximal element of each window.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
// Average over the window including padding (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);
// x: (N,C,H,W) -> (N,C).
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace lowbit::core
