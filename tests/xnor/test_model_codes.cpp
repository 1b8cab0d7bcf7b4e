// The integer-code ops (model.hpp: QuantizePow2, Conv2dI8 on i8 input): DBSSQ's power-of-two
// levels, the int8 convolution against its reference twin on awkward sizes, and both through the
// runner and the file format.
#include "quant/xnor/runner.hpp"
#include "quant/xnor/runner_ops.hpp"
#include "tests/xnor/model_test_util.hpp"
#include "tests/xnor/test_kernels_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

namespace xnor = lowbit::quant::xnor;
namespace ops = lowbit::quant::xnor::ops;
using lowbit::test::xnor::kChannels;

TEST_CASE("quantize_pow2: DBSSQ's ceiling levels, sign(0) = -1, clamp at the top",
          "[xnor][model][dbssq]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // 2 shift bits: levels 2^0 .. 2^-3 of |v| (v = x * in_scale), codes +-{8, 4, 2, 1}.
  struct Case {
    float v;
    int code;
  };
  const std::vector<Case> cases = {
      {1.0f, 8},     {5.0f, 8},    {0.9f, 8},   {0.5f, 4},   {0.5000001f, 8}, {0.3f, 4},
      {0.25f, 2},    {0.2f, 2},    {0.125f, 1}, {0.01f, 1},  {0.0f, -1},      {-0.0f, -1},
      {-0.125f, -1}, {-0.13f, -2}, {-0.7f, -8}, {-9.0f, -8}, {1e-30f, 1},     {nan, 8}};
  for (const Case& c : cases) {
    INFO("v = " << c.v);
    CHECK(ops::pow2_code(c.v, 1.0f, 2) == c.code);
  }
  // in_scale first: 0.9 * (1/3) = 0.3 lies in (2^-2, 2^-1]: code 2^(-1 + 3) = 4.
  CHECK(ops::pow2_code(0.9f, 1.0f / 3.0f, 2) == 4);
  CHECK(ops::pow2_code(0.9f, 1.0f / 3.0f, 2) == ops::pow2_code(0.9f * (1.0f / 3.0f), 1.0f, 2));
  // 0 shift bits: one level, +-1.
  CHECK(ops::pow2_code(0.01f, 1.0f, 0) == 1);
  CHECK(ops::pow2_code(-3.0f, 1.0f, 0) == -1);
  // 1 shift bit: levels 1, 1/2: codes +-2, +-1.
  CHECK(ops::pow2_code(0.6f, 1.0f, 1) == 2);
  CHECK(ops::pow2_code(-0.4f, 1.0f, 1) == -1);
}

TEST_CASE("conv2d_codes equals its reference twin on awkward sizes", "[xnor][model][dbssq]") {
  std::mt19937_64 gen(7);
  std::uniform_int_distribution<int> code(-128, 127);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  for (const std::int64_t c : kChannels) {
    for (const std::int64_t k : {1, 3, 5}) {
      for (const std::int64_t stride : {1, 2}) {
        for (const std::int64_t pad : {0, 1}) {
          const std::int64_t batch = c % 2 == 0 ? 3 : 1, h = 7, w = 5, out_c = c == 1 ? 3 : 17;
          if (h + 2 * pad < k || w + 2 * pad < k) continue;
          DYNAMIC_SECTION("C " << c << " k " << k << " s " << stride << " p " << pad) {
            const ops::Dims d{batch, h, w, c};
            std::vector<std::int8_t> x(static_cast<std::size_t>(d.numel()));
            std::vector<std::int8_t> wt(static_cast<std::size_t>(out_c * k * k * c));
            for (auto& e : x) e = static_cast<std::int8_t>(code(gen));
            for (auto& e : wt) e = static_cast<std::int8_t>(code(gen));
            std::vector<float> scale(static_cast<std::size_t>(out_c)), bias(scale.size());
            for (auto& e : scale) e = real(gen);
            for (auto& e : bias) e = real(gen);
            const std::int64_t oh = (h + 2 * pad - k) / stride + 1,
                               ow = (w + 2 * pad - k) / stride + 1;
            const std::size_t outs = static_cast<std::size_t>(batch * oh * ow * out_c);
            std::vector<float> ref(outs), fast(outs), no_bias(outs), no_bias_ref(outs);
            ops::conv2d_codes_reference(x.data(), d, wt.data(), scale.data(), bias.data(), out_c, k,
                                        stride, pad, ref.data());
            const auto panel = ops::conv_code_weights(wt.data(), out_c, k * k * c);
            ops::conv2d_codes(x.data(), d, panel.data(), scale.data(), bias.data(), out_c, k,
                              stride, pad, fast.data());
            CHECK(fast == ref);  // integer sums: exact in any order
            ops::conv2d_codes_reference(x.data(), d, wt.data(), scale.data(), nullptr, out_c, k,
                                        stride, pad, no_bias_ref.data());
            ops::conv2d_codes(x.data(), d, panel.data(), scale.data(), nullptr, out_c, k, stride,
                              pad, no_bias.data());
            CHECK(no_bias == no_bias_ref);
          }
        }
      }
    }
  }
}

