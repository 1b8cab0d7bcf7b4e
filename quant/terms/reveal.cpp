#include "quant/terms/reveal.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <array>
#include <span>

namespace lowbit::quant::terms {

double TermStats::uniform_terms_per_value() const {
  return values == 0 ? 0.0 : static_cast<double>(terms_uniform) / static_cast<double>(values);
}

double TermStats::kept_terms_per_value() const {
  return values == 0 ? 0.0 : static_cast<double>(terms_kept) / static_cast<double>(values);
}

TermStats& TermStats::operator+=(const TermStats& other) {
  values += other.values;
  groups += other.groups;
  terms_uniform += other.terms_uniform;
  terms_kept += other.terms_kept;
  nonzero_values += other.nonzero_values;
  return *this;
}

RevealedWeights reveal_weights(const core::Tensor& w, const WeightTermOptions& options) {
  core::check(w.defined() && w.dtype() == core::DType::f32,
              "reveal_weights: weights must be a defined f32 tensor");
  core::check(w.dim() >= 1, "reveal_weights: weights must have at least one axis");
  const std::int64_t axis = core::normalize_axis(options.axis, w.dim(), "reveal_weights");
  const std::int64_t g = options.group_size;
  core::check(g >= 1 && g <= kMaxGroupSize,
              "reveal_weights: group size {} is outside [1, {}]. HINT: the paper uses g = 8", g,
              kMaxGroupSize);
  core::check(options.budget >= 0, "reveal_weights: budget {} is negative", options.budget);
  core::check(options.scale_mode == ScaleMode::per_layer || axis != 0,
              "reveal_weights: per-channel scales need a grouping axis other than 0 (a group must "
              "share one scale). HINT: group along the input channels (axis 1)");

  RevealedWeights r;
  r.uniform = quantize_uniform(w, options.bits, options.scale_mode);
  const std::int32_t* q = r.uniform.codes.data<std::int32_t>();  // (outer, len, inner)
  r.codes = core::Tensor::uninitialized(w.shape(), core::DType::i32);
  r.kept_terms = core::Tensor::uninitialized(w.shape(), core::DType::i32);
  std::int32_t* out = r.codes.data<std::int32_t>();        // (outer, len, inner)
  std::int32_t* kept = r.kept_terms.data<std::int32_t>();  // (outer, len, inner)

  std::int64_t outer = 1;
  std::int64_t inner = 1;
  for (std::int64_t a = 0; a < axis; ++a) outer *= w.size(a);
  for (std::int64_t a = axis + 1; a < w.dim(); ++a) inner *= w.size(a);
  const std::int64_t len = w.size(axis);

  std::array<std::int32_t, kMaxGroupSize> gin{};
  std::array<std::int32_t, kMaxGroupSize> gout{};
  std::array<std::int32_t, kMaxGroupSize> gkept{};
  TermStats& s = r.stats;
  s.values = w.numel();
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      for (std::int64_t start = 0; start < len; start += g) {
        const std::int64_t m = std::min(g, len - start);
        const auto sm = static_cast<std::size_t>(m);
        for (std::int64_t c = 0; c < m; ++c) {
          const std::int32_t code = q[(o * len + start + c) * inner + i];
          gin[static_cast<std::size_t>(c)] = code;
          s.terms_uniform += count_terms(code, options.encoding);
        }
        s.terms_kept += quantize_group(std::span(gin.data(), sm), options.budget, options.encoding,
                                       std::span(gout.data(), sm), std::span(gkept.data(), sm));
        ++s.groups;
        for (std::int64_t c = 0; c < m; ++c) {
          const std::int64_t at = (o * len + start + c) * inner + i;
          out[at] = gout[static_cast<std::size_t>(c)];
          kept[at] = gkept[static_cast<std::size_t>(c)];
          if (out[at] != 0) ++s.nonzero_values;
        }
      }
    }
  }
  r.values = dequantize(r.uniform, r.codes);
  return r;
}

TermStats reveal_data(const float* x, float* y, std::int64_t n, float scale,
                      const TermLimitTable& table, std::int32_t* kept_terms) {
  core::check(scale > 0.0f,
              "reveal_data: scale {} must be positive. HINT: calibrate it with "
              "choose_data_scale",
              scale);
  TermStats s;
  s.values = n;
  s.groups = n;
  const int bits = table.bits();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t q = quantize_code(x[i], scale, bits);
    const std::int32_t k = table.kept_code(q);
    const int count = table.kept_count(q);
    y[i] = static_cast<float>(k) * scale;
    if (kept_terms != nullptr) kept_terms[i] = count;
    s.terms_uniform += table.full_count(q);
    s.terms_kept += count;
    if (k != 0) ++s.nonzero_values;
  }
  return s;
}

RevealedData reveal_data(const core::Tensor& x, float scale, const DataTermOptions& options) {
  core::check(x.defined() && x.dtype() == core::DType::f32,
              "reveal_data: input must be a defined f32 tensor");
  const TermLimitTable table(options.bits, options.terms, options.encoding);
  const core::Tensor xc = x.contiguous();
  RevealedData r;
  r.values = core::Tensor::uninitialized(x.shape(), core::DType::f32);
  r.kept_terms = core::Tensor::uninitialized(x.shape(), core::DType::i32);
  r.stats = reveal_data(xc.data<float>(), r.values.data<float>(), xc.numel(), scale, table,
                        r.kept_terms.data<std::int32_t>());
  return r;
}

}  // namespace lowbit::quant::terms
