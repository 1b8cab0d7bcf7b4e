// Pooling and batch-norm kernels: optimized twins against reference twins on awkward sizes, plus a
// few hand-checked contracts (first maximum wins, padding never wins, count_include_pad).

#include "core/kernels/dispatch.hpp"
#include "core/kernels/norm.hpp"
#include "core/kernels/pool.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using lowbit::core::kernels::PoolGeometry;
namespace k = lowbit::core::kernels;

const std::vector<std::int64_t> kSizes{1, 31, 32, 33, 63, 64, 65, 127, 128, 129};

std::vector<float> random_vector(std::int64_t n, std::uint64_t seed, float lo = -1.0f,
                                 float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

// max |a-b| / max(1, |b|).
double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double e = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    e = std::max(e, std::abs(double(a[i]) - b[i]) / std::max(1.0, std::abs(double(b[i]))));
  }
  return e;
}

struct Window {
  std::int64_t KH, KW, SH, SW, PH, PW;
};
const std::vector<Window> kWindows{
    {2, 2, 2, 2, 0, 0},  // the common 2x2/2
    {3, 3, 2, 2, 1, 1},  // ResNet stem pool
    {3, 3, 1, 1, 1, 1},  // overlapping, same size
    {2, 2, 1, 1, 0, 0},  // overlapping, no padding
    {3, 2, 1, 2, 1, 0},  // asymmetric
};

PoolGeometry make_geometry(std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W,
                           const Window& w) {
  PoolGeometry g{N, C, H, W, 0, 0, w.KH, w.KW, w.SH, w.SW, w.PH, w.PW};
  g.OH = (H + 2 * w.PH - w.KH) / w.SH + 1;
  g.OW = (W + 2 * w.PW - w.KW) / w.SW + 1;
  return g;
}

// Geometries: each of N, C, H, W drawn from kSizes with the others small, for every window.
std::vector<PoolGeometry> pool_geometries() {
  std::vector<PoolGeometry> out;
  for (const Window& w : kWindows) {
    for (std::int64_t s : kSizes) {
      for (const PoolGeometry& g :
           {make_geometry(s, 2, 5, 6, w), make_geometry(2, s, 5, 6, w),
            make_geometry(1, 2, s, 7, w), make_geometry(1, 2, 6, s, w)}) {
        if (g.H + 2 * g.PH >= g.KH && g.W + 2 * g.PW >= g.KW && g.OH > 0 && g.OW > 0) {
          out.push_back(g);
        }
      }
    }
  }
  return out;
}

std::string describe(const PoolGeometry& g) {
  return fmt::format("N={} C={} H={} W={} k={}x{} s={}x{} p={}x{}", g.N, g.C, g.H, g.W, g.KH, g.KW,
                     g.SH, g.SW, g.PH, g.PW);
}

}  // namespace

TEST_CASE("max_pool2d fast matches reference on awkward sizes", "[kernel]") {
  std::uint64_t seed = 1;
  for (const PoolGeometry& g : pool_geometries()) {
    INFO(describe(g));
    const std::int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.OH * g.OW;
    // Coarse levels make ties common, so the first-maximum rule is exercised too.
    std::vector<float> x = random_vector(nx, seed++);
    for (std::size_t i = 0; i < x.size(); i += 2) x[i] = std::round(x[i] * 4.0f) / 4.0f;
    const std::vector<float> dy = random_vector(ny, seed++);
    std::vector<float> y_f(ny), y_r(ny), dx_f(nx, 7.0f), dx_r(nx, -7.0f);
    std::vector<std::int32_t> a_f(ny), a_r(ny);
    k::max_pool2d_forward_fast(g, x.data(), y_f.data(), a_f.data());
    k::max_pool2d_forward_reference(g, x.data(), y_r.data(), a_r.data());
    REQUIRE(y_f == y_r);
    REQUIRE(a_f == a_r);
    k::max_pool2d_backward_fast(g, dy.data(), a_f.data(), dx_f.data());
    k::max_pool2d_backward_reference(g, dy.data(), a_r.data(), dx_r.data());
    REQUIRE(rel_error(dx_f, dx_r) < 1e-6);
  }
}

TEST_CASE("avg_pool2d fast matches reference on awkward sizes", "[kernel]") {
  std::uint64_t seed = 100;
  for (const PoolGeometry& g : pool_geometries()) {
    INFO(describe(g));
    const std::int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.OH * g.OW;
    const std::vector<float> x = random_vector(nx, seed++);
    const std::vector<float> dy = random_vector(ny, seed++);
    std::vector<float> y_f(ny), y_r(ny), dx_f(nx, 7.0f), dx_r(nx, -7.0f);
    k::avg_pool2d_forward_fast(g, x.data(), y_f.data());
    k::avg_pool2d_forward_reference(g, x.data(), y_r.data());
    REQUIRE(rel_error(y_f, y_r) < 1e-5);
    k::avg_pool2d_backward_fast(g, dy.data(), dx_f.data());
    k::avg_pool2d_backward_reference(g, dy.data(), dx_r.data());
    REQUIRE(rel_error(dx_f, dx_r) < 1e-5);
  }
}

