#pragma once
// Reductions. `axes` may be negative; keepdim keeps reduced axes with extent 1.

#include "core/tensor.hpp"

#include <vector>

namespace lowbit::core {

Tensor sum(const Tensor& x);  // all elements -> 0-d
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim = false);
// Maximum along one axis; the gradient goes to the first maximal element.
Tensor max(const Tensor& x, std::int64_t axis, bool keepdim = false);
Tensor argmax(const Tensor& x, std::int64_t axis, bool keepdim = false);  // i64, first maximum
// Sums a broadcast result back down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace lowbit::core
