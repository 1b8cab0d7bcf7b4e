#include "layers/init.hpp"

#include "core/error.hpp"
#include "core/random.hpp"

namespace lowbit::layers {
namespace {

void check_weight(const core::Tensor& w, const char* fn) {
  core::check(w.defined() && w.dtype() == core::DType::f32, "{}: expected a defined f32 tensor",
              fn);
}

std::int64_t pick(const Fans& f, FanMode mode) {
  return mode == FanMode::fan_in ? f.fan_in : f.fan_out;
}

}  // namespace

Fans compute_fans(const core::Shape& shape) {
  core::check(shape.ndim() >= 2,
              "compute_fans: a weight needs at least 2 axes (out, in, ...), got {}. HINT: biases "
              "take zeros_ or uniform_ with an explicit bound",
              shape);
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < shape.ndim(); ++d) receptive *= shape[d];
  const Fans f{shape[1] * receptive, shape[0] * receptive};
  core::check(f.fan_in > 0 && f.fan_out > 0, "compute_fans: empty weight of shape {}", shape);
  return f;
}

double leaky_relu_gain(double a) { return std::sqrt(2.0 / (1.0 + a * a)); }

void uniform_(core::Tensor& w, core::Rng& rng, float lo, float hi) {
  check_weight(w, "uniform_");
  w.copy_(core::uniform_tensor(w.shape(), lo, hi, rng));
}

void normal_(core::Tensor& w, core::Rng& rng, float mean, float std) {
  check_weight(w, "normal_");
  w.copy_(core::normal_tensor(w.shape(), mean, std, rng));
}

void kaiming_normal_(core::Tensor& w, core::Rng& rng, FanMode mode, double a) {
  check_weight(w, "kaiming_normal_");
  const double std = leaky_relu_gain(a) / std::sqrt(double(pick(compute_fans(w.shape()), mode)));
  normal_(w, rng, 0.0f, static_cast<float>(std));
}

void kaiming_uniform_(core::Tensor& w, core::Rng& rng, FanMode mode, double a) {
  check_weight(w, "kaiming_uniform_");
  const double b =
      leaky_relu_gain(a) * std::sqrt(3.0 / double(pick(compute_fans(w.shape()), mode)));
  uniform_(w, rng, static_cast<float>(-b), static_cast<float>(b));
}

void glorot_uniform_(core::Tensor& w, core::Rng& rng, double gain) {
  check_weight(w, "glorot_uniform_");
  const Fans f = compute_fans(w.shape());
  const double b = gain * std::sqrt(6.0 / double(f.fan_in + f.fan_out));
  uniform_(w, rng, static_cast<float>(-b), static_cast<float>(b));
}

void glorot_normal_(core::Tensor& w, core::Rng& rng, double gain) {
  check_weight(w, "glorot_normal_");
  const Fans f = compute_fans(w.shape());
  normal_(w, rng, 0.0f, static_cast<float>(gain * std::sqrt(2.0 / double(f.fan_in + f.fan_out))));
}

void zeros_(core::Tensor& w) { constant_(w, 0.0); }
void ones_(core::Tensor& w) { constant_(w, 1.0); }

void constant_(core::Tensor& w, double value) {
  core::check(w.defined(), "constant_: undefined tensor");
  w.fill_(value);
}

}  // namespace lowbit::layers
