// XNOR kernels: packing (signs, thresholds, bit planes), BN + sign threshold folding, binary
// max-pool and the path selector, each optimized path against its reference twin.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "quant/xnor/kernels_detail.hpp"
#include "tests/xnor/test_kernels_support.hpp"

using namespace lowbit::test::xnor;

TEST_CASE("xnor path selection and the environment override", "[xnor][kernel]") {
  CHECK(x::kernel_path_supported(x::KernelPath::reference));
  const char* env = std::getenv("LOWBIT_XNOR_KERNELS");
  if (env != nullptr && *env != '\0') {
    CHECK(std::string(x::xnor_kernel_path_name()) == env);
  } else {
    CHECK(x::xnor_kernel_path() == x::detail::select_path(nullptr));
  }
  CHECK(x::detail::select_path("reference") == x::KernelPath::reference);
  CHECK_THROWS_WITH(x::detail::select_path("fast"), Catch::Contains("reference, popcnt, avx2 or avx512"));
  for (const auto p : {x::KernelPath::popcnt, x::KernelPath::avx2, x::KernelPath::avx512}) {
    if (x::kernel_path_supported(p)) {
      CHECK(x::detail::select_path(x::kernel_path_name(p)) == p);
      CHECK(x::kernel_table(p).path == p);
    } else {
      CHECK_THROWS(x::detail::select_path(x::kernel_path_name(p)));
      CHECK_THROWS(x::kernel_table(p));
    }
  }
  INFO("selected: " << x::xnor_kernel_path_name());
  CHECK(x::kernels().path == x::xnor_kernel_path());
}

TEST_CASE("pack_signs: sign(0) = +1, padding bits 0, every path equals the reference",
          "[xnor][kernel]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> special{-2.0f, -0.0f, 0.0f, 1e-30f, -1e-30f, nan, 3.0f, -INFINITY};
  // bits: -2 -> 1, -0 -> 0, 0 -> 0, tiny -> 0, -tiny -> 1, NaN -> 0, 3 -> 0, -inf -> 1
  const std::uint64_t expected = 0b10010001;
  std::vector<x::KernelPath> paths = fast_paths();
  paths.push_back(x::KernelPath::reference);
  for (const auto p : paths) {
    std::uint64_t word = ~std::uint64_t{0};
    x::kernel_table(p).pack_signs(special.data(), 1, 8, 8, &word);
    CHECK(word == expected);
  }

  std::mt19937_64 gen(1);
  for (const i64 k : kAwkward) {
    for (const i64 rows : {i64{1}, i64{3}, i64{65}}) {
      const i64 ld = k + 3, words = x::words_for(k);
      auto v = random_floats(rows * ld, gen);
      for (std::size_t i = 0; i < v.size(); i += 7) v[i] = 0.0f;  // exact zeros are +1
      Words ref_bits(static_cast<std::size_t>(rows * words), ~std::uint64_t{0});
      ref().pack_signs(v.data(), rows, k, ld, ref_bits.data());
      for (i64 r = 0; r < rows; ++r) {
        if (k % 64 != 0)
          CHECK(ref_bits[static_cast<std::size_t>(r * words + words - 1)] >> (k % 64) == 0);
        for (i64 c = 0; c < k; ++c) {
          const bool bit =
              (ref_bits[static_cast<std::size_t>(r * words + c / 64)] >> (c % 64)) & 1u;
          REQUIRE(bit == (v[static_cast<std::size_t>(r * ld + c)] < 0.0f));
        }
      }
      for (const auto p : fast_paths()) {
        Words bits(ref_bits.size(), ~std::uint64_t{0});
        x::kernel_table(p).pack_signs(v.data(), rows, k, ld, bits.data());
        INFO(x::kernel_path_name(p) << " k=" << k << " rows=" << rows);
        CHECK(bits == ref_bits);
      }
      // unpack inverts pack on +/-1 data
      std::vector<float> pm(static_cast<std::size_t>(rows * k)), back(pm.size());
      for (std::size_t i = 0; i < pm.size(); ++i) pm[i] = (gen() & 1u) ? -1.0f : 1.0f;
      x::unpack_signs(pack(pm, rows, k).data(), rows, k, back.data());
      CHECK(back == pm);
    }
  }
}

