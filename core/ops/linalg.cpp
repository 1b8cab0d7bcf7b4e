// Matrix products: forward and backward side by side, through the dispatched sgemm.

#include "core/ops/linalg.hpp"

#include "core/autograd.hpp"
#include "core/kernels/dispatch.hpp"
#include "core/ops/elementwise.hpp"

namespace lowbit::core {
namespace {

// How sgemm reads a 2-D view: as stored (row stride ld) or as the transpose of a stored matrix.
struct GemmOperand {
  Tensor storage;  // keeps the buffer alive; may be a packed copy
  bool trans = false;
  std::int64_t ld = 0;
};

GemmOperand as_gemm_operand(const Tensor& t) {
  const std::int64_t rows = t.size(0), cols = t.size(1);
  const std::int64_t s0 = t.strides()[0], s1 = t.strides()[1];
  if ((s1 == 1 || cols == 1) && s0 >= std::max<std::int64_t>(cols, 1)) return {t, false, s0};
  if ((s0 == 1 || rows == 1) && s1 >= std::max<std::int64_t>(rows, 1)) return {t, true, s1};
  const Tensor packed = t.contiguous();
  return {packed, false, std::max<std::int64_t>(cols, 1)};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check(a.defined() && b.defined() && a.dtype() == DType::f32 && b.dtype() == DType::f32,
        "matmul: both operands must be f32 tensors");
  check(a.dim() == 2 && b.dim() == 2, "matmul: expected 2-D operands, got {} and {}", a.shape(),
        b.shape());
  check(a.size(1) == b.size(0), "matmul: inner dimensions differ: {} x {}", a.shape(), b.shape());
  const std::int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  if (K == 0) return Tensor::zeros(Shape{M, N});  // empty product
  Tensor out = Tensor::uninitialized(Shape{M, N});  // sgemm with beta 0 writes every element
  const GemmOperand ga = as_gemm_operand(a), gb = as_gemm_operand(b);
  kernels::kernels().sgemm(ga.trans, gb.trans, M, N, K, 1.0f, ga.storage.data<float>(), ga.ld,
                           gb.storage.data<float>(), gb.ld, 0.0f, out.data<float>(), N);
  return record(out, "matmul", {a, b},
                [ad = a.detach(), bd = b.detach(), need_a = a.requires_grad(),
                 need_b = b.requires_grad()](const Tensor& g) {
                  // dA = g B^T: (M,N)(N,K); dB = A^T g: (K,M)(M,N).
                  return Grads{need_a ? matmul(g, bd.transpose(0, 1)) : Tensor(),
                               need_b ? matmul(ad.transpose(0, 1), g) : Tensor()};
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check(x.defined() && weight.defined() && x.dim() == 2 && weight.dim() == 2 &&
            x.size(1) == weight.size(1),
        "linear: input {} does not match weight {} (expected input (N, {}))",
        x.defined() ? x.shape() : Shape{}, weight.defined() ? weight.shape() : Shape{},
        weight.defined() && weight.dim() == 2 ? weight.size(1) : -1);
  Tensor y = matmul(x, weight.transpose(0, 1));
  if (!bias.defined()) return y;
  check(bias.dim() == 1 && bias.size(0) == weight.size(0),
        "linear: bias shape {} does not match weight {} (expected ({}))", bias.shape(),
        weight.shape(), weight.size(0));
  return add(y, bias);
}

}  // namespace lowbit::core
