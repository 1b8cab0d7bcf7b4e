#include "core/storage.hpp"

#include "core/error.hpp"

#include <cstdlib>
#include <cstring>

namespace lowbit::core {

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, bool zero_fill) {
  const std::size_t padded = (nbytes + kTailPadding + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, padded);
  check(p != nullptr, "Storage: out of memory allocating {} bytes", padded);
  if (zero_fill) {
    std::memset(p, 0, padded);
  } else {
    std::memset(static_cast<char*>(p) + nbytes, 0, padded - nbytes);
  }
  return std::shared_ptr<Storage>(new Storage(p, nbytes));
}

Storage::~Storage() { std::free(data_); }

}  // namespace lowbit::core