TEST_CASE("max_pool2d: first maximum wins and padding never wins", "[kernel]") {
  for (const k::KernelPath path : {k::KernelPath::optimized, k::KernelPath::reference}) {
    const k::KernelTable& t = k::kernel_table(path);
    // x: (1,1,2,3), all negative; 3x3 window, stride 1, pad 1 -> y: (1,1,2,3).
    const std::vector<float> x{-5, -2, -1, -3, -1, -9};
    PoolGeometry g{1, 1, 2, 3, 2, 3, 3, 3, 1, 1, 1, 1};
    std::vector<float> y(6);
    std::vector<std::int32_t> a(6);
    t.max_pool2d_forward(g, x.data(), y.data(), a.data());
    CHECK(y == std::vector<float>{-1, -1, -1, -1, -1, -1});
    // Tie at indices 2 and 4: windows holding both report 2, the first in row-major scan order.
    CHECK(a == std::vector<std::int32_t>{4, 2, 2, 4, 2, 2});
    std::vector<float> dx(6, 3.0f);
    const std::vector<float> dy{1, 2, 3, 4, 5, 6};
    t.max_pool2d_backward(g, dy.data(), a.data(), dx.data());
    CHECK(dx == std::vector<float>{0, 0, 16, 0, 5, 0});
  }
}

TEST_CASE("max_pool2d 2x2/2: ties and NaNs pick the same element as the reference", "[kernel]") {
  // Values from {-1, 0, 1} make ties in most windows; NaNs go in at different window positions.
  for (const std::int64_t h : {2, 5, 8}) {
    for (const std::int64_t w : {2, 7, 33}) {
      PoolGeometry g{2, 3, h, w, h / 2, w / 2, 2, 2, 2, 2, 0, 0};
      INFO(describe(g));
      const std::int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.OH * g.OW;
      std::vector<float> x(static_cast<std::size_t>(nx));
      for (std::int64_t i = 0; i < nx; ++i) {
        x[i] = i % 11 == 5 ? std::nanf("") : static_cast<float>((i * 7 + i / 3) % 3) - 1.0f;
      }
      std::vector<float> y_f(ny), y_r(ny);
      std::vector<std::int32_t> a_f(ny), a_r(ny);
      k::max_pool2d_forward_fast(g, x.data(), y_f.data(), a_f.data());
      k::max_pool2d_forward_reference(g, x.data(), y_r.data(), a_r.data());
      CHECK(a_f == a_r);
      for (std::int64_t i = 0; i < ny; ++i) {
        CHECK((y_f[i] == y_r[i] || (std::isnan(y_f[i]) && std::isnan(y_r[i]))));
      }
    }
  }
}

TEST_CASE("avg_pool2d counts padding in the divisor", "[kernel]") {
  for (const k::KernelPath path : {k::KernelPath::optimized, k::KernelPath::reference}) {
    const k::KernelTable& t = k::kernel_table(path);
    // x: (1,1,2,2) = [[1,2],[3,4]]; 2x2 window, stride 2, pad 1 -> y: (1,1,2,2).
    const std::vector<float> x{1, 2, 3, 4};
    PoolGeometry g{1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1};
    std::vector<float> y(4);
    t.avg_pool2d_forward(g, x.data(), y.data());
    CHECK(y == std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f});
    std::vector<float> dx(4, 9.0f);
    const std::vector<float> dy{4, 8, 12, 16};
    t.avg_pool2d_backward(g, dy.data(), dx.data());
    CHECK(dx == std::vector<float>{1, 2, 3, 4});
  }
}

namespace {

struct BnCase {
  std::int64_t N, C, S;
};

std::vector<BnCase> bn_cases() {
  std::vector<BnCase> out;
  for (std::int64_t s : kSizes) {
    out.push_back({s, 3, 5});
    out.push_back({4, s, 5});
    out.push_back({2, 3, s});
  }
  out.push_back({129, 65, 1});  // (N,C) input
  return out;
}

}  // namespace

