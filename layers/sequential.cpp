#include "layers/sequential.hpp"

#include "core/error.hpp"

namespace lowbit::layers {

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& [name, child] : named_children()) y = child->forward(y);
  return y;
}

std::string Sequential::describe() const {
  if (!label_.empty()) return label_;
  return fmt::format("Sequential({} children)", size());
}

Tensor Flatten::forward(const Tensor& x) {
  core::check(x.dim() >= 1, "Flatten: expected an input with a batch axis, got {}", x.shape());
  if (x.dim() == 2) return x;
  if (x.dim() == 1) return x.reshape({x.size(0), 1});
  return x.flatten(1);
}

}  // namespace lowbit::layers
