#include "core/tensor.hpp"

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"

#include <algorithm>
#include <cstring>

namespace lowbit::core {
namespace {

template <typename Fn>
void visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32: fn(float{}); return;
    case DType::i32: fn(std::int32_t{}); return;
    case DType::i64: fn(std::int64_t{}); return;
    case DType::u8: fn(std::uint8_t{}); return;
  }
}

}  // namespace

namespace {
Tensor allocate_tensor(const Shape& shape, DType dtype, bool zero_fill) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage =
      Storage::allocate(static_cast<std::size_t>(shape.numel()) * dtype_size(dtype), zero_fill);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) { return allocate_tensor(shape, dtype, true); }

Tensor Tensor::uninitialized(const Shape& shape, DType dtype) {
  return allocate_tensor(shape, dtype, false);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) { return empty(shape, dtype); }

Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(float value) { return full(Shape{}, value); }

Tensor Tensor::arange(std::int64_t n, DType dtype) {
  Tensor t = empty(Shape{n}, dtype);
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t;
}

TensorImpl& Tensor::impl() const {
  check(impl_ != nullptr, "Tensor: use of an undefined tensor");
  return *impl_;
}

bool Tensor::is_contiguous() const {
  const TensorImpl& t = impl();
  std::int64_t expected = 1;
  for (std::int64_t i = t.shape.ndim() - 1; i >= 0; --i) {
    const std::int64_t extent = t.shape.dims()[static_cast<std::size_t>(i)];
    if (extent != 1 && t.strides[static_cast<std::size_t>(i)] != expected) return false;
    expected *= extent;
  }
  return true;
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl().storage == other.impl().storage;
}

double Tensor::item() const {
  check(numel() == 1, "Tensor::item: tensor of shape {} has {} elements, expected 1", shape(),
        numel());
  double v = 0.0;
  visit_dtype(dtype(), [&](auto zero) {
    using T = decltype(zero);
    v = static_cast<double>(*data<T>());
  });
  return v;
}

Tensor& Tensor::set_requires_grad(bool value) {
  check(value == false || dtype() == DType::f32,
        "Tensor::set_requires_grad: only f32 tensors can require grad, this one is {}",
        dtype_name(dtype()));
  impl().requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    impl().grad.reset();
    return;
  }
  check(g.shape() == shape(), "Tensor::set_grad: gradient shape {} does not match tensor shape {}",
        g.shape(), shape());
  impl().grad = g.impl_ptr();
}

void Tensor::zero_grad() { impl().grad.reset(); }

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  run_backward(*this, grad, retain_graph);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, const Shape& shape, const Strides& strides,
                 std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

void Tensor::copy_(const Tensor& src) {
  check(src.shape() == shape(), "Tensor::copy_: source shape {} does not match destination {}",
        src.shape(), shape());
  check(src.dtype() == dtype(), "Tensor::copy_: source dtype {} does not match destination {}",
        dtype_name(src.dtype()), dtype_name(dtype()));
  if (is_contiguous()) {
    const std::size_t esize = dtype_size(dtype());
    const char* s = static_cast<const char*>(src.impl().storage->data()) + src.offset() * esize;
    char* d = static_cast<char*>(impl().storage->data()) + offset() * esize;
    if (src.is_contiguous()) {
      std::memmove(d, s, static_cast<std::size_t>(numel()) * esize);
    } else {
      kernels::copy_strided(shape(), s, src.strides().data(), d, esize);
    }
    return;
  }
  // Non-contiguous destination: walk both layouts together.
  const Tensor packed = src.contiguous();
  visit_dtype(dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* s = packed.data<T>();
    T* d = data<T>();
    kernels::for_each_row<1>(shape(), {strides().data()},
                             [&](std::int64_t out, const std::array<std::int64_t, 1>& off,
                                 std::int64_t n, const std::array<std::int64_t, 1>& st) {
                               for (std::int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = s[out + i];
                             });
  });
}

void Tensor::fill_(double value) {
  visit_dtype(dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T v = static_cast<T>(value);
    T* d = data<T>();
    if (is_contiguous()) {
      std::fill(d, d + numel(), v);
      return;
    }
    kernels::for_each_row<1>(shape(), {strides().data()},
                             [&](std::int64_t, const std::array<std::int64_t, 1>& off,
                                 std::int64_t n, const std::array<std::int64_t, 1>& st) {
                               for (std::int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = v;
                             });
  });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  const Tensor src = contiguous();
  Tensor out = empty(shape(), target);
  visit_dtype(dtype(), [&](auto from_zero) {
    using From = decltype(from_zero);
    visit_dtype(target, [&](auto to_zero) {
      using To = decltype(to_zero);
      const From* s = src.data<From>();
      To* d = out.data<To>();
      for (std::int64_t i = 0; i < src.numel(); ++i) d[i] = static_cast<To>(s[i]);
    });
  });
  return out;  // a conversion between different dtypes carries no gradient
}

}  // namespace lowbit::core
