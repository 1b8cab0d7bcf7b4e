// Golden tests: lowbit's conv2d, batch_norm, pooling, cross_entropy and log_softmax, forward and
// backward, against PyTorch. The fixtures in tests/core/golden/ are written by generate.py there
// (PyTorch evaluated in float64 on float32 inputs, rounded to float32 once; format in
// tests/support/fixture.hpp). Each case reads its inputs and the upstream gradient gy, runs the
// op, calls y.backward(gy), and compares y, every input gradient and (batch_norm) the updated
// running statistics.
//
// Metric, per tensor (the same as generate.py's rel_error):
//   err = max_i |got_i - ref_i| / max(|ref_i|, 1e-2 * max_j |ref_j|)
// i.e. relative error per element, with a floor at 1% of the tensor's largest magnitude so an
// element near zero after cancellation is judged against the tensor's scale. Tolerance 1e-4;
// PyTorch's own float32 run scores at most 7e-6 on these cases (generate.py prints it).
// Set LOWBIT_GOLDEN_VERBOSE=1 to print every compared tensor's error.
//
// A missing or malformed fixture fails the test with a message naming the file.

#include "core/ops.hpp"
#include "tests/support/fixture.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace lowbit::test {
namespace {

using core::Tensor;

constexpr double kTolerance = 1e-4;

const std::vector<std::string> kConvCases{
    "conv2d_3x3_pad1_bias",     "conv2d_3x3_pad1_nobias", "conv2d_stride2",
    "conv2d_stride2_nopad_odd", "conv2d_pad2_dil2",       "conv2d_groups2",
    "conv2d_depthwise",         "conv2d_depthwise_mult2_stride2",
    "conv2d_rect_kernel_mixed", "conv2d_1x1"};
const std::vector<std::string> kBatchNormCases{
    "batch_norm_train_nchw", "batch_norm_train_nc", "batch_norm_train_nc_noaffine",
    "batch_norm_eval_nchw"};
const std::vector<std::string> kPoolCases{"max_pool2d_k2s2", "max_pool2d_k2s2_odd",
                                          "max_pool2d_k3s2p1", "avg_pool2d_k2s2_odd",
                                          "avg_pool2d_k3s2p1"};
const std::vector<std::string> kCrossEntropyCases{"cross_entropy_ls0", "cross_entropy_ls0p1"};
const std::vector<std::string> kLogSoftmaxCases{"log_softmax_2d_axis-1", "log_softmax_4d_axis1"};

std::string fixture_path(const std::string& name) {
  return std::string(LOWBIT_GOLDEN_DIR) + "/" + name + ".txt";
}

Fixture load(const std::string& name, const std::string& op) {
  const std::string path = fixture_path(name);
  {
    INFO("golden fixture " << path
                           << " is missing. HINT: /usr/bin/python3 tests/core/golden/generate.py "
                              "writes it");
    REQUIRE(std::filesystem::exists(path));
  }
  INFO("golden fixture " << path);
  Fixture f = load_fixture(path);
  REQUIRE(f.op() == op);
  return f;
}

struct Comparison {
  double error = 0.0;  // the metric above; +inf for a non-finite value
  std::int64_t worst = -1;
  float got = 0.0f, ref = 0.0f;
};

Comparison compare(const std::vector<float>& got, const std::vector<float>& ref) {
  double max_ref = 0.0;
  for (float r : ref) max_ref = std::max(max_ref, std::abs(static_cast<double>(r)));
  const double floor = std::max(1e-2 * max_ref, 1e-30);
  Comparison c;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double a = got[i], b = ref[i];
    const double e = std::isfinite(a) ? std::abs(a - b) / std::max(std::abs(b), floor)
                                       : std::numeric_limits<double>::infinity();
    if (c.worst < 0 || e > c.error) c = {e, static_cast<std::int64_t>(i), got[i], ref[i]};
  }
  return c;
}

