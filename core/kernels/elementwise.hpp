#pragma once
// Strided elementwise loops shared by the elementwise ops and Tensor layout code.
// An operand is a base pointer plus one stride per output axis (0 on broadcast axes).

#include "core/shape.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace lowbit::core::kernels {

// Calls row(out_index, offsets, n, inner_strides) for every innermost row of `shape`, where
// offsets[k] is operand k's element offset at the row start and inner_strides[k] its stride along
// the last axis. out_index is the row's first element in a contiguous output of `shape`.
template <std::size_t K, typename Row>
void for_each_row(const Shape& shape, const std::array<const std::int64_t*, K>& strides, Row&& row) {
  const std::int64_t nd = shape.ndim();
  if (shape.numel() == 0) return;
  if (nd == 0) {
    row(std::int64_t{0}, std::array<std::int64_t, K>{}, std::int64_t{1},
        std::array<std::int64_t, K>{});
    return;
  }
  const std::int64_t inner = shape.dims().back();
  std::array<std::int64_t, K> inner_strides{};
  for (std::size_t k = 0; k < K; ++k) inner_strides[k] = strides[k][nd - 1];
  const std::int64_t rows = shape.numel() / inner;
  std::array<std::int64_t, 8> counter{};  // outer-axis counters (ndim <= 9 supported below)
  std::array<std::int64_t, K> offsets{};
  for (std::int64_t r = 0; r < rows; ++r) {
    row(r * inner, offsets, inner, inner_strides);
    // Advance the odometer over axes nd-2 .. 0.
    for (std::int64_t axis = nd - 2; axis >= 0; --axis) {
      auto& c = counter[static_cast<std::size_t>(axis)];
      const std::int64_t extent = shape.dims()[static_cast<std::size_t>(axis)];
      if (++c < extent) {
        for (std::size_t k = 0; k < K; ++k) offsets[k] += strides[k][axis];
        break;
      }
      c = 0;
      for (std::size_t k = 0; k < K; ++k) offsets[k] -= strides[k][axis] * (extent - 1);
    }
  }
}

// dst (contiguous) <- src (strided), elements of `elem_size` bytes.
void copy_strided(const Shape& shape, const void* src, const std::int64_t* src_strides,
                  void* dst, std::size_t elem_size);

}  // namespace lowbit::core::kernels
