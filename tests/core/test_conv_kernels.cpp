// conv2d kernels: the im2col + sgemm kernels against their direct-loop reference twins on the
// awkward sizes, one dimension varied at a time, for stride / padding / dilation / groups variants;
// the Winograd kernels (both tile sizes) likewise on the 3x3 stride-1 geometries they take.

#include "core/kernels/conv.hpp"
#include "core/kernels/conv_winograd.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using lowbit::core::kernels::ConvGeometry;
using i64 = std::int64_t;

struct Window {  // kernel size, stride, padding, dilation
  i64 KH, KW, sh, sw, ph, pw, dh, dw;
};

// 3x3 same, 3x3 stride 2, dilated, 1x1 (no im2col), 1x1 stride 2 (downsample), asymmetric,
// stride larger than the kernel (skipped pixels), padding larger than the kernel reach.
const std::vector<Window> kWindows{
    {3, 3, 1, 1, 1, 1, 1, 1}, {3, 3, 2, 2, 1, 1, 1, 1}, {3, 3, 1, 1, 2, 2, 2, 2},
    {1, 1, 1, 1, 0, 0, 1, 1}, {1, 1, 2, 2, 0, 0, 1, 1}, {5, 3, 2, 1, 2, 0, 1, 3},
    {2, 2, 3, 3, 0, 0, 1, 1}, {3, 3, 1, 1, 3, 3, 1, 1},
};

struct Dims {
  i64 N, C, H, W, O, groups;
};

// The geometry, or OH/OW <= 0 when the window does not fit.
ConvGeometry geometry(const Dims& d, const Window& k) {
  ConvGeometry g{};
  g.N = d.N, g.C = d.C, g.H = d.H, g.W = d.W, g.O = d.O, g.groups = d.groups;
  g.KH = k.KH, g.KW = k.KW, g.stride_h = k.sh, g.stride_w = k.sw, g.pad_h = k.ph, g.pad_w = k.pw;
  g.dilation_h = k.dh, g.dilation_w = k.dw;
  g.OH = (g.H + 2 * g.pad_h - g.dilation_h * (g.KH - 1) - 1) / g.stride_h + 1;
  g.OW = (g.W + 2 * g.pad_w - g.dilation_w * (g.KW - 1) - 1) / g.stride_w + 1;
  if (g.H + 2 * g.pad_h < g.dilation_h * (g.KH - 1) + 1) g.OH = 0;
  if (g.W + 2 * g.pad_w < g.dilation_w * (g.KW - 1) + 1) g.OW = 0;
  return g;
}

std::string describe(const ConvGeometry& g) {
  return fmt::format("N={} C={} H={} W={} O={} K={}x{} stride={},{} pad={},{} dil={},{} groups={}",
                     g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                     g.dilation_h, g.dilation_w, g.groups);
}

std::vector<float> random_values(i64 n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = dist(gen);
  return v;
}

// Outputs start as NaN so a kernel that fails to overwrite an element is caught.
std::vector<float> nan_filled(i64 n) {
  return std::vector<float>(static_cast<std::size_t>(n), std::numeric_limits<float>::quiet_NaN());
}

// Largest |a-b| scaled by max(1, |b|); NaN anywhere gives infinity.
double max_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(double(a[i]) - b[i]) / std::max(1.0, std::abs(double(b[i])));
    if (!(e <= worst)) worst = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
  }
  return worst;
}

// Float sums of `terms` products of values in [-1, 1] against the double reference.
double tolerance(i64 terms) { return 1e-5 * (1.0 + std::sqrt(double(terms))); }

// The three kernels under test, and how much looser than im2col's their error bound is.
struct ConvKernels {
  std::function<void(const ConvGeometry&, const float*, const float*, const float*, float*)> forward;
  std::function<void(const ConvGeometry&, const float*, const float*, float*)> backward_input;
  std::function<void(const ConvGeometry&, const float*, const float*, float*, float*)>
      backward_weight;
  double tolerance_scale = 1.0;
};

