#include "quant/terms/group.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace lowbit::quant::terms {

int quantize_group(std::span<const std::int32_t> codes, int budget, Encoding encoding,
                   std::span<std::int32_t> out, std::span<std::int32_t> kept_terms) {
  const auto g = static_cast<std::int64_t>(codes.size());
  core::check(g >= 1 && g <= kMaxGroupSize,
              "term quantization: group size {} is outside [1, {}]. HINT: use a group of at most "
              "{} values (the paper uses 8)",
              g, kMaxGroupSize, kMaxGroupSize);
  core::check(out.size() == codes.size(),
              "term quantization: output holds {} values for a group of {}", out.size(), g);
  core::check(kept_terms.empty() || kept_terms.size() == codes.size(),
              "term quantization: kept_terms holds {} values for a group of {}", kept_terms.size(),
              g);
  core::check(budget >= 0, "term quantization: budget {} is negative", budget);

  std::array<TermList, kMaxGroupSize> terms;
  std::array<int, kMaxGroupSize> ptr{};
  for (std::int64_t j = 0; j < g; ++j) {
    terms[static_cast<std::size_t>(j)] = encode(codes[static_cast<std::size_t>(j)], encoding);
  }
  std::array<std::int64_t, kMaxGroupSize> acc{};
  int kept = 0;
  for (; kept < budget; ++kept) {
    int best_j = -1;
    int best_exp = -1;
    for (std::int64_t j = 0; j < g; ++j) {
      const TermList& t = terms[static_cast<std::size_t>(j)];
      const int p = ptr[static_cast<std::size_t>(j)];
      if (p < t.size() && t[p].exponent > best_exp) {  // strict: ties keep the lower index
        best_exp = t[p].exponent;
        best_j = static_cast<int>(j);
      }
    }
    if (best_j < 0) break;  // no terms remain
    const auto bj = static_cast<std::size_t>(best_j);
    acc[bj] += terms[bj][ptr[bj]].value();
    ++ptr[bj];
  }
  for (std::int64_t j = 0; j < g; ++j) {
    const auto sj = static_cast<std::size_t>(j);
    out[sj] = static_cast<std::int32_t>(acc[sj]);
    if (!kept_terms.empty()) kept_terms[sj] = ptr[sj];
  }
  return kept;
}

std::vector<std::int32_t> quantize_group(std::span<const std::int32_t> codes, int budget,
                                         Encoding encoding) {
  std::vector<std::int32_t> out(codes.size());
  quantize_group(codes, budget, encoding, out);
  return out;
}

std::int32_t limit_terms(std::int32_t code, int max_terms, Encoding encoding, int* kept) {
  core::check(max_terms >= 0, "data-term limit: max_terms {} is negative", max_terms);
  const TermList t = encode(code, encoding);
  const int n = std::min(max_terms, t.size());
  if (kept != nullptr) *kept = n;
  return static_cast<std::int32_t>(t.sum(n));
}

std::int32_t quantize_code(float v, float scale, int bits) {
  // int32_t(abs(input) / sf + 0.5) clamped to 2^b - 1 (tr_cuda_kernel.cu); the clamp is applied
  // before the conversion so a tiny scale cannot overflow.
  const float max_code = static_cast<float>((std::int64_t{1} << bits) - 1);
  const float r = std::fabs(v) / scale + 0.5f;
  if (std::isnan(r)) return 0;
  const auto q = r >= max_code ? static_cast<std::int32_t>(max_code)
                               : static_cast<std::int32_t>(r);  // r >= 0: truncation is floor
  return v < 0.0f ? -q : q;
}

TermLimitTable::TermLimitTable(int bits, int max_terms, Encoding encoding)
    : bits_(bits), max_terms_(max_terms), encoding_(encoding) {
  core::check(bits >= 1 && bits <= kMaxBits, "data-term limit: bits {} is outside [1, {}]", bits,
              kMaxBits);
  core::check(max_terms >= 0, "data-term limit: max_terms {} is negative", max_terms);
  if (bits > kMaxTableBits) return;
  const std::size_t n = std::size_t{1} << bits;
  kept_.resize(n);
  count_.resize(n);
  full_.resize(n);
  for (std::size_t q = 0; q < n; ++q) {
    const TermList t = encode(static_cast<std::int32_t>(q), encoding);
    const int k = std::min(max_terms, t.size());
    kept_[q] = static_cast<std::int32_t>(t.sum(k));
    count_[q] = static_cast<std::int8_t>(k);
    full_[q] = static_cast<std::int8_t>(t.size());
  }
}

std::int32_t TermLimitTable::kept_code(std::int32_t code) const {
  if (kept_.empty()) return limit_terms(code, max_terms_, encoding_);
  const auto m = static_cast<std::size_t>(code < 0 ? -code : code);
  core::check(m < kept_.size(), "data-term limit: code {} does not fit in {} bits", code, bits_);
  return code < 0 ? -kept_[m] : kept_[m];
}

int TermLimitTable::kept_count(std::int32_t code) const {
  if (count_.empty()) {
    int k = 0;
    limit_terms(code, max_terms_, encoding_, &k);
    return k;
  }
  const auto m = static_cast<std::size_t>(code < 0 ? -code : code);
  core::check(m < count_.size(), "data-term limit: code {} does not fit in {} bits", code, bits_);
  return count_[m];
}

int TermLimitTable::full_count(std::int32_t code) const {
  if (full_.empty()) return count_terms(code, encoding_);
  const auto m = static_cast<std::size_t>(code < 0 ? -code : code);
  core::check(m < full_.size(), "data-term limit: code {} does not fit in {} bits", code, bits_);
  return full_[m];
}

}  // namespace lowbit::quant::terms