TEST_CASE("batch_norm fast matches reference on awkward sizes", "[kernel]") {
  std::uint64_t seed = 500;
  for (const BnCase& bc : bn_cases()) {
    for (const bool affine : {true, false}) {
      for (const bool given : {false, true}) {
        const auto [N, C, S] = bc;
        INFO(fmt::format("N={} C={} S={} affine={} given_stats={}", N, C, S, affine, given));
        const std::int64_t n = N * C * S;
        // Offset data (mean ~3) so a one-pass variance would lose digits.
        const std::vector<float> x = random_vector(n, seed++, 2.0f, 4.0f);
        const std::vector<float> dy = random_vector(n, seed++);
        const std::vector<float> gamma = random_vector(C, seed++, 0.5f, 1.5f);
        const std::vector<float> beta = random_vector(C, seed++);
        const float* gp = affine ? gamma.data() : nullptr;
        const float* bp = affine ? beta.data() : nullptr;
        std::vector<float> mean_f(C), invstd_f(C), mean_r(C), invstd_r(C);
        if (given) {
          mean_f = mean_r = random_vector(C, seed++, 2.5f, 3.5f);
          invstd_f = invstd_r = random_vector(C, seed++, 0.5f, 2.0f);
        }
        std::vector<float> y_f(n), y_r(n);
        k::batch_norm_forward_fast(N, C, S, x.data(), gp, bp, 1e-5f, given, mean_f.data(),
                                   invstd_f.data(), y_f.data());
        k::batch_norm_forward_reference(N, C, S, x.data(), gp, bp, 1e-5f, given, mean_r.data(),
                                        invstd_r.data(), y_r.data());
        REQUIRE(rel_error(mean_f, mean_r) < 1e-6);
        REQUIRE(rel_error(invstd_f, invstd_r) < 1e-5);
        REQUIRE(rel_error(y_f, y_r) < 1e-4);

        std::vector<float> dx_f(n, 5.0f), dx_r(n, -5.0f), dg_f(C), dg_r(C), db_f(C), db_r(C);
        k::batch_norm_backward_fast(N, C, S, dy.data(), x.data(), mean_r.data(), invstd_r.data(),
                                    gp, given, dx_f.data(), dg_f.data(), db_f.data());
        k::batch_norm_backward_reference(N, C, S, dy.data(), x.data(), mean_r.data(),
                                         invstd_r.data(), gp, given, dx_r.data(), dg_r.data(),
                                         db_r.data());
        REQUIRE(rel_error(dx_f, dx_r) < 1e-4);
        REQUIRE(rel_error(dg_f, dg_r) < 1e-4);
        REQUIRE(rel_error(db_f, db_r) < 1e-4);
      }
    }
  }
}

TEST_CASE("batch_norm kernels: training statistics and null outputs", "[kernel]") {
  for (const k::KernelPath path : {k::KernelPath::optimized, k::KernelPath::reference}) {
    const k::KernelTable& t = k::kernel_table(path);
    // x: (2,1,2) = {1,2,3,4}: mean 2.5, biased var 1.25.
    const std::vector<float> x{1, 2, 3, 4};
    const float gamma = 2.0f, beta = 1.0f;
    float mean = 0, invstd = 0;
    std::vector<float> y(4);
    t.batch_norm_forward(2, 1, 2, x.data(), &gamma, &beta, 0.0f, false, &mean, &invstd, y.data());
    CHECK(mean == Approx(2.5f));
    CHECK(invstd == Approx(1.0 / std::sqrt(1.25)));
    for (int i = 0; i < 4; ++i) CHECK(y[i] == Approx((x[i] - 2.5) / std::sqrt(1.25) * 2 + 1));
    // Gradients of sum(y): dx = 0 (shift invariance), dbeta = 4, dgamma = sum xhat = 0.
    const std::vector<float> dy(4, 1.0f);
    std::vector<float> dx(4, 9.0f);
    float dg = 9, db = 9;
    t.batch_norm_backward(2, 1, 2, dy.data(), x.data(), &mean, &invstd, &gamma, false, dx.data(),
                          &dg, &db);
    for (float v : dx) CHECK(v == Approx(0.0f).margin(1e-6));
    CHECK(dg == Approx(0.0f).margin(1e-6));
    CHECK(db == Approx(4.0f));
    // Any output may be skipped.
    t.batch_norm_backward(2, 1, 2, dy.data(), x.data(), &mean, &invstd, &gamma, true, nullptr,
                          nullptr, &db);
    CHECK(db == Approx(4.0f));
  }
}

TEST_CASE("kernel dispatch honours set_kernel_path", "[kernel]") {
  const k::KernelPath saved = k::kernel_path();
  k::set_kernel_path(k::KernelPath::reference);
  CHECK(k::kernels().max_pool2d_forward == &k::max_pool2d_forward_reference);
  CHECK(k::kernels().batch_norm_backward == &k::batch_norm_backward_reference);
  k::set_kernel_path(k::KernelPath::optimized);
  CHECK(k::kernels().avg_pool2d_forward == &k::avg_pool2d_forward_fast);
  CHECK(k::kernels().batch_norm_forward == &k::batch_norm_forward_fast);
  k::set_kernel_path(saved);
}
