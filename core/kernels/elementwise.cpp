#include "core/kernels/elementwise.hpp"

#include "core/error.hpp"

#include <algorithm>

namespace lowbit::core::kernels {
namespace {

// dst (rows, cols) row-major = src read with strides (1, ld): the transpose of a row-major
// matrix, as linear's weight gradient arrives. Blocks of kBlock x kBlock keep both sides in cache;
// the plain walk would read one element per cache line.
template <typename T>
void copy_transposed(std::int64_t rows, std::int64_t cols, const T* src, std::int64_t ld, T* dst) {
  constexpr std::int64_t kBlock = 32;
  for (std::int64_t c0 = 0; c0 < cols; c0 += kBlock) {
    const std::int64_t c1 = std::min(cols, c0 + kBlock);
    for (std::int64_t r0 = 0; r0 < rows; r0 += kBlock) {
      const std::int64_t r1 = std::min(rows, r0 + kBlock);
      for (std::int64_t c = c0; c < c1; ++c) {
        for (std::int64_t r = r0; r < r1; ++r) dst[r * cols + c] = src[c * ld + r];
      }
    }
  }
}

template <typename T>
void copy_strided_typed(const Shape& shape, const T* src, const std::int64_t* src_strides, T* dst) {
  if (shape.ndim() == 2 && src_strides[0] == 1 && src_strides[1] >= shape[0] && shape[0] > 1) {
    copy_transposed(shape[0], shape[1], src, src_strides[1], dst);
    return;
  }
  for_each_row<1>(shape, {src_strides},
                  [&](std::int64_t out, const std::array<std::int64_t, 1>& off, std::int64_t n,
                      const std::array<std::int64_t, 1>& st) {
                    const T* s = src + off[0];
                    T* d = dst + out;
                    if (st[0] == 1) {
                      std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(T));
                    } else {
                      for (std::int64_t i = 0; i < n; ++i) d[i] = s[i * st[0]];
                    }
                  });
}

}  // namespace

void copy_strided(const Shape& shape, const void* src, const std::int64_t* src_strides, void* dst,
                  std::size_t elem_size) {
  check(shape.ndim() <= 9, "copy_strided: at most 9 dimensions are supported, got {}", shape);
  switch (elem_size) {
    case 1:
      copy_strided_typed(shape, static_cast<const std::uint8_t*>(src), src_strides,
                         static_cast<std::uint8_t*>(dst));
      break;
    case 4:
      copy_strided_typed(shape, static_cast<const std::uint32_t*>(src), src_strides,
                         static_cast<std::uint32_t*>(dst));
      break;
    case 8:
      copy_strided_typed(shape, static_cast<const std::uint64_t*>(src), src_strides,
                         static_cast<std::uint64_t*>(dst));
      break;
    default: fail("copy_strided: unsupported element size {}", elem_size);
  }
}

}  // namespace lowbit::core::kernels