// Checks `got` against the fixture's tensor `name` (shape, then values).
void expect_close(const Fixture& f, const std::string& name, const Tensor& got) {
  INFO("golden fixture " << f.path() << ", tensor " << name);
  REQUIRE(got.defined());
  const Tensor ref = f.tensor(name);
  INFO("shape: got " << got.shape().str() << ", expected " << ref.shape().str());
  REQUIRE(got.shape() == ref.shape());
  const Comparison c = compare(got.to_vector<float>(), ref.to_vector<float>());
  if (std::getenv("LOWBIT_GOLDEN_VERBOSE") != nullptr) {
    fmt::print("golden {:<32} {:<18} err {:.2e}\n", std::filesystem::path(f.path()).stem().string(),
               name, c.error);
  }
  INFO(fmt::format("max rel error {:.3e} at flat index {}: got {:.9g}, expected {:.9g}", c.error,
                   c.worst, c.got, c.ref));
  CHECK(c.error <= kTolerance);
}

Tensor leaf(const Fixture& f, const std::string& name) {
  Tensor t = f.tensor(name);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST_CASE("golden: conv2d forward and backward match PyTorch", "[golden]") {
  for (const std::string& name : kConvCases) {
    DYNAMIC_SECTION(name) {
      const Fixture f = load(name, "conv2d");
      Tensor x = leaf(f, "x"), w = leaf(f, "w");
      Tensor b = f.has("b") ? leaf(f, "b") : Tensor{};
      core::Conv2dParams p;
      p.stride_h = f.int_param("stride_h");
      p.stride_w = f.int_param("stride_w");
      p.pad_h = f.int_param("pad_h");
      p.pad_w = f.int_param("pad_w");
      p.dilation_h = f.int_param("dilation_h");
      p.dilation_w = f.int_param("dilation_w");
      p.groups = f.int_param("groups");
      const Tensor y = core::conv2d(x, w, b, p);
      expect_close(f, "y", y);
      y.backward(f.tensor("gy"));
      expect_close(f, "grad_x", x.grad());
      expect_close(f, "grad_w", w.grad());
      if (b.defined()) expect_close(f, "grad_b", b.grad());
    }
  }
}

TEST_CASE("golden: batch_norm output, gradients and running stats match PyTorch", "[golden]") {
  for (const std::string& name : kBatchNormCases) {
    DYNAMIC_SECTION(name) {
      const Fixture f = load(name, "batch_norm");
      Tensor x = leaf(f, "x");
      const bool affine = f.has("gamma");
      Tensor gamma = affine ? leaf(f, "gamma") : Tensor{};
      Tensor beta = affine ? leaf(f, "beta") : Tensor{};
      Tensor running_mean = f.tensor("running_mean"), running_var = f.tensor("running_var");
      const Tensor y = core::batch_norm(
          x, gamma, beta, running_mean, running_var, f.int_param("training") != 0,
          static_cast<float>(f.param("momentum")), static_cast<float>(f.param("eps")));
      expect_close(f, "y", y);
      expect_close(f, "running_mean_out", running_mean);  // updated in place by training mode
      expect_close(f, "running_var_out", running_var);
      y.backward(f.tensor("gy"));
      expect_close(f, "grad_x", x.grad());
      if (affine) {
        expect_close(f, "grad_gamma", gamma.grad());
        expect_close(f, "grad_beta", beta.grad());
      }
    }
  }
}

TEST_CASE("golden: max_pool2d and avg_pool2d match PyTorch", "[golden]") {
  for (const std::string& name : kPoolCases) {
    DYNAMIC_SECTION(name) {
      const bool is_max = name.rfind("max_pool2d", 0) == 0;
      const Fixture f = load(name, is_max ? "max_pool2d" : "avg_pool2d");
      Tensor x = leaf(f, "x");
      core::Pool2dParams p;
      p.kernel_h = f.int_param("kernel_h");
      p.kernel_w = f.int_param("kernel_w");
      p.stride_h = f.int_param("stride_h");
      p.stride_w = f.int_param("stride_w");
      p.pad_h = f.int_param("pad_h");
      p.pad_w = f.int_param("pad_w");
      const Tensor y = is_max ? core::max_pool2d(x, p) : core::avg_pool2d(x, p);
      expect_close(f, "y", y);
      y.backward(f.tensor("gy"));
      expect_close(f, "grad_x", x.grad());
    }
  }
}

TEST_CASE("golden: cross_entropy with label smoothing matches PyTorch", "[golden]") {
  for (const std::string& name : kCrossEntropyCases) {
    DYNAMIC_SECTION(name) {
      const Fixture f = load(name, "cross_entropy");
      Tensor x = leaf(f, "x");
      const Tensor y = core::cross_entropy(x, f.tensor("target"),
                                           static_cast<float>(f.param("label_smoothing")));
      expect_close(f, "y", y);
      y.backward(f.tensor("gy"));
      expect_close(f, "grad_x", x.grad());
    }
  }
}

TEST_CASE("golden: log_softmax matches PyTorch", "[golden]") {
  for (const std::string& name : kLogSoftmaxCases) {
    DYNAMIC_SECTION(name) {
      const Fixture f = load(name, "log_softmax");
      Tensor x = leaf(f, "x");
      const Tensor y = core::log_softmax(x, f.int_param("axis"));
      expect_close(f, "y", y);
      y.backward(f.tensor("gy"));
      expect_close(f, "grad_x", x.grad());
    }
  }
}

TEST_CASE("golden: every fixture file has a test and every test its file", "[golden]") {
  std::set<std::string> known;
  for (const auto* list :
       {&kConvCases, &kBatchNormCases, &kPoolCases, &kCrossEntropyCases, &kLogSoftmaxCases}) {
    known.insert(list->begin(), list->end());
  }
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(LOWBIT_GOLDEN_DIR)) {
    if (entry.path().extension() == ".txt") on_disk.insert(entry.path().stem().string());
  }
  for (const std::string& name : on_disk) {
    INFO("fixture " << name << ".txt has no test in test_golden.cpp");
    CHECK(known.count(name) == 1);
  }
  for (const std::string& name : known) {
    INFO("golden fixture " << fixture_path(name)
                           << " is missing; run /usr/bin/python3 tests/core/golden/generate.py");
    CHECK(on_disk.count(name) == 1);
  }
}