ConvKernels im2col_kernels() {
  namespace k = lowbit::core::kernels;
  return {k::conv2d_forward_im2col, k::conv2d_backward_input_im2col,
          k::conv2d_backward_weight_im2col};
}

// F(2x2, 3x3) rounds about as much as a direct sum; F(4x4, 3x3)'s and F(2x2, 5x5)'s transforms
// (points +-2: entries up to 8, and 1/24) amplify rounding, to ~1.1 times the im2col bound in
// this file's worst cases.
ConvKernels winograd_kernels(int tile, int kernel = 3) {
  namespace k = lowbit::core::kernels;
  return {[tile](const ConvGeometry& g, const float* x, const float* w, const float* b, float* y) {
            k::conv2d_forward_winograd(g, x, w, b, y, tile);
          },
          [tile](const ConvGeometry& g, const float* dy, const float* w, float* dx) {
            k::conv2d_backward_input_winograd(g, dy, w, dx, tile);
          },
          [tile](const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db) {
            k::conv2d_backward_weight_winograd(g, x, dy, dw, db, tile);
          },
          tile == 2 && kernel == 3 ? 1.0 : 3.0};
}

void compare_kernels(const ConvGeometry& g, bool with_bias, std::uint64_t seed,
                     const ConvKernels& fast = im2col_kernels()) {
  namespace k = lowbit::core::kernels;
  const i64 Cg = g.C / g.groups, Og = g.O / g.groups;
  const i64 x_size = g.N * g.C * g.H * g.W, w_size = g.O * Cg * g.KH * g.KW;
  const i64 y_size = g.N * g.O * g.OH * g.OW;
  const auto x = random_values(x_size, seed);        // x: (N,C,H,W)
  const auto w = random_values(w_size, seed + 1);    // w: (O,Cg,KH,KW)
  const auto b = random_values(g.O, seed + 2);       // b: (O)
  const auto dy = random_values(y_size, seed + 3);   // dy: (N,O,OH,OW)
  const float* bias = with_bias ? b.data() : nullptr;
  const double scale = fast.tolerance_scale;
  INFO(describe(g) << (with_bias ? " with bias" : " without bias"));

  auto y = nan_filled(y_size), y_ref = nan_filled(y_size);
  fast.forward(g, x.data(), w.data(), bias, y.data());
  k::conv2d_forward_reference(g, x.data(), w.data(), bias, y_ref.data());
  CHECK(max_error(y, y_ref) <= scale * tolerance(Cg * g.KH * g.KW));

  auto dx = nan_filled(x_size), dx_ref = nan_filled(x_size);
  fast.backward_input(g, dy.data(), w.data(), dx.data());
  k::conv2d_backward_input_reference(g, dy.data(), w.data(), dx_ref.data());
  CHECK(max_error(dx, dx_ref) <= scale * tolerance(Og * g.KH * g.KW));

  auto dw = nan_filled(w_size), dw_ref = nan_filled(w_size);
  auto db = nan_filled(g.O), db_ref = nan_filled(g.O);
  fast.backward_weight(g, x.data(), dy.data(), dw.data(), with_bias ? db.data() : nullptr);
  k::conv2d_backward_weight_reference(g, x.data(), dy.data(), dw_ref.data(),
                                      with_bias ? db_ref.data() : nullptr);
  CHECK(max_error(dw, dw_ref) <= scale * tolerance(g.N * g.OH * g.OW));
  if (with_bias) {
    CHECK(max_error(db, db_ref) <= tolerance(g.N * g.OH * g.OW));
  } else {
    CHECK(std::all_of(db.begin(), db.end(), [](float v) { return std::isnan(v); }));
  }
}