TEST_CASE(
    "runner: quantize_pow2 -> conv2d_i8 on codes equals the integer formula, and the "
    "file round-trips",
    "[xnor][model][dbssq]") {
  // 2x2 input, 2 channels; a 1x1 conv with 3 outputs.
  xnor::Model m = xnor::Model::create({.channels = 2, .height = 2, .width = 2});
  const xnor::ValueId q =
      m.add("q", xnor::QuantizePow2{.shift_bits = 2, .in_scale = 0.5f}, {m.input_id()});
  xnor::Conv2dI8 conv;
  conv.out_c = 3;
  conv.weight = {1, -2, 4, 8, -8, 1};  // (3, 1, 1, 2)
  conv.scale = {0.5f, 0.25f, 2.0f};
  conv.bias = {0.0f, 1.0f, -1.0f};
  const xnor::ValueId y = m.add("conv", conv, {q});
  m.add("gap", xnor::GlobalAvgPool{}, {y});
  CHECK(m.value(q).kind == xnor::ValueKind::i8);

  const std::vector<float> image = {0.3f, -1.0f, 0.0f, 4.0f, 1.9f, 0.2f, -0.1f, 0.05f};  // CHW
  xnor::Runner runner(m, {.keep_values = true});
  runner.run(image.data(), 1);
  const std::vector<float> codes = runner.value_as_float(q);  // (h, w, c)
  std::vector<float> expect_codes;
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 2; ++c) expect_codes.push_back(ops::pow2_code(image[c * 4 + p], 0.5f, 2));
  }
  CHECK(codes == expect_codes);
  const std::vector<float> out = runner.value_as_float(y);
  for (int p = 0; p < 4; ++p) {
    for (int o = 0; o < 3; ++o) {
      const int acc = conv.weight[o * 2] * static_cast<int>(codes[p * 2]) +
                      conv.weight[o * 2 + 1] * static_cast<int>(codes[p * 2 + 1]);
      const auto expect =
          static_cast<float>(static_cast<double>(acc) * conv.scale[o] + conv.bias[o]);
      CHECK(out[p * 3 + o] == expect);
    }
  }

  const xnor::Model back = xnor::parse_model(xnor::serialize_model(m).data(),
                                             xnor::serialize_model(m).size(), "round trip");
  CHECK(back == m);
}

TEST_CASE("validate: the code ops' inputs and parameters", "[xnor][model][dbssq]") {
  xnor::Model m = xnor::Model::create({.channels = 4, .height = 3, .width = 3});
  CHECK_THROWS_WITH(m.add("q", xnor::QuantizePow2{.shift_bits = 3}, {0}),
                    Catch::Contains("shift_bits 3"));
  CHECK_THROWS_WITH(m.add("q", xnor::QuantizePow2{.shift_bits = 2, .in_scale = 0.0f}, {0}),
                    Catch::Contains("in_scale"));
  CHECK_THROWS_WITH(m.add("q", xnor::QuantizePow2{.shift_bits = 2, .in_scale = std::nanf("")}, {0}),
                    Catch::Contains("in_scale"));
  const xnor::ValueId q = m.add("q", xnor::QuantizePow2{}, {0});
  CHECK_THROWS_WITH(m.add("f", xnor::ToFloat{}, {q}),
                    Catch::Contains("to_float reads bits or codes"));
  CHECK_THROWS_WITH(m.add("r", xnor::Relu{}, {q}), Catch::Contains("reads f32"));
  const xnor::ValueId k = m.add("k", xnor::Quantize{2}, {0});
  xnor::Conv2dI8 conv;
  conv.out_c = 1;
  conv.weight = {1, 1, 1, 1};
  conv.scale = {1.0f};
  CHECK_THROWS_WITH(m.add("c", conv, {k}), Catch::Contains("conv2d_i8 reads f32 or i8"));
  CHECK_NOTHROW(m.add("c", conv, {q}));
}
