#pragma once

#include "core/tensor.hpp"

namespace lowbit::core {

// Numerically stable log(softmax(x)) along `axis`.
Tensor log_softmax(const Tensor& x, std::int64_t axis = -1);
// logits: (N,C) f32, target: (N) i64 class indices in [0, C) (anything else is an error).
// Mean over the batch of -sum_c q_c log p_c with q = (1-s) onehot + s/C (label smoothing s).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing = 0.0f);

}  // namespace lowbit::core
