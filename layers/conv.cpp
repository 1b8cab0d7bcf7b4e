#include "layers/conv.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"
#include "layers/init.hpp"

#include <cmath>

namespace lowbit::layers {

std::int64_t Conv2dOptions::output_size(std::int64_t in) const {
  return (in + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1;
}

core::Conv2dParams Conv2dOptions::params() const {
  core::Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

void validate(const Conv2dOptions& o, std::string_view who) {
  core::check(o.in_channels > 0 && o.out_channels > 0 && o.kernel_size > 0 && o.stride > 0 &&
                  o.dilation > 0 && o.groups > 0 && o.padding >= 0,
              "{}: channels, kernel_size, stride, dilation, groups must be positive and padding "
              ">= 0, got {}",
              who, describe_conv("Conv2d", o));
  core::check(o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0,
              "{}: groups={} must divide in_channels={} and out_channels={}", who, o.groups,
              o.in_channels, o.out_channels);
}

Conv2d::Conv2d(const Conv2dOptions& options, core::Rng& rng) : options_(options) {
  validate(options, "Conv2d");
  const std::int64_t k = options.kernel_size;
  Tensor w = Tensor::empty({options.out_channels, options.in_channels / options.groups, k, k});
  kaiming_normal_(w, rng, FanMode::fan_out);
  weight_ = register_parameter("weight", w);
  if (options.bias) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(compute_fans(w.shape()).fan_in));
    Tensor b = Tensor::empty({options.out_channels});
    uniform_(b, rng, -bound, bound);
    bias_ = register_parameter("bias", b);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != options_.in_channels) {
    core::fail("{}: expected input (N, {}, H, W), got {}", describe(), options_.in_channels,
               x.shape());
  }
  last_output_pixels_ = options_.output_size(x.size(2)) * options_.output_size(x.size(3));
  return core::conv2d(x, weight_, bias_, options_.params());
}

std::string Conv2d::describe() const { return describe_conv(type_name(), options_); }

std::string describe_conv(std::string_view type, const Conv2dOptions& o) {
  std::string s = fmt::format("{}({}, {}, kernel={}, stride={}, padding={}", type, o.in_channels,
                              o.out_channels, o.kernel_size, o.stride, o.padding);
  if (o.dilation != 1) s += fmt::format(", dilation={}", o.dilation);
  if (o.groups != 1) s += fmt::format(", groups={}", o.groups);
  return s + fmt::format(", bias={})", o.bias);
}

}  // namespace lowbit::layers
