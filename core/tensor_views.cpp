// Views and layout changes of Tensor. Each is differentiable: a view's backward maps the gradient
// back onto the base's shape.

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/ops/reduce.hpp"
#include "core/tensor.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace lowbit::core {
namespace {

Shape infer_shape(const std::vector<std::int64_t>& requested, std::int64_t numel, const Shape& from) {
  std::vector<std::int64_t> dims;
  std::int64_t known = 1, infer_at = -1;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(requested.size()); ++i) {
    const std::int64_t d = requested[static_cast<std::size_t>(i)];
    dims.push_back(d);
    if (d == -1) {
      check(infer_at < 0, "reshape: only one axis may be -1, got {} -> [{}]", from,
            fmt::join(requested, ", "));
      infer_at = i;
    } else {
      known *= d;
    }
  }
  if (infer_at >= 0) {
    check(known > 0 && numel % known == 0, "reshape: cannot reshape {} ({} elements) into [{}]",
          from, numel, fmt::join(requested, ", "));
    dims[static_cast<std::size_t>(infer_at)] = numel / known;
  }
  Shape out(dims);
  check(out.numel() == numel, "reshape: cannot reshape {} ({} elements) into {} ({} elements)",
        from, numel, out, out.numel());
  return out;
}

}  // namespace

Tensor Tensor::reshape(const std::vector<std::int64_t>& requested) const {
  const Shape target = infer_shape(requested, numel(), shape());
  const Tensor src = contiguous();
  Tensor out = make_view(src, target, contiguous_strides(target), src.offset());
  const Shape in_shape = shape();
  return record(out, "reshape", {src},
                [in_shape](const Tensor& g) { return Grads{g.reshape(in_shape.dims())}; });
}

Tensor Tensor::flatten(std::int64_t start_axis, std::int64_t end_axis) const {
  if (dim() == 0) return reshape({1});
  const std::int64_t s = normalize_axis(start_axis, dim(), "flatten");
  const std::int64_t e = normalize_axis(end_axis, dim(), "flatten");
  check(s <= e, "flatten: start axis {} is after end axis {}", start_axis, end_axis);
  std::vector<std::int64_t> dims;
  for (std::int64_t i = 0; i < s; ++i) dims.push_back(size(i));
  std::int64_t merged = 1;
  for (std::int64_t i = s; i <= e; ++i) merged *= size(i);
  dims.push_back(merged);
  for (std::int64_t i = e + 1; i < dim(); ++i) dims.push_back(size(i));
  return reshape(dims);
}

Tensor Tensor::permute(const std::vector<std::int64_t>& order) const {
  check(static_cast<std::int64_t>(order.size()) == dim(),
        "permute: order has {} axes, tensor of shape {} has {}", order.size(), shape(), dim());
  std::vector<std::int64_t> dims(order.size()), inverse(order.size());
  Strides st(order.size());
  std::vector<bool> seen(order.size(), false);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto a = static_cast<std::size_t>(normalize_axis(order[i], dim(), "permute"));
    check(!seen[a], "permute: axis {} appears twice in the order", a);
    seen[a] = true;
    dims[i] = shape().dims()[a];
    st[i] = strides()[a];
    inverse[a] = static_cast<std::int64_t>(i);
  }
  Tensor out = make_view(*this, Shape(dims), st, offset());
  return record(out, "permute", {*this},
                [inverse](const Tensor& g) { return Grads{g.permute(inverse)}; });
}

Tensor Tensor::transpose(std::int64_t a, std::int64_t b) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(dim()));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[static_cast<std::size_t>(normalize_axis(a, dim(), "transpose"))],
            order[static_cast<std::size_t>(normalize_axis(b, dim(), "transpose"))]);
  return permute(order);
}

