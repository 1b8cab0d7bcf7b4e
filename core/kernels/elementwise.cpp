#include "core/kernels/elementwise.hpp"

#include "core/error.hpp"

namespace lowbit::core::kernels {
namespace {

template <typename T>
void copy_strided_typed(const Shape& shape, const T* src, const std::int64_t* src_strides, T* dst) {
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
