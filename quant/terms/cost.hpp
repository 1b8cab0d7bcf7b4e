#pragma once
// The term-revealing cost model (Kung et al. §6.1, methods.md §6.1, 6.5, 6.6): the unit is the
// term-pair multiplication; a dot product Σ_i w_i·x_i costs Σ_i terms(w_i)·terms(x_i) ("tMACs").
//
// Two forms:
// - exact: from the kept term count of every weight and every input value (RevealedWeights /
//   RevealedData::kept_terms). Zero padding has no terms, so it costs nothing.
// - budget: the closed form of the reference profiler (profile_model.py), which charges every
//   MAC of the layer (padding included) the saturated budgets:
//       tMACs = MACs · min(d, data_bits) · w / g,   w = min(k, weight_bits) if g = 1 else k
//   The uniform-quantization baseline is bit-serial, every bit a term (g = 1, k = weight_bits,
//   d = data_bits): tMACs = MACs · weight_bits · data_bits.

#include "core/tensor.hpp"

#include <cstdint>

namespace lowbit::quant::terms {

// w_terms: (out, in); x_terms: (batch, in). Σ_n Σ_o Σ_i w_terms[o,i] · x_terms[n,i].
std::int64_t linear_term_pairs(const std::int32_t* w_terms, const std::int32_t* x_terms,
                               std::int64_t out, std::int64_t in, std::int64_t batch);
// i32 tensors of those shapes.
std::int64_t linear_term_pairs(const core::Tensor& w_terms, const core::Tensor& x_terms);

struct Conv2dGeometry {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;  // zeros on each side
  std::int64_t dilation_h = 1, dilation_w = 1;
};

// w_terms: (out, c, kh, kw); x_terms: (n, c, h, w); one group (no grouped/depthwise conv).
// Σ over every output position and every MAC of terms(w) · terms(x), padding counting 0.
std::int64_t conv2d_term_pairs(const core::Tensor& w_terms, const core::Tensor& x_terms,
                               const Conv2dGeometry& geometry);

struct BudgetCost {
  int weight_bits = 8;
  int data_bits = 8;
  std::int64_t group_size = 8;  // g
  int budget = 12;              // k weight terms per group
  int data_terms = 3;           // d terms per input value
};

// The reference profiler's tMACs for a layer of `macs` multiply-accumulates.
double budget_term_pairs(std::int64_t macs, const BudgetCost& cost);
// Bit-serial uniform quantization: macs · weight_bits · data_bits.
double uniform_term_pairs(std::int64_t macs, int weight_bits, int data_bits);

}  // namespace lowbit::quant::terms
