#pragma once
// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C
// op(A): (M,K), op(B): (K,N), C: (M,N); lda/ldb/ldc are row strides of the stored matrices.

#include <cstdint>

namespace lowbit::core::kernels {

void sgemm_blas(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                float alpha, const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
                float beta, float* C, std::int64_t ldc);

// Reference twin: triple loop accumulating in double.
void sgemm_reference(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                     float alpha, const float* A, std::int64_t lda, const float* B,
                     std::int64_t ldb, float beta, float* C, std::int64_t ldc);

}  // namespace lowbit::core::kernels
