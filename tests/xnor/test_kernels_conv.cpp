// XNOR kernels: binary and bit-plane convolution with their output transforms over the awkward
// channel counts, kernel 1/3, stride 1/2, padding 0/1, odd spatial sizes and batch 1/3; every
// path against the reference twin, the reference against float convolution on +/-1 data (and
// integer convolution on codes), and the threshold output against BN in float then sign.

#include <catch2/catch.hpp>

#include "tests/xnor/test_kernels_support.hpp"

using namespace lowbit::test::xnor;

namespace {

struct Window {
  i64 k, stride, pad;
};
const std::vector<Window> kWindows{{1, 1, 0}, {1, 2, 0}, {1, 1, 1}, {1, 2, 1},
                                   {3, 1, 0}, {3, 2, 0}, {3, 1, 1}, {3, 2, 1}};
const std::vector<std::pair<i64, i64>> kSpatial{{5, 7}, {9, 5}, {7, 9}, {1, 3}};

x::BConvShape shape(i64 batch, i64 H, i64 W, i64 C, i64 O, const Window& win) {
  x::BConvShape s;
  s.batch = batch, s.in_h = H, s.in_w = W, s.in_c = C, s.out_c = O;
  s.kernel = win.k, s.stride = win.stride, s.pad = win.pad;
  return s;
}

bool fits(const x::BConvShape& s) {
  return s.in_h + 2 * s.pad >= s.kernel && s.in_w + 2 * s.pad >= s.kernel;
}

void check_bconv(const x::BConvShape& s, std::mt19937_64& gen) {
  INFO(describe(s));
  const i64 KK = s.kernel * s.kernel, rows = s.batch * s.out_h() * s.out_w();
  const auto inf = random_signs(s.batch * s.in_h * s.in_w * s.in_c, gen);
  const auto wf = random_signs(s.out_c * KK * s.in_c, gen);
  const Words in = pack(inf, s.batch * s.in_h * s.in_w, s.in_c);
  const Words w = pack(wf, s.out_c * KK, s.in_c);

  std::vector<std::int32_t> ref_i32(static_cast<std::size_t>(rows * s.out_c), -99999);
  ref().bconv2d(in.data(), w.data(), s, ref_i32.data());
  const auto expect = direct_conv(inf, wf, s);
  bool same = true;
  for (std::size_t i = 0; i < expect.size(); ++i) same = same && float(ref_i32[i]) == expect[i];
  REQUIRE(same);

  const auto scale = random_floats(s.out_c, gen), bias = random_floats(s.out_c, gen);
  const RandomThresholds t(s.out_c, s.in_c * KK, gen);
  std::vector<float> ref_f32(ref_i32.size(), -7.0f);
  ref().bconv2d_affine(in.data(), w.data(), s, scale.data(), bias.data(), ref_f32.data());
  Words ref_bits(static_cast<std::size_t>(rows * x::words_for(s.out_c)), ~0ull);
  ref().bconv2d_threshold(in.data(), w.data(), s, t.view(), ref_bits.data());
  Words packed(ref_bits.size());  // thresholding the int32 output agrees
  ref().pack_thresholds(ref_i32.data(), rows, s.out_c, s.out_c, t.view(), packed.data());
  CHECK(packed == ref_bits);

  for (const auto p : fast_paths()) {
    INFO(x::kernel_path_name(p));
    const auto& k = x::kernel_table(p);
    std::vector<std::int32_t> i32(ref_i32.size(), -99999);
    k.bconv2d(in.data(), w.data(), s, i32.data());
    CHECK(i32 == ref_i32);
    std::vector<float> f32(ref_f32.size(), -7.0f);
    k.bconv2d_affine(in.data(), w.data(), s, scale.data(), bias.data(), f32.data());
    CHECK(f32 == ref_f32);
    Words bits(ref_bits.size(), ~0ull);
    k.bconv2d_threshold(in.data(), w.data(), s, t.view(), bits.data());
    CHECK(bits == ref_bits);
  }
}

void check_plane_conv(const x::BConvShape& s, int abits, int wbits, std::mt19937_64& gen) {
  INFO(describe(s) << " abits=" << abits << " wbits=" << wbits);
  const i64 KK = s.kernel * s.kernel, rows = s.batch * s.out_h() * s.out_w();
  const auto ac = random_codes(s.batch * s.in_h * s.in_w * s.in_c, abits, gen);
  const auto wc = random_codes(s.out_c * KK * s.in_c, wbits, gen);
  const Words in = pack_codes(ac, s.batch * s.in_h * s.in_w, s.in_c, abits);
  const Words w = pack_codes(wc, s.out_c * KK, s.in_c, wbits);
  std::vector<std::int32_t> ref_i32(static_cast<std::size_t>(rows * s.out_c), -99999);
  ref().plane_conv2d(in.data(), abits, w.data(), wbits, s, ref_i32.data());
  const auto expect = direct_conv(std::vector<i64>(ac.begin(), ac.end()),
                                  std::vector<i64>(wc.begin(), wc.end()), s);
  bool same = true;
  for (std::size_t i = 0; i < expect.size(); ++i) same = same && ref_i32[i] == expect[i];
  REQUIRE(same);
  const auto bias = random_floats(s.out_c, gen);
  std::vector<float> ref_f32(ref_i32.size(), -7.0f);
  ref().plane_conv2d_affine(in.data(), abits, w.data(), wbits, s, nullptr, bias.data(),
                            ref_f32.data());
  for (const auto p : fast_paths()) {
    INFO(x::kernel_path_name(p));
    const auto& k = x::kernel_table(p);
    std::vector<std::int32_t> i32(ref_i32.size(), -99999);
    k.plane_conv2d(in.data(), abits, w.data(), wbits, s, i32.data());
    CHECK(i32 == ref_i32);
    std::vector<float> f32(ref_f32.size(), -7.0f);
    k.plane_conv2d_affine(in.data(), abits, w.data(), wbits, s, nullptr, bias.data(), f32.data());
    CHECK(f32 == ref_f32);
  }
}

}  // namespace

