#include "quant/terms/encode.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdlib>

namespace lowbit::quant::terms {

std::int64_t TermList::sum(int count) const {
  std::int64_t s = 0;
  for (int i = 0; i < std::min(count, size_); ++i) s += (*this)[i].value();
  return s;
}

std::vector<std::int64_t> TermList::values() const {
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(size_));
  for (const Term& t : *this) out.push_back(t.value());
  return out;
}

std::string TermList::str() const {
  if (empty()) return "0";
  std::string s;
  for (int i = 0; i < size_; ++i) {
    const Term& t = (*this)[i];
    const std::int64_t mag = std::int64_t{1} << t.exponent;
    if (i == 0) {
      s += fmt::format("{}{}", t.sign < 0 ? "-" : "", mag);
    } else {
      s += fmt::format(" {} {}", t.sign < 0 ? '-' : '+', mag);
    }
  }
  return s;
}

namespace {

Term make_term(int sign, int exponent) {
  return Term{static_cast<std::int8_t>(sign), static_cast<std::int8_t>(exponent)};
}

}  // namespace

// Bit-exact with the authors' hese / hese_encode: they scan from bit 63 (CUDA) or the top bit
// (Python) downwards; the windows above the MSB are all 000 and emit nothing, so starting at the
// MSB is the same scan.
TermList encode_hese(std::uint32_t m) {
  TermList out;
  if (m == 0) return out;
  const int top = std::bit_width(m) - 1;
  for (int i = top; i >= 0; --i) {
    const std::uint32_t b0 = i == 0 ? 0u : (m >> (i - 1)) & 1u;  // b_{i-1}
    const std::uint32_t b1 = (m >> i) & 1u;                      // b_i
    const std::uint32_t b2 = (m >> (i + 1)) & 1u;                // b_{i+1} (i + 1 <= 30)
    if (b2 == 0 && b1 == 1 && b0 == 0) {
      out.push_back(make_term(+1, i));
      --i;  // skip b_{i-1}, as the reference does (its window 1 0 x would emit nothing anyway)
    } else if (b2 == 0 && b1 == 1 && b0 == 1) {
      out.push_back(make_term(+1, i + 1));
    } else if (b2 == 1 && b1 == 1 && b0 == 0) {
      out.push_back(make_term(-1, i));
    }
  }
  return out;
}

// Non-adjacent form, one LSB->MSB pass with the carry folded into n:
//   while n: if n odd: d = 2 - (n mod 4) (d in {+1, -1}); emit d·2^i; n -= d.  n >>= 1; i++
TermList encode_csd(std::uint32_t m) {
  std::array<Term, TermList::kCapacity> rev{};
  int count = 0;
  std::uint64_t n = m;
  for (int i = 0; n != 0; ++i, n >>= 1) {
    if ((n & 1u) != 0) {
      const int d = 2 - static_cast<int>(n & 3u);
      rev[static_cast<std::size_t>(count++)] = make_term(d, i);
      n = d > 0 ? n - 1 : n + 1;
    }
  }
  TermList out;
  for (int i = count - 1; i >= 0; --i) out.push_back(rev[static_cast<std::size_t>(i)]);
  return out;
}

TermList encode_binary(std::uint32_t m) {
  TermList out;
  for (int i = std::bit_width(m) - 1; i >= 0; --i) {
    if (((m >> i) & 1u) != 0) out.push_back(make_term(+1, i));
  }
  return out;
}

TermList encode(std::int64_t v, Encoding encoding) {
  const std::int64_t mag = v < 0 ? -v : v;
  core::check(mag < (std::int64_t{1} << kMaxMagnitudeBits),
              "term encoding: |{}| does not fit in {} bits. HINT: quantize to fewer bits", v,
              kMaxMagnitudeBits);
  const auto m = static_cast<std::uint32_t>(mag);
  TermList t;
  switch (encoding) {
    case Encoding::hese:
      t = encode_hese(m);
      break;
    case Encoding::csd:
      t = encode_csd(m);
      break;
    case Encoding::binary:
      t = encode_binary(m);
      break;
  }
  if (v >= 0) return t;
  TermList neg;
  for (const Term& term : t) neg.push_back(make_term(-term.sign, term.exponent));
  return neg;
}

int count_terms(std::int64_t v, Encoding encoding) { return encode(v, encoding).size(); }

std::vector<std::string> encoding_names() { return {"binary", "csd", "hese"}; }

std::string_view encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::hese:
      return "hese";
    case Encoding::csd:
      return "csd";
    case Encoding::binary:
      return "binary";
  }
  return "?";
}

Encoding parse_encoding(std::string_view name) {
  if (name == "hese") return Encoding::hese;
  if (name == "csd") return Encoding::csd;
  if (name == "binary") return Encoding::binary;
  const std::vector<std::string> known = encoding_names();
  const std::string suggestion = core::closest_match(name, known);
  std::string msg = fmt::format("unknown term encoding '{}'; ", name);
  if (!suggestion.empty()) msg += fmt::format("did you mean '{}'? ", suggestion);
  msg += fmt::format("known: {}", fmt::join(known, ", "));
  core::fail("{}", msg);
}

}  // namespace lowbit::quant::terms
