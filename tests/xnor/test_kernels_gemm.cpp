// XNOR kernels: binary GEMM and bit-plane GEMM with their output transforms, every path against
// the reference twin, the reference against float (+/-1) and integer (code) GEMM.

#include <catch2/catch.hpp>

#include <bit>

#include "tests/xnor/test_kernels_support.hpp"

using namespace lowbit::test::xnor;

namespace {

constexpr std::int32_t kSentinel = -123456789;

// The float dot of +/-1 rows a (M, K), w (N, K) -> (M, N).
std::vector<float> float_gemm(const std::vector<float>& a, const std::vector<float>& w, i64 M,
                              i64 N, i64 K) {
  std::vector<float> out(static_cast<std::size_t>(M * N));
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      float s = 0.0f;
      for (i64 k = 0; k < K; ++k)
        s += a[static_cast<std::size_t>(m * K + k)] * w[static_cast<std::size_t>(n * K + k)];
      out[static_cast<std::size_t>(m * N + n)] = s;
    }
  }
  return out;
}

// One bgemm problem: the reference against float, then every path's three transforms against
// the reference's.
void check_bgemm(i64 M, i64 N, i64 K, std::mt19937_64& gen) {
  INFO("M=" << M << " N=" << N << " K=" << K);
  const auto af = random_signs(M * K, gen), wf = random_signs(N * K, gen);
  const Words a = pack(af, M, K), w = pack(wf, N, K);
  const i64 ldo = N + 3;  // a gap each row must leave alone
  std::vector<std::int32_t> ref_i32(static_cast<std::size_t>(M * ldo), kSentinel);
  ref().bgemm(a.data(), w.data(), M, N, K, ref_i32.data(), ldo);
  const auto expect = float_gemm(af, wf, M, N, K);
  bool same = true;
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      same = same && static_cast<float>(ref_i32[static_cast<std::size_t>(m * ldo + n)]) ==
                         expect[static_cast<std::size_t>(m * N + n)];
    }
  }
  REQUIRE(same);

  const auto scale = random_floats(N, gen), bias = random_floats(N, gen);
  const RandomThresholds t(N, K, gen);
  std::vector<float> ref_f32(static_cast<std::size_t>(M * ldo), -7.0f);
  ref().bgemm_affine(a.data(), w.data(), M, N, K, scale.data(), bias.data(), ref_f32.data(), ldo);
  Words ref_bits(static_cast<std::size_t>(M * x::words_for(N)), ~0ull);
  ref().bgemm_threshold(a.data(), w.data(), M, N, K, t.view(), ref_bits.data());

  for (const auto p : fast_paths()) {
    INFO(x::kernel_path_name(p));
    const auto& k = x::kernel_table(p);
    std::vector<std::int32_t> i32(ref_i32.size(), kSentinel);
    k.bgemm(a.data(), w.data(), M, N, K, i32.data(), ldo);
    CHECK(i32 == ref_i32);
    std::vector<float> f32(ref_f32.size(), -7.0f);
    k.bgemm_affine(a.data(), w.data(), M, N, K, scale.data(), bias.data(), f32.data(), ldo);
    CHECK(f32 == ref_f32);
    Words bits(ref_bits.size(), ~0ull);
    k.bgemm_threshold(a.data(), w.data(), M, N, K, t.view(), bits.data());
    CHECK(bits == ref_bits);
  }
}

void check_plane_gemm(i64 M, i64 N, i64 K, int abits, int wbits, std::mt19937_64& gen) {
  INFO("M=" << M << " N=" << N << " K=" << K << " abits=" << abits << " wbits=" << wbits);
  const auto ac = random_codes(M * K, abits, gen), wc = random_codes(N * K, wbits, gen);
  const Words a = pack_codes(ac, M, K, abits), w = pack_codes(wc, N, K, wbits);
  const i64 ldo = N + 1;
  std::vector<std::int32_t> ref_i32(static_cast<std::size_t>(M * ldo), kSentinel);
  ref().plane_gemm(a.data(), abits, w.data(), wbits, M, N, K, ref_i32.data(), ldo);
  bool same = true;
  for (i64 m = 0; m < M; ++m) {
    for (i64 n = 0; n < N; ++n) {
      i64 s = 0;
      for (i64 k = 0; k < K; ++k)
        s += i64{ac[static_cast<std::size_t>(m * K + k)]} * wc[static_cast<std::size_t>(n * K + k)];
      same = same && ref_i32[static_cast<std::size_t>(m * ldo + n)] == s;
    }
  }
  REQUIRE(same);
  const auto scale = random_floats(N, gen), bias = random_floats(N, gen);
  std::vector<float> ref_f32(static_cast<std::size_t>(M * ldo), -7.0f);
  ref().plane_gemm_affine(a.data(), abits, w.data(), wbits, M, N, K, scale.data(), nullptr,
                          ref_f32.data(), ldo);
  for (const auto p : fast_paths()) {
    INFO(x::kernel_path_name(p));
    const auto& k = x::kernel_table(p);
    std::vector<std::int32_t> i32(ref_i32.size(), kSentinel);
    k.plane_gemm(a.data(), abits, w.data(), wbits, M, N, K, i32.data(), ldo);
    CHECK(i32 == ref_i32);
    std::vector<float> f32(ref_f32.size(), -7.0f);
    k.plane_gemm_affine(a.data(), abits, w.data(), wbits, M, N, K, scale.data(), nullptr,
                        f32.data(), ldo);
    CHECK(f32 == ref_f32);
  }
}

}  // namespace

