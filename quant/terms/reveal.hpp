#pragma once
// Term revealing of whole tensors (Kung, McDanel, Zhang, SC20; methods.md §6): post-training, no
// retraining.
//
// Weights (offline): uniform codes (quant/terms/uniform.hpp), then group term quantization
// (quant/terms/group.hpp) over groups of g consecutive values along `axis`, at every fixed
// position of the other axes: for a conv weight (out, in, kh, kw) with axis 1 the groups run along
// `in` for each (out, kh, kw); for a linear weight (out, in) along `in`. When the axis length is
// not a multiple of g, the last group is shorter and keeps the same budget k (as if padded with
// zeros, which have no terms).
//
// Data (at run time): per value, q = sign(x)·min(floor(|x|/sf + 0.5), 2^b - 1), keep its first t
// terms, dequantize. The scale comes from quant/terms/calibrate.hpp.

#include "core/tensor.hpp"
#include "quant/terms/encode.hpp"
#include "quant/terms/group.hpp"
#include "quant/terms/uniform.hpp"

#include <cstdint>
#include <vector>

namespace lowbit::quant::terms {

struct WeightTermOptions {
  int bits = 8;                 // b: codes span [-2^{b-1}, 2^{b-1}]
  std::int64_t group_size = 8;  // g, in [1, kMaxGroupSize]
  int budget = 12;              // k terms per group (>= 0); kNoBudget keeps every term
  Encoding encoding = Encoding::hese;
  ScaleMode scale_mode = ScaleMode::per_layer;  // the reference uses per_layer
  std::int64_t axis = 1;  // the grouping axis (input channels); may be negative
};

struct TermStats {
  std::int64_t values = 0;
  std::int64_t groups = 0;
  std::int64_t terms_uniform = 0;   // terms of the uniform codes before any budget
  std::int64_t terms_kept = 0;      // terms after the budget
  std::int64_t nonzero_values = 0;  // values whose kept code is non-zero

  double uniform_terms_per_value() const;
  double kept_terms_per_value() const;
  TermStats& operator+=(const TermStats& other);
};

struct RevealedWeights {
  core::Tensor values;      // f32, the shape of the weights: kept codes · scale
  core::Tensor codes;       // i32, the kept codes
  core::Tensor kept_terms;  // i32, terms kept for each weight (for the cost model)
  UniformCodes uniform;     // the codes before the budget, with the scales
  TermStats stats;
};

// w: f32 with at least one axis. per_channel scaling needs axis != 0 (a group must share a scale).
RevealedWeights reveal_weights(const core::Tensor& w, const WeightTermOptions& options);

struct DataTermOptions {
  int bits = 8;   // codes clamp at 2^b - 1
  int terms = 3;  // t terms kept per value (>= 0)
  Encoding encoding = Encoding::hese;
};

struct RevealedData {
  core::Tensor values;      // f32, the shape of x
  core::Tensor kept_terms;  // i32, terms kept for each value
  TermStats stats;          // groups = values (groups of one)
};

// Raw form: y[i] = TQ(x[i]) for i < n (y may alias x); kept_terms (n) may be null. `table` must
// be built with the options' bits, terms and encoding.
TermStats reveal_data(const float* x, float* y, std::int64_t n, float scale,
                      const TermLimitTable& table, std::int32_t* kept_terms);
// x: f32, any shape; scale > 0.
RevealedData reveal_data(const core::Tensor& x, float scale, const DataTermOptions& options);

}  // namespace lowbit::quant::terms
