#pragma once
// Winograd F(m x m, 3 x 3) kernels for 3x3, stride-1, undilated, ungrouped convolutions (the bulk
// of a ResNet): the same signatures and results as the im2col kernels, with fewer multiplies.
// The tile size m (2 or 4) is an argument so that tests can check both against the reference.

#include "core/kernels/conv.hpp"

namespace lowbit::core::kernels {

// The tile size the dispatcher should use for g (2 or 4), or 0 when Winograd does not apply or
// does not pay or is not wanted: another window, too few channels, g.exact, or a CPU without
// AVX2 and FMA (the kernels are compiled for them).
int winograd_tile(const ConvGeometry& g);

// Whether the kernels below accept g at all: 3x3, stride 1, dilation 1, groups 1, padding <= 2.
bool winograd_supports(const ConvGeometry& g);

void conv2d_forward_winograd(const ConvGeometry& g, const float* x, const float* w,
                             const float* bias, float* y, int tile);
void conv2d_backward_input_winograd(const ConvGeometry& g, const float* dy, const float* w,
                                    float* dx, int tile);
void conv2d_backward_weight_winograd(const ConvGeometry& g, const float* x, const float* dy,
                                     float* dw, float* dbias, int tile);

}  // namespace lowbit::core::kernels
