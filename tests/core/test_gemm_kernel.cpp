#include "core/kernels/dispatch.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace lowbit::core::kernels;
using lowbit::test::kAwkwardSizes;

namespace {

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// Compares sgemm_blas with its reference twin for one problem; C starts non-zero so beta counts.
void compare_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float beta) {
  const std::int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
  const auto A = random_vector(static_cast<std::size_t>((ta ? K : M) * lda), 1);
  const auto B = random_vector(static_cast<std::size_t>((tb ? N : K) * ldb), 2);
  auto C_opt = random_vector(static_cast<std::size_t>(M * ldc), 3);
  auto C_ref = C_opt;
  sgemm_blas(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, C_opt.data(), ldc);
  sgemm_reference(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta, C_ref.data(), ldc);
  double worst = 0.0;
  for (std::size_t i = 0; i < C_opt.size(); ++i) {
    worst = std::max(worst, std::abs(double(C_opt[i]) - C_ref[i]) / (1.0 + std::abs(C_ref[i])));
  }
  INFO("ta=" << ta << " tb=" << tb << " M=" << M << " N=" << N << " K=" << K);
  CHECK(worst < 1e-5 * std::sqrt(double(K) + 1));
}

}  // namespace

TEST_CASE("sgemm: OpenBLAS matches the reference twin on awkward sizes", "[kernel]") {
  for (std::int64_t s : kAwkwardSizes) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      compare_gemm(ta, tb, s, 17, 9, 0.0f);
      compare_gemm(ta, tb, 5, s, 13, 0.5f);
      compare_gemm(ta, tb, 7, 3, s, 1.0f);
    }
  }
  compare_gemm(false, false, 129, 127, 65, 0.25f);
}

TEST_CASE("kernel dispatch: one selector, reference path can be forced", "[kernel]") {
  const KernelPath before = kernel_path();
  set_kernel_path(KernelPath::reference);
  CHECK(kernels().sgemm == &sgemm_reference);
  CHECK(kernels().conv2d_forward == &conv2d_forward_reference);
  set_kernel_path(KernelPath::optimized);
  CHECK(kernels().sgemm == &sgemm_blas);
  CHECK(kernels().conv2d_forward == &conv2d_forward_fast);
  set_kernel_path(before);
}
