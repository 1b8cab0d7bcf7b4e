#pragma once
// Elementwise ops with NumPy broadcasting. Arithmetic is f32; comparisons return u8 masks.

#include "core/tensor.hpp"

namespace lowbit::core {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, float exponent);
Tensor abs(const Tensor& x);        // d/dx = sign(x), 0 at 0
Tensor sign(const Tensor& x);       // +1 for x >= 0 (sign(0) = +1), -1 otherwise; gradient 0
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);       // gradient 0 at 0
Tensor clamp(const Tensor& x, float lo, float hi);  // gradient 1 on [lo, hi], 0 outside
Tensor hardtanh(const Tensor& x, float lo = -1.0f, float hi = 1.0f);
// mask (u8, broadcast) ? a : b; gradients flow to the chosen side.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);

// Comparisons against a scalar or a tensor (broadcast); u8 result, no gradient.
Tensor gt(const Tensor& x, float v);
Tensor ge(const Tensor& x, float v);
Tensor lt(const Tensor& x, float v);
Tensor le(const Tensor& x, float v);
Tensor eq(const Tensor& a, const Tensor& b);  // any dtype, same dtype on both sides

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, float b);
Tensor operator-(const Tensor& a, float b);
Tensor operator*(const Tensor& a, float b);
Tensor operator/(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(float a, const Tensor& b);

}  // namespace lowbit::core
