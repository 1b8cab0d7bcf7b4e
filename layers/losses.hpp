#pragma once
// Training losses, composed from core ops so autograd differentiates them. Each returns a 0-d f32
// tensor. logits: (N, C) f32; target: (N) i64 class indices in [0, C).

#include "core/tensor.hpp"

namespace lowbit::layers {

using core::Tensor;

// Mean over the batch of -sum_c q_c log softmax(logits)_c, q = (1 - s) onehot(target) + s / C
// (label smoothing s in [0, 1)). core::cross_entropy.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing = 0.0f);

// Squared hinge loss of the BNN paper (Courbariaux et al. 2016), targets t in {-1, +1}^C with +1 at
// the true class:
//   L = (1/N) sum_n sum_c max(0, 1 - t_nc y_nc)^2
// i.e. the batch mean of the per-sample sum over classes. (The paper's Theano code takes the mean
// over all N*C elements, which is this L divided by C.)
Tensor squared_hinge(const Tensor& logits, const Tensor& target);

// Mean over all elements of (pred - target)^2; pred and target: same shape, f32.
Tensor mse(const Tensor& pred, const Tensor& target);

// Knowledge distillation (Hinton et al. 2015), with p = softmax(teacher/T), q = softmax(student/T):
//   L = T^2 * (1/N) sum_n sum_c p_nc (log p_nc - log q_nc) = T^2 * batch mean of KL(p || q).
// The T^2 keeps gradient magnitudes comparable across temperatures. student, teacher: (N, C).
// Gradients flow into both; pass teacher.detach() (or compute it under NoGradGuard) for a fixed
// teacher.
Tensor distillation_kl(const Tensor& student_logits, const Tensor& teacher_logits,
                       float temperature = 1.0f);

// onehot(target) scaled to {off, on}: (N, C) f32 with `on` at target[n] and `off` elsewhere.
Tensor one_hot(const Tensor& target, std::int64_t num_classes, float on = 1.0f, float off = 0.0f);

}  // namespace lowbit::layers