TEST_CASE("pack_thresholds and pack_planes: every path equals the reference", "[xnor][kernel]") {
  std::mt19937_64 gen(2);
  for (const i64 n : kAwkward) {
    const i64 rows = 5, ld = n + 1;
    std::vector<std::int32_t> dots(static_cast<std::size_t>(rows * ld));
    for (auto& d : dots) d = static_cast<std::int32_t>(gen() % 41) - 20;
    const RandomThresholds t(n, 20, gen);
    Words ref_bits(static_cast<std::size_t>(rows * x::words_for(n)), ~std::uint64_t{0});
    ref().pack_thresholds(dots.data(), rows, n, ld, t.view(), ref_bits.data());
    for (i64 r = 0; r < rows; ++r) {
      for (i64 c = 0; c < n; ++c) {
        const std::int32_t d = dots[static_cast<std::size_t>(r * ld + c)];
        const std::int32_t tau = t.tau[static_cast<std::size_t>(c)];
        const bool plus = t.flip[static_cast<std::size_t>(c)] ? d <= tau : d >= tau;
        const auto word = ref_bits[static_cast<std::size_t>(r * x::words_for(n) + c / 64)];
        REQUIRE(((word >> (c % 64)) & 1u) == (plus ? 0u : 1u));
      }
    }
    for (const auto p : fast_paths()) {
      Words bits(ref_bits.size(), ~std::uint64_t{0});
      x::kernel_table(p).pack_thresholds(dots.data(), rows, n, ld, t.view(), bits.data());
      CHECK(bits == ref_bits);
      // no flip array: every channel normal
      Words b1(ref_bits.size()), b2(ref_bits.size());
      x::kernel_table(p).pack_thresholds(dots.data(), rows, n, ld, {t.tau.data(), nullptr},
                                         b1.data());
      ref().pack_thresholds(dots.data(), rows, n, ld, {t.tau.data(), nullptr}, b2.data());
      CHECK(b1 == b2);
    }

    for (int bits = 1; bits <= 4; ++bits) {
      const auto codes = random_codes(rows * ld, bits, gen);
      Words ref_planes(static_cast<std::size_t>(rows * bits * x::words_for(n)), ~0ull);
      ref().pack_planes(codes.data(), rows, n, ld, bits, ref_planes.data());
      std::vector<std::uint8_t> back(static_cast<std::size_t>(rows * n));
      x::unpack_planes(ref_planes.data(), rows, n, bits, back.data());
      for (i64 r = 0; r < rows; ++r) {
        for (i64 c = 0; c < n; ++c) {
          REQUIRE(back[static_cast<std::size_t>(r * n + c)] ==
                  codes[static_cast<std::size_t>(r * ld + c)]);
        }
      }
      for (const auto p : fast_paths()) {
        Words planes(ref_planes.size(), ~0ull);
        x::kernel_table(p).pack_planes(codes.data(), rows, n, ld, bits, planes.data());
        CHECK(planes == ref_planes);
      }
    }
  }
}

// methods.md 2a self-check 3: for integer s, sign(BN(s)) == the folded threshold compare.
TEST_CASE("BN + sign folds into an integer threshold (gamma > 0, < 0, == 0)", "[xnor][kernel]") {
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  int flipped = 0, constant = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const i64 K = 1 + static_cast<i64>(gen() % 600);
    double gamma = u(gen) * 2.0;
    if (trial % 10 == 0) gamma = 0.0;
    const double beta = u(gen) * 3.0, mean = u(gen) * static_cast<double>(K) * 0.5;
    const double var = std::abs(u(gen)) * static_cast<double>(K) + 1e-3;
    const double invstd = 1.0 / std::sqrt(var + 1e-5);
    const x::Threshold t = x::fold_bn_sign(gamma, beta, mean, invstd, K);
    flipped += t.flip;
    constant += t.tau == INT32_MIN || t.tau == INT32_MAX;
    // The same BN in float, as a training layer computes it.
    const float g = static_cast<float>(gamma), b = static_cast<float>(beta),
                mu = static_cast<float>(mean), is = static_cast<float>(invstd);
    const auto bn_float = [&](std::int32_t s) { return (static_cast<float>(s) - mu) * is * g + b; };
    const x::Threshold tf = x::fold_sign_threshold(bn_float, static_cast<std::int32_t>(-K),
                                                   static_cast<std::int32_t>(K));
    for (i64 s = -K; s <= K; ++s) {
      const auto si = static_cast<std::int32_t>(s);
      const double y = (s - mean) * invstd * gamma + beta;
      INFO("K=" << K << " gamma=" << gamma << " beta=" << beta << " mean=" << mean << " s=" << s);
      REQUIRE(x::threshold_bit(si, t.tau, t.flip) == (y < 0.0));
      REQUIRE(x::threshold_bit(si, tf.tau, tf.flip) == (bn_float(si) < 0.0f));
    }
  }
  CHECK(flipped > 100);
  CHECK(constant >= 60);
}

