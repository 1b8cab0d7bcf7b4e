#include "quant/pbnet_layers.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/init.hpp"
#include "quant/pbnet_ops.hpp"

#include <fmt/format.h>

#include <cmath>

namespace lowbit::quant {

// ---- PbLayer --------------------------------------------------------------------------------

void PbLayer::init_theta(const core::Shape& shape, core::Rng& rng, float theta_init,
                         float logit_scale) {
  core::check(theta_init > 0.0f && std::isfinite(theta_init) && logit_scale > 0.0f &&
                  std::isfinite(logit_scale),
              "{}: theta_init (the bound of the uniform logit init) and logit_scale must be "
              "positive, got {} and {}", type_name(), theta_init, logit_scale);
  logit_scale_ = logit_scale;
  Tensor t = Tensor::empty(shape);
  layers::uniform_(t, rng, -theta_init / logit_scale, theta_init / logit_scale);
  weight_ = register_parameter("weight", t);
}

Tensor PbLayer::theta() const {
  return logit_scale_ == 1.0f ? weight_ : weight_ * logit_scale_;
}

Tensor PbLayer::tempered_theta() const {
  return weight_tau_ == 1.0f ? theta() : weight_ * (logit_scale_ / weight_tau_);
}

void PbLayer::set_weight_temperature(float start, float end) {
  core::check(start > 0.0f && end > 0.0f && std::isfinite(start) && std::isfinite(end),
              "{}: weight temperatures must be positive, got {} and {}", type_name(), start, end);
  weight_tau_start_ = weight_tau_ = start;
  weight_tau_end_ = end;
}

void PbLayer::set_epoch(std::int64_t epoch, std::int64_t epochs) {
  weight_tau_ = static_cast<float>(anneal_geometric(weight_tau_start_, weight_tau_end_, epoch, epochs));
}

Tensor PbLayer::map_weights() const { return core::sign(weight_.detach()); }

void PbLayer::sample_weights(core::Rng& rng) {
  const std::vector<float> param = weight_.to_vector<float>();
  std::vector<float> w(param.size());
  for (std::size_t i = 0; i < param.size(); ++i) {
    const float p = 1.0f / (1.0f + std::exp(-logit_scale_ / weight_tau_end_ * param[i]));  // q(w = +1)
    w[i] = rng.uniform() < p ? 1.0f : -1.0f;
  }
  sampled_ = Tensor::from_vector(w, weight_.shape());
}

namespace {
// (mu_w, 1 - mu_w^2) of q(w), differentiable in theta.
std::pair<Tensor, Tensor> weight_moments(const Tensor& theta) {
  const Tensor mu = core::tanh(theta * 0.5f);  // 2 sigmoid(theta) - 1
  return {mu, 1.0f - mu * mu};
}
}  // namespace

Tensor pb_conv2d(const Tensor& x, const Tensor& theta, const core::Conv2dParams& p) {
  const auto [mu, var] = weight_moments(theta);
  return cat_channels(core::conv2d(x, mu, Tensor(), p), core::conv2d(x * x, var, Tensor(), p));
}

Tensor pb_linear(const Tensor& x, const Tensor& theta) {
  const auto [mu, var] = weight_moments(theta);
  return cat_channels(core::linear(x, mu, Tensor()), core::linear(x * x, var, Tensor()));
}

// ---- PbConv2d --------------------------------------------------------------------------------

PbConv2d::PbConv2d(const layers::Conv2dOptions& options, core::Rng& rng, float theta_init,
                   float logit_scale)
    : options_(options) {
  layers::validate(options, "PbConv2d");
  core::check(!options.bias,
              "PbConv2d has no bias (the stochastic BN after it has one). HINT: build it with "
              "bias = false");
  const std::int64_t k = options.kernel_size;
  init_theta({options.out_channels, options.in_channels / options.groups, k, k}, rng, theta_init,
             logit_scale);
}

Tensor PbConv2d::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != options_.in_channels) {
    core::fail("{}: expected input (N, {}, H, W), got {}", describe(), options_.in_channels,
               x.shape());
  }
  const core::Conv2dParams p = options_.params();
  last_output_pixels_ = options_.output_size(x.size(2)) * options_.output_size(x.size(3));
  if (!is_training()) {
    // A deterministic binary net: the variance of sum w x is 0.
    const Tensor mean = core::conv2d(x, eval_weights(), Tensor(), p);
    return cat_channels(mean, Tensor::zeros(mean.shape()));
  }
  return pb_conv2d(x, tempered_theta(), p);
}

