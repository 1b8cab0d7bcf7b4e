#include "layers/activation.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"

namespace lowbit::layers {

Tensor ReLU::forward(const Tensor& x) { return core::relu(x); }

HardTanh::HardTanh(float lo, float hi) : lo_(lo), hi_(hi) {
  core::check(lo < hi, "HardTanh: need lo < hi, got lo={} hi={}", lo, hi);
}

Tensor HardTanh::forward(const Tensor& x) { return core::hardtanh(x, lo_, hi_); }

std::string HardTanh::describe() const { return fmt::format("HardTanh({:g}, {:g})", lo_, hi_); }

}  // namespace lowbit::layers
