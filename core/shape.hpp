#pragma once
// Shape: the extent of each axis of a tensor, outermost first. A 0-d shape {} is a scalar (numel 1).

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::core {

class Shape {
 public:
  static constexpr std::size_t kMaxDims = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::vector<std::int64_t> dims);

  std::int64_t ndim() const { return static_cast<std::int64_t>(dims_.size()); }
  std::int64_t numel() const;
  // Negative axes count from the end, as in Python.
  std::int64_t operator[](std::int64_t axis) const;
  std::int64_t& operator[](std::int64_t axis);
  const std::vector<std::int64_t>& dims() const { return dims_; }
  auto begin() const { return dims_.begin(); }
  auto end() const { return dims_.end(); }
  bool operator==(const Shape& other) const = default;
  std::string str() const;  // "[2, 3, 4]"

 private:
  std::vector<std::int64_t> dims_;
};

using Strides = std::vector<std::int64_t>;  // in elements, not bytes

Strides contiguous_strides(const Shape& shape);
// Maps a possibly negative axis into [0, ndim); the error names `op`.
std::int64_t normalize_axis(std::int64_t axis, std::int64_t ndim, std::string_view op);
// NumPy broadcasting of two shapes; the error names `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

}  // namespace lowbit::core

template <>
struct fmt::formatter<lowbit::core::Shape> : fmt::formatter<std::string_view> {
  auto format(const lowbit::core::Shape& s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s.str(), ctx);
  }
};
