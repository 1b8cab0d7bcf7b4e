// conv2d op: values on a hand-checked case, gradients against central differences on both kernel
// paths (optimized and reference), and the errors for bad shapes and parameters.

#include "core/kernels/dispatch.hpp"
#include "core/ops.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

using Catch::Matchers::Contains;
using lowbit::core::Conv2dParams;
using lowbit::core::conv2d;
using lowbit::core::Shape;
using lowbit::core::Tensor;
using lowbit::core::kernels::KernelPath;
using lowbit::test::gradcheck;
using lowbit::test::uniform;

// Sets the kernel path for one scope, then restores the previous one.
class KernelPathScope {
 public:
  explicit KernelPathScope(KernelPath path) : previous_(lowbit::core::kernels::kernel_path()) {
    lowbit::core::kernels::set_kernel_path(path);
  }
  ~KernelPathScope() { lowbit::core::kernels::set_kernel_path(previous_); }
  KernelPathScope(const KernelPathScope&) = delete;
  KernelPathScope& operator=(const KernelPathScope&) = delete;

 private:
  KernelPath previous_;
};

struct GradCase {
  std::string name;
  Shape x, w;
  bool bias;
  Conv2dParams p;
};

Conv2dParams params(std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw,
                    std::int64_t dh, std::int64_t dw, std::int64_t groups) {
  Conv2dParams p;
  p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw;
  p.dilation_h = dh, p.dilation_w = dw, p.groups = groups;
  return p;
}

const std::vector<GradCase> kGradCases{
    {"3x3 pad 1", {2, 3, 5, 5}, {4, 3, 3, 3}, true, params(1, 1, 1, 1, 1, 1, 1)},
    {"3x3 stride 2 pad 1", {2, 3, 7, 6}, {5, 3, 3, 3}, true, params(2, 2, 1, 1, 1, 1, 1)},
    {"dilation 2, stride (1,2)", {2, 2, 7, 8}, {3, 2, 3, 3}, true, params(1, 2, 2, 1, 2, 2, 1)},
    {"asymmetric 2x3 kernel, no pad", {1, 2, 5, 6}, {3, 2, 2, 3}, true, params(1, 1, 0, 0, 1, 1, 1)},
    {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, true, params(1, 1, 1, 1, 1, 1, 2)},
    {"depthwise stride 2", {2, 3, 6, 6}, {3, 1, 3, 3}, true, params(2, 2, 1, 1, 1, 1, 3)},
    {"1x1 (no im2col)", {2, 4, 4, 3}, {3, 4, 1, 1}, true, params(1, 1, 0, 0, 1, 1, 1)},
    {"1x1 stride 2, groups 2", {3, 4, 5, 5}, {4, 2, 1, 1}, true, params(2, 2, 0, 0, 1, 1, 2)},
    {"no bias", {2, 3, 5, 4}, {2, 3, 3, 3}, false, params(1, 1, 1, 1, 1, 1, 1)},
    // Enough channels for the optimized path to take Winograd: F(4x4, 3x3), F(2x2, 3x3) (a plane
    // of <= 16 outputs) and F(2x2, 5x5).
    {"Winograd 3x3, 6x7 plane", {2, 16, 6, 7}, {16, 16, 3, 3}, true, params(1, 1, 1, 1, 1, 1, 1)},
    {"Winograd 3x3, 4x4 plane", {2, 16, 4, 4}, {17, 16, 3, 3}, false, params(1, 1, 1, 1, 1, 1, 1)},
    {"Winograd 5x5 pad 2", {1, 16, 5, 6}, {16, 16, 5, 5}, true, params(1, 1, 2, 2, 1, 1, 1)},
};

