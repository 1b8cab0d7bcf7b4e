#include "core/tensor_io.hpp"

#include "core/error.hpp"

#include <cstring>
#include <limits>
#include <vector>

namespace lowbit::core {

namespace {

// On-disk dtype codes; independent of the DType enum's numbering so reordering it cannot change
// the format.
std::uint8_t dtype_code(DType t) {
  switch (t) {
    case DType::f32: return 0;
    case DType::i32: return 1;
    case DType::i64: return 2;
    case DType::u8: return 3;
  }
  fail("put_tensor: dtype {} has no file code", static_cast<int>(t));
}

bool dtype_from_code(std::uint8_t code, DType& out) {
  switch (code) {
    case 0: out = DType::f32; return true;
    case 1: out = DType::i32; return true;
    case 2: out = DType::i64; return true;
    case 3: out = DType::u8; return true;
    default: return false;
  }
}

std::uint8_t* bytes_of(Tensor& t) {
  return static_cast<std::uint8_t*>(t.impl().storage->data()) +
         t.offset() * static_cast<std::int64_t>(dtype_size(t.dtype()));
}

struct Header {
  DType dtype = DType::f32;
  Shape shape;
  std::size_t nbytes = 0;
};

Header read_header(SectionReader& in) {
  Header h;
  const std::uint8_t code = in.get_u8();
  if (!dtype_from_code(code, h.dtype)) {
    in.fail_format(fmt::format("unknown tensor dtype code {}", code));
  }
  const std::uint32_t ndim = in.get_u32();
  if (ndim > kMaxTensorDims) {
    in.fail_format(fmt::format("tensor has {} dimensions (at most {})", ndim, kMaxTensorDims));
  }
  std::vector<std::int64_t> dims(ndim);
  // numel is computed with an overflow guard: a bad record must not wrap around to a small size.
  const std::uint64_t limit = std::numeric_limits<std::int64_t>::max() / 8;
  std::uint64_t numel = 1;
  for (std::int64_t& d : dims) {
    d = in.get_i64();
    if (d < 0) in.fail_format(fmt::format("tensor extent {} is negative", d));
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && numel > limit / ud) in.fail_format("tensor shape overflows");
    numel *= ud;
  }
  const std::uint64_t nbytes = in.get_u64();
  const std::uint64_t expect = numel * dtype_size(h.dtype);
  if (nbytes != expect) {
    in.fail_format(fmt::format("tensor of shape [{}] and dtype {} needs {} bytes, record says {}",
                               fmt::join(dims, ", "), dtype_name(h.dtype), expect, nbytes));
  }
  if (nbytes > in.remaining()) {
    in.fail_format(fmt::format("tensor data needs {} bytes at offset {}, only {} remain", nbytes,
                               in.position(), in.remaining()));
  }
  h.shape = Shape(std::move(dims));
  h.nbytes = static_cast<std::size_t>(nbytes);
  return h;
}

}  // namespace

void put_tensor(BinaryWriter& out, const Tensor& t) {
  check(t.defined(), "put_tensor: tensor is undefined");
  Tensor c = t.contiguous();
  out.put_u8(dtype_code(c.dtype()));
  out.put_u32(static_cast<std::uint32_t>(c.dim()));
  for (std::int64_t d : c.shape()) out.put_i64(d);
  const std::size_t nbytes = static_cast<std::size_t>(c.numel()) * dtype_size(c.dtype());
  out.put_u64(nbytes);
  if (nbytes > 0) out.put_raw(bytes_of(c), nbytes);
}

Tensor get_tensor(SectionReader& in) {
  const Header h = read_header(in);
  Tensor t = Tensor::empty(h.shape, h.dtype);
  if (h.nbytes > 0) in.get_raw(bytes_of(t), h.nbytes);
  return t;
}

void get_tensor_into(SectionReader& in, Tensor& dst, std::string_view what) {
  check(dst.defined(), "get_tensor_into: destination '{}' is undefined", what);
  const std::size_t at = in.position();
  const Header h = read_header(in);
  if (h.dtype != dst.dtype() || !(h.shape == dst.shape())) {
    in.fail_format(fmt::format(
        "'{}' is stored as {} {} (at offset {}), but the destination is {} {}. HINT: the file was "
        "written for a different model or configuration",
        what, dtype_name(h.dtype), h.shape, at, dtype_name(dst.dtype()), dst.shape()));
  }
  if (dst.is_contiguous()) {
    if (h.nbytes > 0) in.get_raw(bytes_of(dst), h.nbytes);
    return;
  }
  Tensor tmp = Tensor::empty(h.shape, h.dtype);
  if (h.nbytes > 0) in.get_raw(bytes_of(tmp), h.nbytes);
  dst.copy_(tmp);
}

}  // namespace lowbit::core
