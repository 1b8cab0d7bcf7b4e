#pragma once
// Storage: one 64-byte-aligned heap buffer shared by a tensor and all of its views.
// The buffer carries kTailPadding zeroed bytes past its end so SIMD kernels may over-read.

#include <cstddef>
#include <memory>

namespace lowbit::core {

class Storage {
 public:
  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kTailPadding = 64;

  // Allocates nbytes (+ padding). Contents are zero-initialised unless zero_fill is false; the
  // tail padding is always zero.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, bool zero_fill = true);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }

 private:
  Storage(void* data, std::size_t nbytes) : data_(data), nbytes_(nbytes) {}
  void* data_;
  std::size_t nbytes_;
};

}  // namespace lowbit::core
