#pragma once

#include "core/tensor.hpp"

namespace lowbit::core {

// a: (M,K), b: (K,N) -> (M,N) by OpenBLAS sgemm. Transposed views are passed to sgemm as
// transposes, not copied.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (N,I), weight: (O,I), bias: (O) or undefined -> (N,O) = x W^T + b.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace lowbit::core