// Runs every window on `dims`, skipping windows that do not fit.
int compare_all_windows(const Dims& dims, std::uint64_t& seed) {
  int ran = 0;
  for (const Window& win : kWindows) {
    const ConvGeometry g = geometry(dims, win);
    if (g.OH <= 0 || g.OW <= 0) continue;
    compare_kernels(g, seed % 2 == 0, seed);
    seed += 4;
    ++ran;
  }
  return ran;
}

}  // namespace

TEST_CASE("conv2d kernels match the reference, one awkward dimension at a time", "[kernel]") {
  std::uint64_t seed = 100;
  int ran = 0;
  for (const i64 s : lowbit::test::kAwkwardSizes) {
    ran += compare_all_windows({s, 2, 6, 7, 3, 1}, seed);   // batch (N < threads at s = 1)
    ran += compare_all_windows({2, s, 7, 6, 3, 1}, seed);   // input channels
    ran += compare_all_windows({2, 3, 6, 7, s, 1}, seed);   // output channels
    ran += compare_all_windows({2, 3, s, 6, 4, 1}, seed);   // height
    ran += compare_all_windows({2, 3, 6, s, 4, 1}, seed);   // width
  }
  CHECK(ran > 300);
}

TEST_CASE("grouped conv2d kernels match the reference", "[kernel]") {
  std::uint64_t seed = 9000;
  for (const i64 s : lowbit::test::kAwkwardSizes) {
    compare_all_windows({2, s, 6, 7, s, s}, seed);          // depthwise
    compare_all_windows({2, 2, 7, 6, 2 * s, 2}, seed);      // 2 groups, Og = s
    compare_all_windows({3, 3 * s, 6, 5, 6, 3}, seed);      // 3 groups, Cg = s
  }
}

TEST_CASE("conv2d kernels at a ResNet-like shape", "[kernel]") {
  std::uint64_t seed = 77;
  // Larger planes and channel counts than the sweep: several GEMM blocks per sample.
  compare_kernels(geometry({3, 64, 14, 14, 65, 1}, {3, 3, 1, 1, 1, 1, 1, 1}), true, seed);
  compare_kernels(geometry({4, 33, 15, 15, 128, 1}, {3, 3, 2, 2, 1, 1, 1, 1}), false, seed + 4);
  compare_kernels(geometry({4, 64, 15, 15, 128, 1}, {1, 1, 2, 2, 0, 0, 1, 1}), true, seed + 8);
}

TEST_CASE("Winograd conv2d kernels match the reference, one awkward dimension at a time",
          "[kernel]") {
  std::uint64_t seed = 5000;
  int ran = 0;
  for (const int tile : {2, 4}) {
    const ConvKernels winograd = winograd_kernels(tile);
    for (const i64 pad : {0, 1, 2}) {
      const Window win{3, 3, 1, 1, pad, pad, 1, 1};
      for (const i64 s : lowbit::test::kAwkwardSizes) {
        for (const Dims& d : {Dims{s, 5, 6, 7, 3, 1}, Dims{2, s, 7, 6, 3, 1},
                              Dims{2, 3, 6, 7, s, 1}}) {
          compare_kernels(geometry(d, win), (seed & 4) == 0, seed, winograd);
          seed += 4;
          ++ran;
        }
      }
      // Planes from below one tile to several, with ragged edges in both directions.
      for (const i64 h : {1, 2, 3, 4, 5, 7, 9, 14, 17}) {
        for (const i64 w : {1, 3, 6, 8, 13}) {
          const ConvGeometry g = geometry({2, 4, h, w, 5, 1}, win);
          if (g.OH <= 0 || g.OW <= 0) continue;
          compare_kernels(g, (seed & 4) == 0, seed, winograd);
          seed += 4;
          ++ran;
        }
      }
    }
    // ResNet-like planes and channel counts, as the dispatcher sends them.
    compare_kernels(geometry({3, 64, 14, 14, 65, 1}, {3, 3, 1, 1, 1, 1, 1, 1}), true, seed,
                    winograd);
    compare_kernels(geometry({5, 129, 7, 7, 33, 1}, {3, 3, 1, 1, 1, 1, 1, 1}), false, seed + 4,
                    winograd);
    compare_kernels(geometry({33, 48, 4, 4, 64, 1}, {3, 3, 1, 1, 1, 1, 1, 1}), false, seed + 8,
                    winograd);
  }
  CHECK(ran > 200);
}