TEST_CASE("binary max-pool equals the reference and float max-pool on +/-1 data",
          "[xnor][kernel]") {
  std::mt19937_64 gen(4);
  struct Win {
    i64 k, s, p;
  };
  int ran = 0;
  for (const i64 C : kChannels) {
    for (const Win win : {Win{2, 2, 0}, Win{3, 2, 1}, Win{3, 1, 1}, Win{2, 1, 1}, Win{3, 3, 0}}) {
      for (const auto& [H, W] : {std::pair<i64, i64>{5, 7}, {9, 5}, {1, 3}}) {
        x::BPoolShape s;
        s.batch = ran % 2 ? 3 : 1, s.in_h = H, s.in_w = W, s.channels = C;
        s.kernel = win.k, s.stride = win.s, s.pad = win.p;
        if (H + 2 * s.pad < s.kernel || W + 2 * s.pad < s.kernel) continue;
        ++ran;
        const i64 OH = s.out_h(), OW = s.out_w(), words = x::words_for(C);
        const auto v = random_signs(s.batch * H * W * C, gen);
        const Words in = pack(v, s.batch * H * W, C);
        // float max over in-bounds taps
        std::vector<float> expect(static_cast<std::size_t>(s.batch * OH * OW * C));
        for (i64 n = 0; n < s.batch; ++n) {
          for (i64 oh = 0; oh < OH; ++oh) {
            for (i64 ow = 0; ow < OW; ++ow) {
              for (i64 c = 0; c < C; ++c) {
                float m = -INFINITY;
                for (i64 kh = 0; kh < s.kernel; ++kh) {
                  for (i64 kw = 0; kw < s.kernel; ++kw) {
                    const i64 ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    m = std::max(m, v[static_cast<std::size_t>(((n * H + ih) * W + iw) * C + c)]);
                  }
                }
                expect[static_cast<std::size_t>(((n * OH + oh) * OW + ow) * C + c)] = m;
              }
            }
          }
        }
        Words ref_out(static_cast<std::size_t>(s.batch * OH * OW * words), ~0ull);
        ref().bmaxpool2d(in.data(), s, ref_out.data());
        std::vector<float> got(expect.size());
        x::unpack_signs(ref_out.data(), s.batch * OH * OW, C, got.data());
        INFO("C=" << C << " k=" << s.kernel << " s=" << s.stride << " p=" << s.pad << " H=" << H
                  << " W=" << W);
        CHECK(got == expect);
        CHECK(pack(got, s.batch * OH * OW, C) == ref_out);  // padding bits 0
        for (const auto p : fast_paths()) {
          Words out(ref_out.size(), ~0ull);
          x::kernel_table(p).bmaxpool2d(in.data(), s, out.data());
          CHECK(out == ref_out);
        }
      }
    }
  }
  CHECK(ran > 60);
}

TEST_CASE("xnor free functions reject bad arguments", "[xnor][kernel]") {
  std::uint64_t w = 0;
  std::int32_t o = 0;
  x::BConvShape s;
  s.in_h = 2, s.in_w = 2, s.in_c = 3, s.out_c = 1, s.kernel = 3, s.pad = 0;
  CHECK_THROWS_AS(x::bconv2d(&w, &w, s, &o), std::invalid_argument);
  CHECK_THROWS_AS(x::bgemm(&w, &w, 1, 0, 1, &o, 1), std::invalid_argument);
  CHECK_THROWS_AS(x::plane_gemm(&w, 5, &w, 1, 1, 1, 1, &o, 1), std::invalid_argument);
  x::BPoolShape p;
  p.in_h = 4, p.in_w = 4, p.channels = 1, p.kernel = 2, p.pad = 2;
  CHECK_THROWS_AS(x::bmaxpool2d(&w, p, &w), std::invalid_argument);
}
