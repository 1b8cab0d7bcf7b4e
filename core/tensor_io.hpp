#pragma once
// Tensors inside a BinaryWriter/BinaryReader section (checkpoints, state dicts).
//
// Encoding (little-endian, appended to the open section):
//   | size      | field                                                      |
//   |-----------|------------------------------------------------------------|
//   | 1         | u8 dtype code: 0 f32, 1 i32, 2 i64, 3 u8 (fixed forever)   |
//   | 4         | u32 ndim, 0..kMaxTensorDims                                |
//   | 8 * ndim  | i64 extents, outermost first, each >= 0                    |
//   | 8         | u64 byte count = numel * dtype size                        |
//   | bytes     | elements in row-major order, whatever the source layout    |

#include "core/io.hpp"
#include "core/tensor.hpp"

#include <string_view>

namespace lowbit::core {

inline constexpr std::uint32_t kMaxTensorDims = 16;

// Writes `t` (defined, any layout) to the writer's open section. Gradients are not written.
void put_tensor(BinaryWriter& out, const Tensor& t);
// Reads one tensor as a new contiguous tensor; a malformed record is an Error naming the section.
Tensor get_tensor(SectionReader& in);
// Reads one tensor into `dst` (any layout), which must have the stored dtype and shape; `what`
// names the destination in errors ("layer1.conv.weight").
void get_tensor_into(SectionReader& in, Tensor& dst, std::string_view what);

}  // namespace lowbit::core