TEST_CASE("bconv2d over awkward channels, windows and sizes equals float conv and the reference",
          "[xnor][kernel]") {
  std::mt19937_64 gen(20);
  int ran = 0;
  for (const Window& win : kWindows) {
    for (const i64 c : kChannels) {
      const auto [H, W] = kSpatial[static_cast<std::size_t>(ran % kSpatial.size())];
      const i64 batch = ran % 2 ? 3 : 1;
      for (const auto& s : {shape(batch, H, W, c, 33, win), shape(batch, W, H, 65, c, win)}) {
        if (!fits(s)) continue;
        check_bconv(s, gen);
        ++ran;
      }
    }
  }
  CHECK(ran > 80);
}

TEST_CASE("bconv2d on larger shapes (several tasks, threads, direct 1x1)", "[xnor][kernel]") {
  std::mt19937_64 gen(21);
  check_bconv(shape(2, 14, 14, 128, 130, {3, 1, 1}), gen);
  check_bconv(shape(3, 15, 13, 64, 128, {3, 2, 1}), gen);
  check_bconv(shape(2, 11, 9, 256, 200, {1, 1, 0}), gen);
  check_bconv(shape(1, 7, 7, 512, 512, {3, 1, 1}), gen);
}

// methods.md 2a: BN then sign on the float convolution equals the fused threshold output, for
// random BN parameters with gamma > 0, gamma < 0 and gamma == 0.
TEST_CASE("bconv2d_threshold equals BN in float then sign", "[xnor][kernel]") {
  std::mt19937_64 gen(22);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (const auto& s : {shape(3, 7, 9, 65, 129, {3, 1, 1}), shape(1, 9, 5, 63, 64, {3, 2, 1}),
                        shape(2, 5, 7, 129, 63, {1, 1, 0})}) {
    INFO(describe(s));
    const i64 K = s.in_c * s.kernel * s.kernel, O = s.out_c;
    const i64 rows = s.batch * s.out_h() * s.out_w();
    const auto inf = random_signs(s.batch * s.in_h * s.in_w * s.in_c, gen);
    const auto wf = random_signs(O * s.kernel * s.kernel * s.in_c, gen);
    const Words in = pack(inf, s.batch * s.in_h * s.in_w, s.in_c);
    const Words w = pack(wf, O * s.kernel * s.kernel, s.in_c);
    const auto y = direct_conv(inf, wf, s);
    std::vector<double> gamma, beta, mean, invstd;
    std::vector<std::int32_t> tau;
    std::vector<std::uint8_t> flip;
    for (i64 c = 0; c < O; ++c) {
      gamma.push_back(c % 7 == 0 ? 0.0 : u(gen) * 2.0);
      beta.push_back(u(gen));
      mean.push_back(u(gen) * 4.0);
      invstd.push_back(1.0 / std::sqrt(std::abs(u(gen)) * 8.0 + 0.5));
      const x::Threshold t =
          x::fold_bn_sign(gamma.back(), beta.back(), mean.back(), invstd.back(), K);
      tau.push_back(t.tau);
      flip.push_back(t.flip);
    }
    Words expect(static_cast<std::size_t>(rows * x::words_for(O)), 0);
    for (i64 r = 0; r < rows; ++r) {
      for (i64 c = 0; c < O; ++c) {
        const auto cz = static_cast<std::size_t>(c);
        const double bn =
            (y[static_cast<std::size_t>(r * O + c)] - mean[cz]) * invstd[cz] * gamma[cz] + beta[cz];
        if (bn < 0.0)
          expect[static_cast<std::size_t>(r * x::words_for(O) + c / 64)] |= 1ull << (c % 64);
      }
    }
    std::vector<x::KernelPath> paths = fast_paths();
    paths.push_back(x::KernelPath::reference);
    for (const auto p : paths) {
      INFO(x::kernel_path_name(p));
      Words bits(expect.size(), ~0ull);
      x::kernel_table(p).bconv2d_threshold(in.data(), w.data(), s, {tau.data(), flip.data()},
                                           bits.data());
      CHECK(bits == expect);
    }
  }
}

TEST_CASE("plane conv (k-bit codes) equals integer conv and the reference", "[xnor][kernel]") {
  std::mt19937_64 gen(23);
  int ran = 0;
  for (const Window& win : kWindows) {
    for (const i64 c : {i64{1}, i64{64}, i64{65}, i64{129}}) {
      const auto [H, W] = kSpatial[static_cast<std::size_t>(ran % kSpatial.size())];
      const int abits = 1 + ran % 4, wbits = 1 + (ran / 4) % 4;
      const auto s = shape(ran % 2 ? 3 : 1, H, W, c, 65 - c % 3, win);
      if (!fits(s)) continue;
      check_plane_conv(s, abits, wbits, gen);
      ++ran;
    }
  }
  CHECK(ran > 25);
  check_plane_conv(shape(2, 14, 14, 128, 130, {3, 1, 1}), 2, 2, gen);
  check_plane_conv(shape(1, 9, 9, 64, 64, {3, 2, 1}), 4, 4, gen);
  check_plane_conv(shape(2, 7, 7, 96, 70, {1, 1, 0}), 3, 2, gen);
}
