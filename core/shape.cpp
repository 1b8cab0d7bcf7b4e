#include "core/shape.hpp"

#include "core/error.hpp"

#include <fmt/ranges.h>

#include <algorithm>

namespace lowbit::core {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {
  check(dims_.size() <= kMaxDims, "Shape: {} dimensions given, lowbit tensors have at most {}",
        dims_.size(), kMaxDims);
  for (std::int64_t d : dims_) {
    check(d >= 0, "Shape: negative extent {} in {}", d, fmt::join(dims_, ", "));
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims_) n *= d;
  return n;
}

std::int64_t Shape::operator[](std::int64_t axis) const {
  return dims_[static_cast<std::size_t>(normalize_axis(axis, ndim(), "Shape[]"))];
}

std::int64_t& Shape::operator[](std::int64_t axis) {
  return dims_[static_cast<std::size_t>(normalize_axis(axis, ndim(), "Shape[]"))];
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(dims_, ", ")); }

Strides contiguous_strides(const Shape& shape) {
  Strides strides(static_cast<std::size_t>(shape.ndim()));
  std::int64_t s = 1;
  for (std::int64_t i = shape.ndim() - 1; i >= 0; --i) {
    strides[static_cast<std::size_t>(i)] = s;
    s *= shape.dims()[static_cast<std::size_t>(i)];
  }
  return strides;
}

std::int64_t normalize_axis(std::int64_t axis, std::int64_t ndim, std::string_view op) {
  const std::int64_t a = axis < 0 ? axis + ndim : axis;
  check(a >= 0 && a < ndim, "{}: axis {} is out of range for a tensor with {} dimensions", op, axis,
        ndim);
  return a;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const std::int64_t n = std::max(a.ndim(), b.ndim());
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t ia = a.ndim() - n + i, ib = b.ndim() - n + i;
    const std::int64_t da = ia >= 0 ? a.dims()[static_cast<std::size_t>(ia)] : 1;
    const std::int64_t db = ib >= 0 ? b.dims()[static_cast<std::size_t>(ib)] : 1;
    check(da == db || da == 1 || db == 1,
          "{}: shapes {} and {} cannot be broadcast together (axis {}: {} vs {})", op, a, b, i, da,
          db);
    out[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::move(out));
}

}  // namespace lowbit::core
