#pragma once
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF): the same
// value as zlib's crc32(), written here because lowbit_xnor links nothing but std and OpenMP.
//
//   crc32("123456789") == 0xCBF43926
//   crc32(b, crc32(a)) == crc32(a + b)   (continue a running checksum)

#include <cstddef>
#include <cstdint>

namespace lowbit::quant::xnor {

// CRC-32 of bytes [data, data + size), continuing from `crc` (0 to start).
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace lowbit::quant::xnor
