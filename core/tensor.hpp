#pragma once
// Tensor: a strided view (shape, strides, offset) over a shared Storage, plus its autograd state.
// Copying a Tensor copies a handle; views (reshape, permute, slice, expand) share storage.
// Differentiable ops live in core/ops.hpp; the graph machinery in core/autograd.hpp.

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/shape.hpp"
#include "core/storage.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace lowbit::core {

struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;          // elements
  std::int64_t offset = 0;  // elements from the start of storage
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward() on leaves
  std::shared_ptr<Node> grad_fn;     // set on results of recorded ops
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage, no shape
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (all contiguous) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32);  // zero-filled
  // Contents undefined: only for outputs a kernel overwrites entirely (saves the zero fill).
  static Tensor uninitialized(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor scalar(float value);  // 0-d f32
  static Tensor arange(std::int64_t n, DType dtype = DType::i64);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  std::int64_t dim() const { return shape().ndim(); }
  std::int64_t size(std::int64_t axis) const { return shape()[axis]; }
  std::int64_t numel() const { return shape().numel(); }
  DType dtype() const { return impl().dtype; }
  const Strides& strides() const { return impl().strides; }
  std::int64_t offset() const { return impl().offset; }
  bool is_contiguous() const;
  bool shares_storage_with(const Tensor& other) const;
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- raw data: pointer to element 0 of this view; checks the dtype ----
  template <typename T> T* data();
  template <typename T> const T* data() const;
  // Value of a one-element tensor as double (any dtype).
  double item() const;
  // Element values in logical (row-major) order, any layout.
  template <typename T> std::vector<T> to_vector() const;

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter whose gradient backward() accumulates.
  Tensor& set_requires_grad(bool value);
  Tensor grad() const;  // undefined until a backward pass reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();     // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // Back-propagates from this tensor. A scalar may omit `grad` (taken as 1). The graph is freed
  // unless retain_graph is set.
  void backward(const Tensor& grad = {}, bool retain_graph = false) const;
  // Same storage and layout, cut from the graph (requires_grad false).
  Tensor detach() const;

  // ---- views and layout (differentiable) ----
  // Shares storage when this tensor is contiguous, copies otherwise; one axis may be -1.
  // Pass a Shape as shape.dims().
  Tensor reshape(const std::vector<std::int64_t>& dims) const;
  Tensor flatten(std::int64_t start_axis = 0, std::int64_t end_axis = -1) const;
  Tensor permute(const std::vector<std::int64_t>& order) const;
  Tensor transpose(std::int64_t a, std::int64_t b) const;
  // Elements [start, end) with `step` along `axis` (negative start/end count from the end).
  Tensor slice(std::int64_t axis, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(std::int64_t axis, std::int64_t index) const;  // slice and drop the axis
  Tensor unsqueeze(std::int64_t axis) const;
  Tensor squeeze(std::int64_t axis) const;
  // Broadcasts size-1 axes to `shape` (stride 0); may prepend axes.
  Tensor expand(const Shape& shape) const;
  Tensor contiguous() const;  // this tensor if already contiguous, else a packed copy
  Tensor clone() const;       // packed copy, keeps the graph
  Tensor to(DType dtype) const;  // conversion (not differentiable for integer targets)

  // ---- in-place, outside autograd (optimizers, loaders, initialisers) ----
  void copy_(const Tensor& src);  // same shape; any layouts/dtypes of equal type
  void fill_(double value);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Makes a tensor that views `base`'s storage with the given layout (no graph).
Tensor make_view(const Tensor& base, const Shape& shape, const Strides& strides,
                 std::int64_t offset);

// ---- template definitions ----
template <typename T>
T* Tensor::data() {
  check(impl().dtype == dtype_of<T>, "Tensor::data: tensor holds {}, asked for {}",
        dtype_name(impl().dtype), dtype_name(dtype_of<T>));
  return static_cast<T*>(impl().storage->data()) + impl().offset;
}

template <typename T>
const T* Tensor::data() const {
  check(impl().dtype == dtype_of<T>, "Tensor::data: tensor holds {}, asked for {}",
        dtype_name(impl().dtype), dtype_name(dtype_of<T>));
  return static_cast<const T*>(impl().storage->data()) + impl().offset;
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  check(static_cast<std::int64_t>(values.size()) == shape.numel(),
        "Tensor::from_vector: {} values do not fill shape {} ({} elements)", values.size(), shape,
        shape.numel());
  Tensor t = empty(shape, dtype_of<T>);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  const Tensor c = contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

}  // namespace lowbit::core