std::string PbConv2d::describe() const { return layers::describe_conv(type_name(), options_); }

// ---- PbLinear --------------------------------------------------------------------------------

PbLinear::PbLinear(const layers::LinearOptions& options, core::Rng& rng, float theta_init,
                   float logit_scale)
    : options_(options) {
  core::check(options.in_features > 0 && options.out_features > 0 && !options.bias,
              "PbLinear: need positive in/out features and no bias (the stochastic BN after it "
              "has one), got in={}, out={}, bias={}",
              options.in_features, options.out_features, options.bias);
  init_theta({options.out_features, options.in_features}, rng, theta_init, logit_scale);
}

Tensor PbLinear::forward(const Tensor& x) {
  if (x.dim() != 2 || x.size(1) != options_.in_features) {
    core::fail("{}: expected input (N, {}), got {}", describe(), options_.in_features, x.shape());
  }
  if (!is_training()) {
    const Tensor mean = core::linear(x, eval_weights(), Tensor());
    return cat_channels(mean, Tensor::zeros(mean.shape()));
  }
  return pb_linear(x, tempered_theta());
}

std::string PbLinear::describe() const {
  return fmt::format("PbLinear({}, {})", options_.in_features, options_.out_features);
}

// ---- StochasticBatchNorm ---------------------------------------------------------------------

StochasticBatchNorm::StochasticBatchNorm(std::int64_t num_features, double eps, double momentum)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  core::check(num_features > 0 && eps >= 0.0 && momentum >= 0.0 && momentum <= 1.0,
              "StochasticBatchNorm: need num_features > 0, eps >= 0 and momentum in [0, 1], got "
              "{}, {}, {}", num_features, eps, momentum);
  weight_ = register_parameter("weight", Tensor::ones({num_features}));
  bias_ = register_parameter("bias", Tensor::zeros({num_features}));
  running_mean_ = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var_ = register_buffer("running_var", Tensor::ones({num_features}));
  num_batches_tracked_ =
      register_buffer("num_batches_tracked", Tensor::zeros({}, core::DType::i64));
}

Tensor StochasticBatchNorm::forward(const Tensor& x) {
  if (x.dim() < 2 || x.size(1) != 2 * num_features_) {
    core::fail("{}: expected a distribution tensor (N, {}, ...) (means, then variances), got {}",
               describe(), 2 * num_features_, x.shape());
  }
  if (is_training()) num_batches_tracked_.data<std::int64_t>()[0] += 1;
  double momentum = momentum_;
  if (is_training() && recalibrated_batches_ >= 0) {
    momentum = 1.0 / static_cast<double>(++recalibrated_batches_);
  }
  return stochastic_batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(),
                               static_cast<float>(momentum), static_cast<float>(eps_));
}

std::string StochasticBatchNorm::describe() const {
  return fmt::format("StochasticBatchNorm({}, eps={:g}, momentum={:g})", num_features_, eps_,
                     momentum_);
}

// ---- ConcreteSign ----------------------------------------------------------------------------

ConcreteSign::ConcreteSign(float tau_start, float tau_end, std::uint64_t seed,
                           bool straight_through)
    : tau_start_(tau_start), tau_end_(tau_end), tau_(tau_start), straight_through_(straight_through),
      rng_(seed) {
  core::check(tau_start > 0.0f && tau_end > 0.0f,
              "ConcreteSign: temperatures must be positive, got tau_start {} and tau_end {}",
              tau_start, tau_end);
  register_rng("rng", &rng_);
}

void ConcreteSign::set_epoch(std::int64_t epoch, std::int64_t epochs) {
  tau_ = static_cast<float>(anneal_geometric(tau_start_, tau_end_, epoch, epochs));
}

Tensor ConcreteSign::forward(const Tensor& x) {
  return is_training() ? concrete_sign(x, tau_, rng_, straight_through_) : sign_of_mean(x);
}

std::string ConcreteSign::describe() const {
  return fmt::format("ConcreteSign(tau={:g}, from {:g} to {:g}{})", tau_, tau_start_, tau_end_,
                     straight_through_ ? ", straight-through" : "");
}

}  // namespace lowbit::quant
