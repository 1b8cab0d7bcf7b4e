#pragma once
// Signed power-of-two term encoders for term revealing (Kung, McDanel, Zhang, SC20; methods.md §6).
// A term is one signed power of two; an integer v is the sum of its terms, v = Σ_t s_t·2^{e_t}.
// Every encoder returns the terms of a value in strictly descending exponent order (largest |term|
// first), which is the order group term quantization consumes them in (§6.2).
//
//   hese    the authors' released encoder (bit_utils.hese / CUDA hese_encode), bit-exact:
//           55 -> 64 - 16 + 8 - 1. One MSB->LSB pass over the window (b_{i+1}, b_i, b_{i-1}):
//             0 1 0  emit +2^i (isolated 1) and skip bit i-1
//             0 1 1  a run of 1s starts: emit +2^{i+1}
//             1 1 0  the run ends:        emit -2^i
//           Never longer than plain binary, but not minimum-weight (35 of 0..255 are longer than
//           csd; mean 3.25 terms over 0..255).
//   csd     canonical signed digits / non-adjacent form, the minimum-weight encoding:
//           55 -> 64 - 8 - 1 (mean 3.11 terms over 0..255). No two adjacent non-zero digits.
//   binary  the set bits of the magnitude (mean 4.0 over 0..255): the bit-serial cost of plain
//           uniform quantization.
// A negative value is the sign times the terms of its magnitude; 0 has no terms.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::quant::terms {

// Magnitudes up to 2^kMaxMagnitudeBits - 1 can be encoded (hese and csd may emit 2^{msb+1}).
inline constexpr int kMaxMagnitudeBits = 30;

// sign * 2^exponent.
struct Term {
  std::int8_t sign = 1;  // +1 or -1
  std::int8_t exponent = 0;

  std::int64_t value() const { return sign * (std::int64_t{1} << exponent); }
  bool operator==(const Term&) const = default;
};

// A value's terms, largest exponent first. Fixed capacity, so encoding never allocates (it runs
// on every activation value when data terms are limited).
class TermList {
 public:
  static constexpr int kCapacity = 32;

  void push_back(Term t) { terms_[static_cast<std::size_t>(size_++)] = t; }
  int size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Term& operator[](int i) const { return terms_[static_cast<std::size_t>(i)]; }
  const Term* begin() const { return terms_.data(); }
  const Term* end() const { return terms_.data() + size_; }

  // Σ of the first `count` terms (all of them by default).
  std::int64_t sum(int count = kCapacity) const;
  // The terms as signed integers, e.g. {64, -16, 8, -1}.
  std::vector<std::int64_t> values() const;
  // "64 - 16 + 8 - 1" ("0" when empty).
  std::string str() const;

 private:
  std::array<Term, kCapacity> terms_{};
  int size_ = 0;
};

enum class Encoding : std::uint8_t { hese, csd, binary };

// Encoders of a magnitude m (0 <= m < 2^kMaxMagnitudeBits; not checked, see encode()).
TermList encode_hese(std::uint32_t m);
TermList encode_csd(std::uint32_t m);
TermList encode_binary(std::uint32_t m);

// Terms of the signed integer v under `encoding`; |v| >= 2^kMaxMagnitudeBits is an error.
TermList encode(std::int64_t v, Encoding encoding);
// Number of terms of v (same as encode(v, encoding).size()).
int count_terms(std::int64_t v, Encoding encoding);

// "hese", "csd", "binary". An unknown name is an error that suggests the closest known name and
// lists them all.
Encoding parse_encoding(std::string_view name);
std::string_view encoding_name(Encoding encoding);
std::vector<std::string> encoding_names();

}  // namespace lowbit::quant::terms