void run_gradchecks(KernelPath path) {
  const KernelPathScope scope(path);
  std::uint64_t seed = 11;
  for (const GradCase& c : kGradCases) {
    INFO((path == KernelPath::reference ? "reference: " : "optimized: ") << c.name);
    std::vector<Tensor> inputs{uniform(c.x, -1, 1, seed), uniform(c.w, -1, 1, seed + 1)};
    if (c.bias) inputs.push_back(uniform(Shape{c.w[0]}, -1, 1, seed + 2));
    seed += 3;
    const Conv2dParams p = c.p;
    // conv2d is linear in each input, so a central difference has no truncation error at any
    // step; a large step keeps Winograd's float rounding (about 10x a direct sum's) from
    // swamping the difference quotient.
    lowbit::test::GradcheckOptions options;
    options.step = 0.25;
    const auto result = gradcheck(
        [p](const std::vector<Tensor>& in) {
          return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
        },
        inputs, options);
    INFO(result.message);
    REQUIRE(result);
  }
}

}  // namespace

TEST_CASE("conv2d computes a hand-checked example", "[conv]") {
  // x: (1,1,3,3) = 1..9, w: (2,1,2,2): all ones and the identity at (0,0); bias (10, 0).
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape{1, 1, 3, 3});
  const Tensor w = Tensor::from_vector<float>({1, 1, 1, 1, 1, 0, 0, 0}, Shape{2, 1, 2, 2});
  const Tensor b = Tensor::from_vector<float>({10, 0}, Shape{2});
  const Tensor y = conv2d(x, w, b, Conv2dParams{});
  REQUIRE(y.shape() == Shape{1, 2, 2, 2});
  CHECK(y.to_vector<float>() == std::vector<float>{22, 26, 34, 38, 1, 2, 4, 5});
  // Stride 2 with padding 1: the corners of the padded input.
  const Tensor y2 = conv2d(x, w, Tensor(), params(2, 2, 1, 1, 1, 1, 1));
  REQUIRE(y2.shape() == Shape{1, 2, 2, 2});
  CHECK(y2.to_vector<float>() == std::vector<float>{1, 5, 11, 28, 0, 0, 0, 5});
}

TEST_CASE("conv2d gradients match central differences (optimized kernels)", "[gradcheck]") {
  run_gradchecks(KernelPath::optimized);
}

TEST_CASE("conv2d gradients match central differences (reference kernels)", "[gradcheck]") {
  run_gradchecks(KernelPath::reference);
}

TEST_CASE("conv2d with p.exact sums integer inputs exactly; Winograd only approximately",
          "[conv]") {
  // +-1 inputs and weights, as a binary layer in evaluation sees them: every output is an
  // integer, which the direct sum reproduces exactly and Winograd's fractional transforms do not
  // promise. The quantized layers set p.exact in evaluation to match the integer engine.
  const Tensor x = lowbit::core::sign(uniform({2, 64, 9, 9}, -1, 1, 3));
  const Tensor w = lowbit::core::sign(uniform({64, 64, 3, 3}, -1, 1, 4));
  Conv2dParams p = params(1, 1, 1, 1, 1, 1, 1);
  p.exact = true;
  const auto exact = conv2d(x, w, Tensor(), p).to_vector<float>();
  CHECK(std::all_of(exact.begin(), exact.end(), [](float v) { return v == std::round(v); }));
  p.exact = false;
  const auto fast = conv2d(x, w, Tensor(), p).to_vector<float>();
  double worst = 0.0;
  for (std::size_t i = 0; i < fast.size(); ++i) {
    worst = std::max(worst, std::abs(double(fast[i]) - exact[i]));
  }
  CHECK(worst < 1e-3);
}

TEST_CASE("conv2d gradients through non-contiguous inputs", "[gradcheck]") {
  const Conv2dParams p = params(2, 1, 1, 0, 1, 2, 1);
  // x stored as (N,C,W,H) and weight as (C,O,KH,KW): f hands conv2d transposed views.
  const auto result = gradcheck(
      [p](const std::vector<Tensor>& in) {
        return conv2d(in[0].transpose(2, 3), in[1].transpose(0, 1), in[2], p);
      },
      {uniform(Shape{2, 3, 7, 5}, -1, 1, 3), uniform(Shape{3, 4, 3, 2}, -1, 1, 4),
       uniform(Shape{4}, -1, 1, 5)});
  INFO(result.message);
  REQUIRE(result);
}

