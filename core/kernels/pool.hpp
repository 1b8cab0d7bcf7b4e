#pragma once
// 2-D pooling kernels over NCHW float buffers; optimized (OpenMP over N*C planes) and reference twins.

#include <cstdint>

namespace lowbit::core::kernels {

struct PoolGeometry {
  std::int64_t N, C, H, W;  // x: (N,C,H,W)
  std::int64_t OH, OW;      // y: (N,C,OH,OW)
  std::int64_t KH, KW, SH, SW, PH, PW;
};

// argmax: (N,C,OH,OW) index into the H*W plane of the first maximal element.
void max_pool2d_forward_fast(const PoolGeometry& g, const float* x, float* y, std::int32_t* argmax);
void max_pool2d_forward_reference(const PoolGeometry& g, const float* x, float* y,
                                  std::int32_t* argmax);
// dx is overwritten.
void max_pool2d_backward_fast(const PoolGeometry& g, const float* dy, const std::int32_t* argmax,
                              float* dx);
void max_pool2d_backward_reference(const PoolGeometry& g, const float* dy,
                                   const std::int32_t* argmax, float* dx);

// Average including padding: every window divides by KH*KW.
void avg_pool2d_forward_fast(const PoolGeometry& g, const float* x, float* y);
void avg_pool2d_forward_reference(const PoolGeometry& g, const float* x, float* y);
void avg_pool2d_backward_fast(const PoolGeometry& g, const float* dy, float* dx);
void avg_pool2d_backward_reference(const PoolGeometry& g, const float* dy, float* dx);

}  // namespace lowbit::core::kernels
