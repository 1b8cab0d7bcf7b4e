#include "layers/batch_norm.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"

namespace lowbit::layers {

BatchNorm::BatchNorm(const BatchNormOptions& options, std::int64_t rank)
    : options_(options), rank_(rank) {
  const std::int64_t C = options.num_features;
  core::check(C > 0 && options.eps >= 0.0 && options.momentum >= 0.0 && options.momentum <= 1.0,
              "BatchNorm: need num_features > 0, eps >= 0 and momentum in [0, 1], got {}, {}, {}",
              C, options.eps, options.momentum);
  if (options.affine) {
    weight_ = register_parameter("weight", Tensor::ones({C}));
    bias_ = register_parameter("bias", Tensor::zeros({C}));
  }
  running_mean_ = register_buffer("running_mean", Tensor::zeros({C}));
  running_var_ = register_buffer("running_var", Tensor::ones({C}));
  num_batches_tracked_ =
      register_buffer("num_batches_tracked", Tensor::zeros({}, core::DType::i64));
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (x.dim() != rank_ || x.size(1) != options_.num_features) {
    core::fail(
        "{}: expected input {} with C = {}, got {}. HINT: BatchNorm1d takes (N, C), "
        "BatchNorm2d takes (N, C, H, W)",
        describe(), rank_ == 2 ? "(N, C)" : "(N, C, H, W)", options_.num_features, x.shape());
  }
  if (is_training()) num_batches_tracked_.data<std::int64_t>()[0] += 1;
  return core::batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(),
                          static_cast<float>(options_.momentum), static_cast<float>(options_.eps));
}

std::int64_t BatchNorm::num_batches_tracked() const {
  return num_batches_tracked_.data<std::int64_t>()[0];
}

void BatchNorm::set_momentum(double momentum) {
  core::check(momentum >= 0.0 && momentum <= 1.0, "{}: momentum must be in [0, 1], got {}", describe(), momentum);
  options_.momentum = momentum;
}

std::string BatchNorm::describe() const {
  return fmt::format("{}({}, eps={:g}, momentum={:g}, affine={})", type_name(),
                     options_.num_features, options_.eps, options_.momentum, options_.affine);
}

}  // namespace lowbit::layers