Tensor Tensor::slice(std::int64_t axis, std::int64_t start, std::int64_t end,
                     std::int64_t step) const {
  const std::int64_t a = normalize_axis(axis, dim(), "slice");
  const std::int64_t n = size(a);
  check(step >= 1, "slice: step must be >= 1, got {}", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<std::int64_t>(start, 0, n);
  end = std::clamp<std::int64_t>(end, start, n);
  std::vector<std::int64_t> dims = shape().dims();
  Strides st = strides();
  dims[static_cast<std::size_t>(a)] = (end - start + step - 1) / step;
  st[static_cast<std::size_t>(a)] *= step;
  Tensor out = make_view(*this, Shape(dims), st, offset() + start * strides()[static_cast<std::size_t>(a)]);
  const Shape in_shape = shape();
  return record(out, "slice", {*this}, [in_shape, a, start, end, step](const Tensor& g) {
    Tensor full = Tensor::zeros(in_shape);
    full.slice(a, start, end, step).copy_(g);
    return Grads{full};
  });
}

Tensor Tensor::select(std::int64_t axis, std::int64_t index) const {
  const std::int64_t a = normalize_axis(axis, dim(), "select");
  const std::int64_t n = size(a);
  check(index >= -n && index < n, "select: index {} is out of range for axis {} of shape {}",
        index, axis, shape());
  if (index < 0) index += n;
  return slice(a, index, index + 1).squeeze(a);
}

Tensor Tensor::unsqueeze(std::int64_t axis) const {
  const std::int64_t a = normalize_axis(axis, dim() + 1, "unsqueeze");
  std::vector<std::int64_t> dims = shape().dims();
  dims.insert(dims.begin() + a, 1);
  Strides st = strides();
  const std::int64_t s = a < dim() ? strides()[static_cast<std::size_t>(a)] * size(a) : 1;
  st.insert(st.begin() + a, s);
  Tensor out = make_view(*this, Shape(dims), st, offset());
  const Shape in_shape = shape();
  return record(out, "unsqueeze", {*this},
                [in_shape](const Tensor& g) { return Grads{g.reshape(in_shape.dims())}; });
}

Tensor Tensor::squeeze(std::int64_t axis) const {
  const std::int64_t a = normalize_axis(axis, dim(), "squeeze");
  check(size(a) == 1, "squeeze: axis {} of shape {} has extent {}, expected 1", axis, shape(),
        size(a));
  std::vector<std::int64_t> dims = shape().dims();
  Strides st = strides();
  dims.erase(dims.begin() + a);
  st.erase(st.begin() + a);
  Tensor out = make_view(*this, Shape(dims), st, offset());
  const Shape in_shape = shape();
  return record(out, "squeeze", {*this},
                [in_shape](const Tensor& g) { return Grads{g.reshape(in_shape.dims())}; });
}

Tensor Tensor::expand(const Shape& target) const {
  check(target.ndim() >= dim(), "expand: cannot expand shape {} to fewer dimensions {}", shape(),
        target);
  const std::int64_t lead = target.ndim() - dim();
  Strides st(static_cast<std::size_t>(target.ndim()), 0);
  for (std::int64_t i = 0; i < dim(); ++i) {
    const std::int64_t from = size(i), to = target.dims()[static_cast<std::size_t>(lead + i)];
    check(from == to || from == 1, "expand: cannot expand shape {} to {} (axis {}: {} vs {})",
          shape(), target, i, from, to);
    st[static_cast<std::size_t>(lead + i)] = from == to ? strides()[static_cast<std::size_t>(i)] : 0;
  }
  Tensor out = make_view(*this, target, st, offset());
  const Shape in_shape = shape();
  return record(out, "expand", {*this},
                [in_shape](const Tensor& g) { return Grads{sum_to(g, in_shape)}; });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = uninitialized(shape(), dtype());  // every element is copied below
  const std::size_t esize = dtype_size(dtype());
  const char* s = static_cast<const char*>(impl().storage->data()) + offset() * static_cast<std::int64_t>(esize);
  if (is_contiguous()) {
    std::memcpy(out.impl().storage->data(), s, static_cast<std::size_t>(numel()) * esize);
  } else {
    kernels::copy_strided(shape(), s, strides().data(), out.impl().storage->data(), esize);
  }
  return record(out, "clone", {*this}, [](const Tensor& g) { return Grads{g}; });
}

}  // namespace lowbit::core
