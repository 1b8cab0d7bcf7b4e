#include "core/random.hpp"

#include "core/error.hpp"

#include <cstdint>

namespace lowbit::core {

Tensor uniform_tensor(const Shape& shape, float lo, float hi, Rng& rng) {
  Tensor t = Tensor::empty(shape, DType::f32);
  rng.fill_uniform(t.data<float>(), t.numel(), lo, hi);
  return t;
}

Tensor normal_tensor(const Shape& shape, float mean, float std, Rng& rng) {
  Tensor t = Tensor::empty(shape, DType::f32);
  rng.fill_normal(t.data<float>(), t.numel(), mean, std);
  return t;
}

Tensor bernoulli_tensor(const Tensor& p, Rng& rng) {
  check(p.defined(), "bernoulli_tensor: the probability tensor is undefined");
  check(p.dtype() == DType::f32, "bernoulli_tensor: probabilities must be f32, got {}",
        dtype_name(p.dtype()));
  const Tensor pc = p.contiguous();
  const float* pp = pc.data<float>();
  Tensor mask = Tensor::empty(p.shape(), DType::u8);
  std::uint8_t* m = mask.data<std::uint8_t>();
  const std::int64_t n = pc.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    check(pp[i] >= 0.0f && pp[i] <= 1.0f,
          "bernoulli_tensor: probability {} at flat index {} is outside [0, 1]", pp[i], i);
    m[i] = rng.bernoulli(pp[i]) ? 1 : 0;
  }
  return mask;
}

Tensor bernoulli_tensor(const Shape& shape, float p, Rng& rng) {
  Tensor mask = Tensor::empty(shape, DType::u8);
  rng.fill_bernoulli(mask.data<std::uint8_t>(), mask.numel(), p);
  return mask;
}

}  // namespace lowbit::core
