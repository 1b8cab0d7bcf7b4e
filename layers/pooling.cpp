#include "layers/pooling.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"

namespace lowbit::layers {
namespace {

void validate(const Pool2dOptions& o, std::string_view who) {
  core::check(
      o.kernel_size > 0 && o.stride >= 0 && o.padding >= 0 && 2 * o.padding <= o.kernel_size,
      "{}: need kernel_size > 0, stride >= 0 (0 = kernel_size) and 0 <= padding <= "
      "kernel_size / 2, got kernel_size={} stride={} padding={}",
      who, o.kernel_size, o.stride, o.padding);
}

void check_input(const Tensor& x, const Module& who) {
  if (x.dim() != 4)
    core::fail("{}: expected input (N, C, H, W), got {}", who.describe(), x.shape());
}

std::string describe_pool(std::string_view type, const Pool2dOptions& o) {
  return fmt::format("{}(kernel={}, stride={}, padding={})", type, o.kernel_size,
                     o.stride == 0 ? o.kernel_size : o.stride, o.padding);
}

}  // namespace

core::Pool2dParams Pool2dOptions::params() const {
  core::Pool2dParams p;
  p.kernel_h = p.kernel_w = kernel_size;
  p.stride_h = p.stride_w = stride == 0 ? kernel_size : stride;
  p.pad_h = p.pad_w = padding;
  return p;
}

std::int64_t Pool2dOptions::output_size(std::int64_t in) const {
  return (in + 2 * padding - kernel_size) / (stride == 0 ? kernel_size : stride) + 1;
}

MaxPool2d::MaxPool2d(const Pool2dOptions& options) : options_(options) {
  validate(options, "MaxPool2d");
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_input(x, *this);
  return core::max_pool2d(x, options_.params());
}

std::string MaxPool2d::describe() const { return describe_pool(type_name(), options_); }

AvgPool2d::AvgPool2d(const Pool2dOptions& options) : options_(options) {
  validate(options, "AvgPool2d");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_input(x, *this);
  return core::avg_pool2d(x, options_.params());
}

std::string AvgPool2d::describe() const { return describe_pool(type_name(), options_); }

Tensor GlobalAvgPool::forward(const Tensor& x) {
  check_input(x, *this);
  return core::global_avg_pool2d(x);
}

}  // namespace lowbit::layers
