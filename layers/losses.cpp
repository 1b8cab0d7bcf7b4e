#include "layers/losses.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"

#include <vector>

namespace lowbit::layers {
namespace {

void check_logits_target(const Tensor& logits, const Tensor& target, const char* loss) {
  core::check(logits.defined() && logits.dim() == 2 && logits.dtype() == core::DType::f32,
              "{}: expected f32 logits (N, C), got {}", loss,
              logits.defined() ? logits.shape().str() : std::string("undefined"));
  core::check(target.defined() && target.dim() == 1 && target.dtype() == core::DType::i64 &&
                  target.size(0) == logits.size(0),
              "{}: expected i64 targets (N) = ({}) class indices, got {} {}", loss, logits.size(0),
              target.defined() ? core::dtype_name(target.dtype()) : "undefined",
              target.defined() ? target.shape().str() : std::string());
}

}  // namespace

Tensor one_hot(const Tensor& target, std::int64_t num_classes, float on, float off) {
  core::check(target.dim() == 1 && target.dtype() == core::DType::i64,
              "one_hot: expected i64 targets (N), got {} {}", core::dtype_name(target.dtype()),
              target.shape());
  const std::vector<std::int64_t> t = target.to_vector<std::int64_t>();
  Tensor out = Tensor::full({target.size(0), num_classes}, off);
  float* p = out.data<float>();
  for (std::size_t n = 0; n < t.size(); ++n) {
    core::check(t[n] >= 0 && t[n] < num_classes,
                "one_hot: target[{}] = {} is outside [0, {}). HINT: check the dataset's labels "
                "and the model's num_classes",
                n, t[n], num_classes);
    p[static_cast<std::int64_t>(n) * num_classes + t[n]] = on;
  }
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing) {
  check_logits_target(logits, target, "cross_entropy");
  core::check(label_smoothing >= 0.0f && label_smoothing < 1.0f,
              "cross_entropy: label_smoothing must be in [0, 1), got {}", label_smoothing);
  return core::cross_entropy(logits, target, label_smoothing);
}

Tensor squared_hinge(const Tensor& logits, const Tensor& target) {
  check_logits_target(logits, target, "squared_hinge");
  const Tensor t = one_hot(target, logits.size(1), 1.0f, -1.0f);  // t: (N,C) in {-1,+1}
  const Tensor margin = core::relu(1.0f - t * logits);            // margin: (N,C)
  return core::mean(core::sum(margin * margin, {1}));
}

Tensor mse(const Tensor& pred, const Tensor& target) {
  core::check(pred.defined() && target.defined() && pred.shape() == target.shape(),
              "mse: pred and target must have the same shape, got {} and {}",
              pred.defined() ? pred.shape().str() : "undefined",
              target.defined() ? target.shape().str() : "undefined");
  const Tensor d = pred - target;
  return core::mean(d * d);
}

Tensor distillation_kl(const Tensor& student_logits, const Tensor& teacher_logits,
                       float temperature) {
  core::check(student_logits.defined() && teacher_logits.defined() && student_logits.dim() == 2 &&
                  student_logits.shape() == teacher_logits.shape(),
              "distillation_kl: expected student and teacher logits of the same shape (N, C), "
              "got {} and {}",
              student_logits.defined() ? student_logits.shape().str() : "undefined",
              teacher_logits.defined() ? teacher_logits.shape().str() : "undefined");
  core::check(temperature > 0.0f, "distillation_kl: temperature must be positive, got {}",
              temperature);
  const float inv_t = 1.0f / temperature;
  const Tensor log_p = core::log_softmax(teacher_logits * inv_t, 1);     // (N,C), teacher
  const Tensor log_q = core::log_softmax(student_logits * inv_t, 1);     // (N,C), student
  const Tensor kl = core::sum(core::exp(log_p) * (log_p - log_q), {1});  // (N)
  return core::mean(kl) * (temperature * temperature);
}

}  // namespace lowbit::layers