TEST_CASE("Winograd F(2x2, 5x5) conv2d kernels match the reference", "[kernel]") {
  std::uint64_t seed = 7000;
  const ConvKernels winograd = winograd_kernels(2, 5);
  for (const i64 pad : {0, 2, 4}) {
    const Window win{5, 5, 1, 1, pad, pad, 1, 1};
    for (const i64 s : lowbit::test::kAwkwardSizes) {
      for (const Dims& d : {Dims{s, 3, 7, 6, 2, 1}, Dims{2, s, 6, 7, 3, 1}, Dims{2, 3, 7, 6, s, 1}}) {
        const ConvGeometry g = geometry(d, win);
        if (g.OH <= 0 || g.OW <= 0) continue;
        compare_kernels(g, (seed & 4) == 0, seed, winograd);
        seed += 4;
      }
    }
    for (const i64 h : {1, 4, 5, 9, 14}) {
      for (const i64 w : {2, 5, 13}) {
        const ConvGeometry g = geometry({2, 4, h, w, 5, 1}, win);
        if (g.OH <= 0 || g.OW <= 0) continue;
        compare_kernels(g, (seed & 4) == 0, seed, winograd);
        seed += 4;
      }
    }
  }
  // LeNet's second conv.
  compare_kernels(geometry({3, 32, 14, 14, 64, 1}, {5, 5, 1, 1, 2, 2, 1, 1}), true, seed, winograd);
}

TEST_CASE("The dispatcher sends 3x3 stride-1 convs with enough channels to Winograd", "[kernel]") {
  namespace k = lowbit::core::kernels;
  const ConvGeometry resnet = geometry({2, 64, 14, 14, 64, 1}, {3, 3, 1, 1, 1, 1, 1, 1});
  const bool cpu_ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  CHECK((k::winograd_tile(resnet) != 0) == cpu_ok);
  CHECK(k::winograd_tile(geometry({2, 1, 28, 28, 64, 1}, {3, 3, 1, 1, 1, 1, 1, 1})) == 0);  // stem
  ConvGeometry exact = resnet;
  exact.exact = true;
  CHECK(k::winograd_tile(exact) == 0);
  CHECK(k::winograd_tile(geometry({2, 64, 14, 14, 64, 1}, {3, 3, 2, 2, 1, 1, 1, 1})) == 0);
  CHECK(k::winograd_tile(geometry({2, 64, 14, 14, 64, 1}, {3, 3, 1, 1, 2, 2, 2, 2})) == 0);
  CHECK(k::winograd_tile(geometry({2, 64, 14, 14, 64, 2}, {3, 3, 1, 1, 1, 1, 1, 1})) == 0);
  CHECK((k::winograd_tile(geometry({2, 32, 14, 14, 64, 1}, {5, 5, 1, 1, 2, 2, 1, 1})) == 2) ==
        cpu_ok);
  CHECK(k::winograd_tile(geometry({2, 32, 14, 14, 64, 1}, {5, 3, 1, 1, 2, 1, 1, 1})) == 0);
  CHECK_THROWS_AS(k::conv2d_forward_winograd(resnet, nullptr, nullptr, nullptr, nullptr, 3),
                  std::invalid_argument);
  CHECK_THROWS_AS(k::conv2d_forward_winograd(geometry({2, 8, 9, 9, 8, 1}, {5, 5, 1, 1, 2, 2, 1, 1}),
                                             nullptr, nullptr, nullptr, nullptr, 4),
                  std::invalid_argument);
  compare_kernels(resnet, true, 31, {k::conv2d_forward_fast, k::conv2d_backward_input_fast,
                                     k::conv2d_backward_weight_fast, 3.0});
}