// methods.md 2a self-check 4: an XNOR-popcount dot of two +/-1 vectors of length n equals
// 2*popcount(xnor(a, b)) - n and the float dot product.
TEST_CASE("XNOR-popcount dot equals the float dot", "[xnor][kernel]") {
  std::mt19937_64 gen(10);
  for (const i64 n : kAwkward) {
    const auto af = random_signs(n, gen), bf = random_signs(n, gen);
    const Words a = pack(af, 1, n), b = pack(bf, 1, n);
    float fdot = 0.0f;
    for (i64 i = 0; i < n; ++i)
      fdot += af[static_cast<std::size_t>(i)] * bf[static_cast<std::size_t>(i)];
    i64 agree = 0;  // popcount(xnor) over the n true bits
    for (i64 i = 0; i < n; ++i) agree += !(((a[i / 64] ^ b[i / 64]) >> (i % 64)) & 1u);
    i64 xor_pop = 0;
    for (std::size_t i = 0; i < a.size(); ++i) xor_pop += std::popcount(a[i] ^ b[i]);
    CHECK(2 * agree - n == static_cast<i64>(fdot));
    CHECK(n - 2 * xor_pop == static_cast<i64>(fdot));
    std::vector<x::KernelPath> paths = fast_paths();
    paths.push_back(x::KernelPath::reference);
    for (const auto p : paths) {
      std::int32_t out = 0;
      x::kernel_table(p).bgemm(a.data(), b.data(), 1, 1, n, &out, 1);
      CHECK(out == static_cast<std::int32_t>(fdot));
    }
  }
}

TEST_CASE("bgemm on every awkward M, N, K equals float GEMM and the reference", "[xnor][kernel]") {
  std::mt19937_64 gen(11);
  for (const i64 M : kAwkward) {
    for (const i64 N : kAwkward) {
      for (const i64 K : kAwkward) check_bgemm(M, N, K, gen);
    }
  }
}

TEST_CASE("bgemm on larger shapes (several tasks and threads)", "[xnor][kernel]") {
  std::mt19937_64 gen(12);
  check_bgemm(301, 517, 1000, gen);
  check_bgemm(49, 512, 4608, gen);  // deep K: the byte counters are flushed many times
  check_bgemm(2, 1000, 130, gen);
}

TEST_CASE("plane GEMM (k-bit codes) equals integer GEMM and the reference", "[xnor][kernel]") {
  std::mt19937_64 gen(13);
  for (int abits = 1; abits <= 4; ++abits) {
    for (int wbits = 1; wbits <= 4; ++wbits) {
      for (const i64 M : {i64{1}, i64{33}, i64{64}}) {
        for (const i64 N : {i64{1}, i64{31}, i64{129}}) {
          for (const i64 K : {i64{1}, i64{63}, i64{65}, i64{129}}) {
            check_plane_gemm(M, N, K, abits, wbits, gen);
          }
        }
      }
    }
  }
  check_plane_gemm(130, 300, 700, 2, 2, gen);
  check_plane_gemm(97, 200, 2000, 4, 3, gen);
}

// A large int32 output of one-word dots is streamed (non-temporal whole-line stores where the
// rows are 64-byte aligned; plain stores elsewhere): the same values as the reference, with the
// output aligned, misaligned, and with a row stride that breaks the alignment of later rows.
TEST_CASE("bgemm streams large one-word outputs and still equals the reference",
          "[xnor][kernel]") {
  std::mt19937_64 gen(12);
  const i64 M = 8200, N = 130, K = 61;  // 8200 * 130 * 4 bytes > 4 MiB; one word per row
  const Words a = pack(random_signs(M * K, gen), M, K), w = pack(random_signs(N * K, gen), N, K);
  for (const i64 ldo : {N, i64{144}}) {
    std::vector<std::int32_t> ref_out(static_cast<std::size_t>(M * ldo), kSentinel);
    ref().bgemm(a.data(), w.data(), M, N, K, ref_out.data(), ldo);
    for (const i64 shift : {0, 3}) {  // int32 elements past a 64-byte boundary
      for (const auto p : fast_paths()) {
        INFO(x::kernel_path_name(p) << " ldo " << ldo << " shift " << shift);
        std::vector<std::int32_t> buf(static_cast<std::size_t>(M * ldo + 32), kSentinel);
        auto addr = reinterpret_cast<std::uintptr_t>(buf.data());
        std::int32_t* out = buf.data() + ((64 - addr % 64) % 64) / 4 + shift;
        x::kernel_table(p).bgemm(a.data(), w.data(), M, N, K, out, ldo);
        CHECK(std::equal(ref_out.begin(), ref_out.end(), out));
      }
    }
  }
}