TEST_CASE("conv2d gradients when only some inputs require grad", "[gradcheck]") {
  const Conv2dParams p = params(1, 1, 1, 1, 1, 1, 1);
  const auto f = [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); };
  const Shape xs{2, 2, 4, 4}, ws{3, 2, 3, 3}, bs{3};
  // Only x: the backward saves the weight but not the input.
  auto only_x = gradcheck(f, {uniform(xs, -1, 1, 1), uniform(ws, -1, 1, 2, false),
                              uniform(bs, -1, 1, 3, false)});
  INFO(only_x.message);
  CHECK(only_x);
  // Only the bias: dbias without dw.
  auto only_b = gradcheck(f, {uniform(xs, -1, 1, 1, false), uniform(ws, -1, 1, 2, false),
                              uniform(bs, -1, 1, 3)});
  INFO(only_b.message);
  CHECK(only_b);
  // Only the weight.
  auto only_w = gradcheck(f, {uniform(xs, -1, 1, 1, false), uniform(ws, -1, 1, 2),
                              uniform(bs, -1, 1, 3, false)});
  INFO(only_w.message);
  CHECK(only_w);
}

TEST_CASE("conv2d optimized and reference paths agree through the op", "[conv]") {
  const Tensor x = uniform(Shape{3, 6, 9, 8}, -1, 1, 21, false);
  const Tensor w = uniform(Shape{4, 3, 3, 3}, -1, 1, 22, false);
  const Tensor b = uniform(Shape{4}, -1, 1, 23, false);
  const Conv2dParams p = params(2, 1, 1, 2, 1, 2, 2);
  Tensor y_opt, y_ref;
  {
    const KernelPathScope scope(KernelPath::optimized);
    y_opt = conv2d(x, w, b, p);
  }
  {
    const KernelPathScope scope(KernelPath::reference);
    y_ref = conv2d(x, w, b, p);
  }
  CHECK(lowbit::test::max_rel_error(y_opt, y_ref) < 1e-5);
}

TEST_CASE("conv2d rejects bad shapes with messages naming both shapes", "[conv]") {
  const Tensor x = Tensor::zeros(Shape{2, 3, 5, 5});
  const Tensor w = Tensor::zeros(Shape{4, 3, 3, 3});
  const Conv2dParams p;
  // Channel mismatch.
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros(Shape{4, 2, 3, 3}), Tensor(), p),
                    Contains("conv2d") && Contains("[2, 3, 5, 5]") && Contains("[4, 2, 3, 3]"));
  // Not 4-D.
  CHECK_THROWS_WITH(conv2d(Tensor::zeros(Shape{3, 5, 5}), w, Tensor(), p),
                    Contains("conv2d") && Contains("[3, 5, 5]") && Contains("[4, 3, 3, 3]"));
  // Bias of the wrong length.
  CHECK_THROWS_WITH(conv2d(x, w, Tensor::zeros(Shape{3}), p),
                    Contains("conv2d") && Contains("bias [3]") && Contains("[4, 3, 3, 3]"));
  // Groups that do not divide the channels.
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros(Shape{4, 1, 3, 3}), Tensor(), params(1, 1, 0, 0, 1, 1, 2)),
                    Contains("conv2d") && Contains("groups = 2") && Contains("[2, 3, 5, 5]"));
  // Kernel larger than the padded input.
  CHECK_THROWS_WITH(conv2d(x, Tensor::zeros(Shape{4, 3, 7, 3}), Tensor(), p),
                    Contains("conv2d") && Contains("does not fit") && Contains("[2, 3, 5, 5]"));
  // Zero stride.
  CHECK_THROWS_WITH(conv2d(x, w, Tensor(), params(0, 1, 0, 0, 1, 1, 1)),
                    Contains("conv2d") && Contains("stride") && Contains("[4, 3, 3, 3]"));
  // Wrong dtype.
  CHECK_THROWS_WITH(conv2d(Tensor::zeros(Shape{2, 3, 5, 5}, lowbit::core::DType::i32), w, Tensor(), p),
                    Contains("conv2d") && Contains("i32") && Contains("[2, 3, 5, 5]"));
}