TEST_CASE("golden: the fixture reader rejects malformed files", "[golden][fixture]") {
  // Per process: several build trees may run their tests at once.
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("lowbit_golden_reader_test_{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& text) {
    const auto path = (dir / "case.txt").string();
    std::FILE* out = std::fopen(path.c_str(), "w");
    REQUIRE(out != nullptr);
    std::fputs(text.c_str(), out);
    std::fclose(out);
    return path;
  };
  SECTION("a well-formed file round-trips") {
    const Fixture f = load_fixture(
        write("# c\nop conv2d\nparam groups 2\nparam eps 1e-05\ntensor x f32 2 2 3\n1 2 3\n4 5 "
              "6.5\ntensor t i64 1 2\n-1 7\ntensor s f32 0\n0.25\n"));
    CHECK(f.op() == "conv2d");
    CHECK(f.int_param("groups") == 2);
    CHECK(f.param("eps") == 1e-5);
    CHECK(f.tensor("x").shape() == (core::Shape{2, 3}));
    CHECK(f.tensor("x").to_vector<float>() == (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
    CHECK(f.tensor("t").to_vector<std::int64_t>() == (std::vector<std::int64_t>{-1, 7}));
    CHECK(f.tensor("s").shape() == core::Shape{});
    CHECK_THROWS_AS(f.tensor("nope"), core::Error);
    CHECK_THROWS_AS(f.int_param("eps"), core::Error);
  }
  SECTION("too few values") {
    CHECK_THROWS_AS(load_fixture(write("op a\ntensor x f32 1 3\n1 2\n")), core::Error);
  }
  SECTION("too many values") {
    CHECK_THROWS_AS(load_fixture(write("op a\ntensor x f32 1 2\n1 2 3\n")), core::Error);
  }
  SECTION("a bad number") {
    CHECK_THROWS_AS(load_fixture(write("op a\ntensor x f32 1 2\n1 2x\n")), core::Error);
  }
  SECTION("an unknown dtype") {
    CHECK_THROWS_AS(load_fixture(write("op a\ntensor x f16 1 1\n1\n")), core::Error);
  }
  SECTION("no op line") {
    CHECK_THROWS_AS(load_fixture(write("param a 1\n")), core::Error);
  }
  SECTION("a missing file") {
    CHECK_THROWS_AS(load_fixture((dir / "does_not_exist.txt").string()), core::Error);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace lowbit::test
