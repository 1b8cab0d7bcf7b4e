#pragma once
// Term quantization (TQ) of integer codes, Kung et al. §6.2 (reference kernel tr_cuda_kernel.cu):
//
//   input: g signed integer codes q_j, budget k
//   terms_j = encode(q_j)                      # largest |term| first
//   out = 0; ptr = 0
//   repeat k times:
//     j* = argmax_j |terms_j[ptr_j]|            # strict '>': ties go to the LOWEST index j
//     if no terms remain: break
//     out[j*] += terms_j[ptr_j*]; ptr_j* += 1
//
// Truncation, not rounding: the dropped remainder is lost. It equals keeping the k largest terms
// of the group, ordered by (|term| descending, index ascending). With g = 1 it is the per-value
// data-term limit applied to activations.
// Example (hese, §6.6): codes [55, 3], k = 1..6 -> [64,0] [48,0] [56,0] [56,4] [55,4] [55,3].

#include "quant/terms/encode.hpp"

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace lowbit::quant::terms {

// The reference kernel's MAX_GROUP_SIZE is 32; we allow a little more.
inline constexpr std::int64_t kMaxGroupSize = 64;
// A budget that never binds (plain uniform quantization).
inline constexpr int kNoBudget = std::numeric_limits<int>::max();

// Keeps the `budget` (>= 0) largest terms of the group `codes` (1 <= size <= kMaxGroupSize) and
// writes the kept codes to `out` (same size; may alias `codes`). `kept_terms`, when not empty
// (same size), receives how many terms of each value were kept. Returns the total kept.
int quantize_group(std::span<const std::int32_t> codes, int budget, Encoding encoding,
                   std::span<std::int32_t> out, std::span<std::int32_t> kept_terms = {});
std::vector<std::int32_t> quantize_group(std::span<const std::int32_t> codes, int budget,
                                         Encoding encoding);

// The per-value data-term limit: the sum of the first `max_terms` (>= 0) terms of `code`
// (a group of one). `kept` receives the number of terms kept when not null.
std::int32_t limit_terms(std::int32_t code, int max_terms, Encoding encoding, int* kept = nullptr);

// The uniform quantizer shared by weights and data in the reference kernel:
//   q = sign(v) · min(floor(|v| / scale + 0.5), 2^bits - 1),  sign(0) = +1,
// computed in float as the kernel does. bits in [1, kMaxBits], scale > 0.
inline constexpr int kMaxBits = 24;
std::int32_t quantize_code(float v, float scale, int bits);

// Precomputed data-term limit for every code of `bits` <= kMaxTableBits bits: the activation hot
// path becomes a table lookup. Falls back to encoding when bits is larger.
class TermLimitTable {
 public:
  static constexpr int kMaxTableBits = 16;

  TermLimitTable(int bits, int max_terms, Encoding encoding);

  // limit_terms(code, max_terms, encoding) for |code| < 2^bits.
  std::int32_t kept_code(std::int32_t code) const;
  int kept_count(std::int32_t code) const;  // the number of terms it keeps
  int full_count(std::int32_t code) const;  // the number of terms of the code

  int bits() const { return bits_; }
  int max_terms() const { return max_terms_; }
  Encoding encoding() const { return encoding_; }

 private:
  int bits_;
  int max_terms_;
  Encoding encoding_;
  std::vector<std::int32_t> kept_;  // (2^bits) indexed by magnitude; empty when bits is too big
  std::vector<std::int8_t> count_;  // (2^bits)
  std::vector<std::int8_t> full_;   // (2^bits)
};

}  // namespace lowbit::quant::terms
