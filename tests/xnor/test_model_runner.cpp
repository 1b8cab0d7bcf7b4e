// The runner on small hand-built models against plain float computations written here on +/-1
// (and k-bit code) data: every intermediate value and the logits must be equal, not close.

#include "quant/xnor/runner.hpp"
#include "tests/xnor/model_test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace xnor = lowbit::quant::xnor;
using namespace lowbit::quant::xnor::test;
using std::int64_t;

namespace {

// A plain NHWC float tensor for the reference computations.
struct T {
  int64_t n = 1, h = 1, w = 1, c = 1;
  std::vector<float> v;
  float& at(int64_t i, int64_t y, int64_t x, int64_t ch) {
    return v[static_cast<std::size_t>(((i * h + y) * w + x) * c + ch)];
  }
  float at(int64_t i, int64_t y, int64_t x, int64_t ch) const {
    return v[static_cast<std::size_t>(((i * h + y) * w + x) * c + ch)];
  }
};

T make(int64_t n, int64_t h, int64_t w, int64_t c) {
  return {n, h, w, c, std::vector<float>(static_cast<std::size_t>(n * h * w * c), 0.0f)};
}

T signs(const T& x) {
  T y = x;
  for (auto& e : y.v) e = e < 0.0f ? -1.0f : 1.0f;  // sign(0) = +1
  return y;
}

// Convolution of +/-1 (or code) data with zero padding, as double sums (exact for these
// integers). w: (out_c, k, k, c).
T conv_ref(const T& x, const std::vector<float>& w, int64_t out_c, int64_t k, int64_t s,
           int64_t p) {
  T y = make(x.n, (x.h + 2 * p - k) / s + 1, (x.w + 2 * p - k) / s + 1, out_c);
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t oy = 0; oy < y.h; ++oy)
      for (int64_t ox = 0; ox < y.w; ++ox)
        for (int64_t o = 0; o < out_c; ++o) {
          double acc = 0.0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              for (int64_t ch = 0; ch < x.c; ++ch) {
                acc += double{w[static_cast<std::size_t>(((o * k + ky) * k + kx) * x.c + ch)]} *
                       x.at(i, iy, ix, ch);
              }
            }
          y.at(i, oy, ox, o) = static_cast<float>(acc);
        }
  return y;
}

// Float linear on (n, features): double sums, one rounding (the Conv2d formula).
T linear_ref(const T& x, const xnor::Conv2d& fc) {
  const int64_t f = x.h * x.w * x.c;
  T y = make(x.n, 1, 1, fc.out_c);
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t o = 0; o < fc.out_c; ++o) {
      double acc = 0.0;
      for (int64_t j = 0; j < f; ++j) {
        acc += double{fc.weight[static_cast<std::size_t>(o * f + j)]} *
               x.v[static_cast<std::size_t>(i * f + j)];
      }
      y.v[static_cast<std::size_t>(i * fc.out_c + o)] =
          static_cast<float>(acc + fc.bias[static_cast<std::size_t>(o)]);
    }
  return y;
}

T maxpool_ref(const T& x, int64_t k, int64_t s, int64_t p) {
  T y = make(x.n, (x.h + 2 * p - k) / s + 1, (x.w + 2 * p - k) / s + 1, x.c);
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t oy = 0; oy < y.h; ++oy)
      for (int64_t ox = 0; ox < y.w; ++ox)
        for (int64_t ch = 0; ch < x.c; ++ch) {
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
              if (iy >= 0 && iy < x.h && ix >= 0 && ix < x.w)
                best = std::max(best, x.at(i, iy, ix, ch));
            }
          y.at(i, oy, ox, ch) = best;
        }
  return y;
}

// Images (n, C, H, W) for the runner from an NHWC tensor (no normalization in these models).
std::vector<float> to_nchw(const T& x) {
  std::vector<float> out(x.v.size());
  for (int64_t i = 0; i < x.n; ++i)
    for (int64_t y = 0; y < x.h; ++y)
      for (int64_t z = 0; z < x.w; ++z)
        for (int64_t ch = 0; ch < x.c; ++ch)
          out[static_cast<std::size_t>(((i * x.c + ch) * x.h + y) * x.w + z)] = x.at(i, y, z, ch);
  return out;
}

T random_input(std::mt19937& rng, int64_t n, int64_t h, int64_t w, int64_t c) {
  T x = make(n, h, w, c);
  x.v = random_floats(rng, x.v.size());
  for (std::size_t i = 0; i < x.v.size(); i += 7) x.v[i] = (i % 14 == 0) ? 0.0f : -0.0f;  // sign(0)
  return x;
}

xnor::Conv2d random_linear(std::mt19937& rng, int64_t in, int64_t out) {
  return {.out_c = out,
          .kernel = 1,
          .stride = 1,
          .pad = 0,
          .weight = random_floats(rng, static_cast<std::size_t>(in * out)),
          .bias = random_floats(rng, static_cast<std::size_t>(out))};
}

xnor::BConv2d random_bconv(std::mt19937& rng, int64_t in_c, int64_t out_c, int64_t k, int64_t s,
                           int64_t p, xnor::BinaryOutput out, std::vector<float>& w_pm1) {
  w_pm1 = random_signs(rng, static_cast<std::size_t>(out_c * k * k * in_c));
  xnor::BConv2d b{.out_c = out_c,
                  .kernel = k,
                  .stride = s,
                  .pad = p,
                  .weight = pack_rows(w_pm1, out_c * k * k, in_c),
                  .output = out};
  const auto taps = static_cast<int32_t>(k * k * in_c);
  for (int64_t o = 0; o < out_c; ++o) {
    if (out == xnor::BinaryOutput::threshold) {
      b.threshold.push_back(static_cast<int32_t>(rng() % (taps + 1)) - taps / 2);
      b.flip.push_back(static_cast<uint8_t>(rng() & 1u));
    } else {
      b.scale.push_back(random_floats(rng, 1, 0.01f, 0.5f)[0]);
      b.bias.push_back(random_floats(rng, 1)[0]);
    }
  }
  return b;
}

// The output transform applied to reference dots.
T transform_ref(const T& dots, const xnor::BConv2d& b) {
  T y = dots;
  for (std::size_t i = 0; i < y.v.size(); ++i) {
    const auto o = i % static_cast<std::size_t>(b.out_c);
    if (b.output == xnor::BinaryOutput::threshold) {
      const auto dot = static_cast<int32_t>(dots.v[i]);
      const bool minus = b.flip[o] ? dot > b.threshold[o] : dot < b.threshold[o];
      y.v[i] = minus ? -1.0f : 1.0f;
    } else {
      y.v[i] = dots.v[i] * b.scale[o] + b.bias[o];
    }
  }
  return y;
}

}  // namespace

TEST_CASE("runner: sign -> bconv2d(threshold) -> flatten -> linear equals float on +/-1 data",
          "[xnor][model]") {
  std::mt19937 rng(11);
  for (int64_t c : {1, 63, 64, 65, 129}) {
    for (int64_t k : {1, 3}) {
      for (int64_t s : {1, 2}) {
        for (int64_t p : {0, 1}) {
          if (p >= k) continue;
          INFO("c " << c << " kernel " << k << " stride " << s << " pad " << p);
          const int64_t n = 2, h = 5, w = 7, out_c = 33;
          xnor::Model m = xnor::Model::create({.channels = c, .height = h, .width = w});
          std::vector<float> wpm;
          const auto b = random_bconv(rng, c, out_c, k, s, p, xnor::BinaryOutput::threshold, wpm);
          xnor::ValueId x = m.add("sign", xnor::Sign{}, {m.input_id()});
          const xnor::ValueId conv = m.add("bconv", b, {x});
          x = m.add("tofloat", xnor::ToFloat{}, {conv});
          x = m.add("flat", xnor::Flatten{}, {x});
          const auto& fv = m.value(x);
          const auto fc = random_linear(rng, fv.c, 10);
          m.add("fc", fc, {x});
          xnor::Runner runner(m, {.keep_values = true});

          const T in = random_input(rng, n, h, w, c);
          const auto images = to_nchw(in);
          const auto logits = runner.run(images.data(), n);
          const T bits = transform_ref(conv_ref(signs(in), wpm, out_c, k, s, p), b);
          CHECK(runner.value_as_float(1) == signs(in).v);
          CHECK(runner.value_as_float(conv) == bits.v);
          CHECK(logits == linear_ref(bits, fc).v);
        }
      }
    }
  }
}

TEST_CASE("runner: bconv2d(scale_bias) + shortcut add + avgpool + global pool + linear",
          "[xnor][model]") {
  std::mt19937 rng(12);
  for (int64_t c : {1, 64, 65}) {
    INFO("channels " << c);
    const int64_t n = 3, h = 6, w = 6;
    xnor::Model m = xnor::Model::create({.channels = c, .height = h, .width = w});
    const xnor::ValueId in = m.input_id();
    std::vector<float> wpm;
    const auto b = random_bconv(rng, c, c, 3, 2, 1, xnor::BinaryOutput::scale_bias, wpm);
    const xnor::ValueId sgn = m.add("sign", xnor::Sign{}, {in});
    const xnor::ValueId conv = m.add("bconv", b, {sgn});                       // (3,3,c)
    const xnor::ValueId sc = m.add("shortcut", xnor::AvgPool{2, 2, 0}, {in});  // (3,3,c)
    const xnor::ValueId sum = m.add("add", xnor::Add{}, {conv, sc});
    const xnor::ValueId gap = m.add("gap", xnor::GlobalAvgPool{}, {sum});
    const auto fc = random_linear(rng, c, 4);
    m.add("fc", fc, {gap});
    xnor::Runner runner(m, {.keep_values = true});

    const T x = random_input(rng, n, h, w, c);
    const auto images = to_nchw(x);
    const auto logits = runner.run(images.data(), n);
    const T y = transform_ref(conv_ref(signs(x), wpm, c, 3, 2, 1), b);
    CHECK(runner.value_as_float(conv) == y.v);
    T pooled = make(n, 3, 3, c);  // avgpool: float sum of the 4 taps row-major, times 1/4
    for (int64_t i = 0; i < n; ++i)
      for (int64_t oy = 0; oy < 3; ++oy)
        for (int64_t ox = 0; ox < 3; ++ox)
          for (int64_t ch = 0; ch < c; ++ch) {
            float s = 0.0f;
            for (int64_t ky = 0; ky < 2; ++ky)
              for (int64_t kx = 0; kx < 2; ++kx) s += x.at(i, 2 * oy + ky, 2 * ox + kx, ch);
            pooled.at(i, oy, ox, ch) = s * 0.25f;
          }
    CHECK(runner.value_as_float(sc) == pooled.v);
    T added = y;
    for (std::size_t i = 0; i < added.v.size(); ++i) added.v[i] += pooled.v[i];
    CHECK(runner.value_as_float(sum) == added.v);
    T g = make(n, 1, 1, c);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch) {
        double s = 0.0;
        for (int64_t yy = 0; yy < 3; ++yy)
          for (int64_t xx = 0; xx < 3; ++xx) s += added.at(i, yy, xx, ch);
        g.at(i, 0, 0, ch) = static_cast<float>(s / 9.0);
      }
    CHECK(runner.value_as_float(gap) == g.v);
    CHECK(logits == linear_ref(g, fc).v);
  }
}

TEST_CASE("runner: binary and float max pooling", "[xnor][model]") {
  std::mt19937 rng(13);
  struct Pool {
    int64_t k, s, p;
  };
  for (int64_t c : {1, 63, 65, 130}) {
    for (const Pool pool : {Pool{2, 2, 0}, Pool{3, 2, 1}, Pool{3, 1, 1}, Pool{2, 1, 1}}) {
      INFO("c " << c << " kernel " << pool.k << " stride " << pool.s << " pad " << pool.p);
      const int64_t n = 2, h = 7, w = 5;
      xnor::Model m = xnor::Model::create({.channels = c, .height = h, .width = w});
      const xnor::ValueId fp = m.add("fpool", xnor::MaxPool{pool.k, pool.s, pool.p}, {0});
      const xnor::ValueId sgn = m.add("sign", xnor::Sign{}, {0});
      const xnor::ValueId bp = m.add("bpool", xnor::MaxPool{pool.k, pool.s, pool.p}, {sgn});
      const xnor::ValueId f = m.add("flat", xnor::Flatten{}, {bp});
      std::vector<float> wpm;
      const auto blin =
          random_bconv(rng, m.value(f).c, 8, 1, 1, 0, xnor::BinaryOutput::scale_bias, wpm);
      const xnor::ValueId out = m.add("blin", blin, {f});
      xnor::Runner runner(m, {.keep_values = true});
      const T x = random_input(rng, n, h, w, c);
      const auto images = to_nchw(x);
      const auto logits = runner.run(images.data(), n);
      CHECK(runner.value_as_float(fp) == maxpool_ref(x, pool.k, pool.s, pool.p).v);
      const T pooled = maxpool_ref(signs(x), pool.k, pool.s, pool.p);
      CHECK(runner.value_as_float(bp) == pooled.v);
      CHECK(runner.value_as_float(f) == pooled.v);  // NHWC flatten keeps the order
      T flat = pooled;
      flat.h = flat.w = 1;
      flat.c = pooled.h * pooled.w * pooled.c;
      const T expect = transform_ref(conv_ref(flat, wpm, 8, 1, 1, 0), blin);
      CHECK(runner.value_as_float(out) == expect.v);
      CHECK(logits == expect.v);
    }
  }
}

TEST_CASE("runner: blinear with thresholds after a flatten of bits", "[xnor][model]") {
  std::mt19937 rng(14);
  for (int64_t c : {3, 64, 65}) {
    const int64_t n = 4;
    xnor::Model m = xnor::Model::create({.channels = c, .height = 3, .width = 3});
    xnor::ValueId x = m.add("sign", xnor::Sign{}, {0});
    x = m.add("flat", xnor::Flatten{}, {x});
    std::vector<float> w1, w2;
    const auto b1 = random_bconv(rng, 9 * c, 70, 1, 1, 0, xnor::BinaryOutput::threshold, w1);
    const auto b2 = random_bconv(rng, 70, 5, 1, 1, 0, xnor::BinaryOutput::scale_bias, w2);
    x = m.add("blin1", b1, {x});
    m.add("blin2", b2, {x});
    xnor::Runner runner(m);
    const T in = random_input(rng, n, 3, 3, c);
    const auto images = to_nchw(in);
    T flat = signs(in);
    flat.h = flat.w = 1;
    flat.c = 9 * c;
    const T h1 = transform_ref(conv_ref(flat, w1, 70, 1, 1, 0), b1);
    const T h2 = transform_ref(conv_ref(h1, w2, 5, 1, 1, 0), b2);
    CHECK(runner.run(images.data(), n) == h2.v);
  }
}

TEST_CASE("runner: quantize -> kconv2d (DoReFa codes) equals the documented integer formula",
          "[xnor][model]") {
  std::mt19937 rng(15);
  for (int abits : {1, 2, 4}) {
    for (int wbits : {1, 2, 3, 4}) {
      for (int64_t c : {1, 65}) {
        for (int64_t k : {1, 3}) {
          const int64_t s = k == 3 ? 2 : 1, p = k == 3 ? 1 : 0, n = 2, h = 5, w = 6, out_c = 9;
          INFO("abits " << abits << " wbits " << wbits << " c " << c << " k " << k);
          xnor::Model m = xnor::Model::create({.channels = c, .height = h, .width = w});
          const xnor::ValueId q = m.add("q", xnor::Quantize{abits}, {0});
          xnor::KConv2d kc{
              .out_c = out_c,
              .kernel = k,
              .stride = s,
              .pad = p,
              .weight_bits = wbits,
              .weight = random_codes(rng, static_cast<std::size_t>(out_c * k * k * c), wbits),
              .scale = random_floats(rng, out_c, 0.01f, 0.2f),
              .bias = random_floats(rng, out_c)};
          const xnor::ValueId y = m.add("kconv", kc, {q});
          m.add("gap", xnor::GlobalAvgPool{}, {y});
          xnor::Runner runner(m, {.keep_values = true});

          T x = random_input(rng, n, h, w, c);
          for (auto& v : x.v) v = v * 0.8f + 0.5f;  // some below 0 and above 1
          const auto images = to_nchw(x);
          runner.run(images.data(), n);
          const float levels = static_cast<float>((1 << abits) - 1);
          T codes = x;
          for (auto& v : codes.v) v = std::round(std::clamp(v, 0.0f, 1.0f) * levels);
          CHECK(runner.value_as_float(q) == codes.v);
          std::vector<float> wf(kc.weight.begin(), kc.weight.end());
          const T D = conv_ref(codes, wf, out_c, k, s, p);
          const T S = conv_ref(codes, std::vector<float>(static_cast<std::size_t>(k * k * c), 1.0f),
                               1, k, s, p);
          const int64_t mw = (1 << wbits) - 1;
          T expect = D;
          for (std::size_t i = 0; i < expect.v.size(); ++i) {
            const auto o = i % static_cast<std::size_t>(out_c);
            const auto d = static_cast<int64_t>(D.v[i]), sum = static_cast<int64_t>(S.v[i / out_c]);
            expect.v[i] = static_cast<float>(2 * d - mw * sum) * kc.scale[o] + kc.bias[o];
          }
          CHECK(runner.value_as_float(y) == expect.v);
        }
      }
    }
  }
}

TEST_CASE("runner: float ops follow their documented formulas", "[xnor][model]") {
  std::mt19937 rng(16);
  const int64_t n = 2, h = 5, w = 4, c = 3;
  const std::vector<float> mean = {0.1f, 0.5f, 0.9f}, stdv = {0.3f, 0.7f, 0.2f};
  xnor::Model m =
      xnor::Model::create({.channels = c, .height = h, .width = w, .mean = mean, .std = stdv});
  xnor::Conv2d conv{.out_c = 5,
                    .kernel = 3,
                    .stride = 2,
                    .pad = 1,
                    .weight = random_floats(rng, 5 * 9 * 3),
                    .bias = random_floats(rng, 5)};
  const xnor::ValueId cv = m.add("conv", conv, {0});  // (3,2,5)
  const xnor::Affine aff{random_floats(rng, 5), random_floats(rng, 5)};
  const xnor::ValueId af = m.add("affine", aff, {cv});
  const xnor::ValueId re = m.add("relu", xnor::Relu{}, {af});
  const xnor::ValueId cl = m.add("clip", xnor::Clip{-0.25f, 0.5f}, {af});
  const xnor::ValueId q1 = m.add("q1", xnor::Quantize{1}, {cl});
  const xnor::ValueId q1f = m.add("q1f", xnor::ToFloat{}, {q1});
  const xnor::ValueId sum = m.add("sum", xnor::Add{}, {re, q1f});
  const xnor::ValueId g = m.add("gap", xnor::GlobalAvgPool{}, {sum});
  xnor::Runner runner(m, {.keep_values = true});

  T x = make(n, h, w, c);
  x.v = random_floats(rng, x.v.size(), 0.0f, 1.0f);
  const auto images = to_nchw(x);
  runner.run(images.data(), n);
  T xn = x;  // (v - mean) * (1 / std)
  for (std::size_t i = 0; i < xn.v.size(); ++i) {
    const auto ch = i % 3;
    xn.v[i] = (x.v[i] - mean[ch]) * (1.0f / stdv[ch]);
  }
  CHECK(runner.value_as_float(0) == xn.v);
  // conv2d: double sums over in-bounds taps plus the bias, one rounding.
  T y = make(n, 3, 2, 5);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oy = 0; oy < 3; ++oy)
      for (int64_t ox = 0; ox < 2; ++ox)
        for (int64_t o = 0; o < 5; ++o) {
          double acc = 0.0;
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (int64_t ch = 0; ch < c; ++ch) {
                acc +=
                    double{
                        conv.weight[static_cast<std::size_t>(((o * 3 + ky) * 3 + kx) * c + ch)]} *
                    xn.at(i, iy, ix, ch);
              }
            }
          y.at(i, oy, ox, o) = static_cast<float>(acc + conv.bias[static_cast<std::size_t>(o)]);
        }
  CHECK(runner.value_as_float(cv) == y.v);
  T a = y, r = y, k = y, q = y;
  for (std::size_t i = 0; i < a.v.size(); ++i) {
    const auto o = i % 5;
    a.v[i] = y.v[i] * aff.scale[o] + aff.shift[o];
    r.v[i] = a.v[i] > 0.0f ? a.v[i] : 0.0f;
    k.v[i] = std::clamp(a.v[i], -0.25f, 0.5f);
    q.v[i] = std::round(std::clamp(k.v[i], 0.0f, 1.0f));  // 1 bit: 0.5 -> 1 (half away from 0)
  }
  CHECK(runner.value_as_float(af) == a.v);
  CHECK(runner.value_as_float(re) == r.v);
  CHECK(runner.value_as_float(cl) == k.v);
  CHECK(runner.value_as_float(q1) == q.v);
  CHECK(runner.value_as_float(q1f) == q.v);
  T s = r;
  for (std::size_t i = 0; i < s.v.size(); ++i) s.v[i] += q.v[i];
  T gp = make(n, 1, 1, 5);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < 5; ++o) {
      double acc = 0.0;
      for (int64_t p = 0; p < 6; ++p) acc += s.v[static_cast<std::size_t>((i * 6 + p) * 5 + o)];
      gp.v[static_cast<std::size_t>(i * 5 + o)] = static_cast<float>(acc / 6.0);
    }
  CHECK(runner.value_as_float(g) == gp.v);
}

TEST_CASE("quantize rounds half away from zero, as std::round", "[xnor][model]") {
  xnor::Model m = xnor::Model::create({.channels = 6, .height = 1, .width = 1});
  const xnor::ValueId q = m.add("q", xnor::Quantize{2}, {0});
  const xnor::ValueId f = m.add("f", xnor::ToFloat{}, {q});
  m.add("gap", xnor::GlobalAvgPool{}, {f});
  xnor::Runner runner(m, {.keep_values = true});
  // code = round(clamp(x, 0, 1) * 3): 0.5 * 3 = 1.5 -> 2 (half away from zero), NaN -> 0.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {0.5f / 3.0f, 0.5f, 2.5f / 3.0f, -3.0f, 7.0f, nan};
  runner.run(x.data(), 1);
  const auto codes = runner.value_as_float(q);
  std::vector<float> expect;
  for (float v : x)
    expect.push_back(std::isnan(v) ? 0.0f : std::round(std::clamp(v, 0.0f, 1.0f) * 3.0f));
  CHECK(codes == expect);
  CHECK(codes[1] == 2.0f);  // 1.5 rounds to 2
  CHECK(codes[3] == 0.0f);
  CHECK(codes[4] == 3.0f);
}

TEST_CASE("runner: batches, buffer reuse and repeated runs give the same logits", "[xnor][model]") {
  const xnor::Model m = make_every_op_model(21);
  std::mt19937 rng(22);
  const int64_t n = 5, per = 3 * 7 * 7;
  const auto images = random_floats(rng, static_cast<std::size_t>(n * per), 0.0f, 1.0f);
  xnor::Runner reuse(m), keep(m, {.keep_values = true});
  const auto a = reuse.run(images.data(), n);
  CHECK(a == keep.run(images.data(), n));
  CHECK(a == reuse.run(images.data(), n));
  for (int64_t i = 0; i < n; ++i) {  // one image at a time, then the batch again
    const auto one = reuse.run(images.data() + i * per, 1);
    CHECK(std::equal(one.begin(), one.end(), a.begin() + i * 10));
  }
  CHECK(a == reuse.run(images.data(), n));
  CHECK(reuse.runs() == 3 + n);
  CHECK(reuse.op_seconds().size() == m.ops.size());
  CHECK_THROWS(reuse.value_as_float(1));  // reused by a later value
  CHECK_NOTHROW(reuse.value_as_float(m.output));
  for (float v : a) CHECK(std::isfinite(v));
}

TEST_CASE("runner: float conv2d (pointwise blocks and general taps) equals its formula",
          "[xnor][model]") {
  std::mt19937 rng(17);
  for (int64_t cin : {1, 3, 17}) {
    for (int64_t out_c : {1, 8, 13}) {
      for (int64_t k : {1, 3}) {
        for (int64_t s : {1, 2}) {
          for (int64_t p : {0, 1}) {
            if (p >= k) continue;
            INFO("cin " << cin << " out_c " << out_c << " k " << k << " s " << s << " p " << p);
            const int64_t n = 2, h = 7, w = 9;
            xnor::Model m = xnor::Model::create({.channels = cin, .height = h, .width = w});
            xnor::Conv2d conv{
                .out_c = out_c,
                .kernel = k,
                .stride = s,
                .pad = p,
                .weight = random_floats(rng, static_cast<std::size_t>(out_c * k * k * cin)),
                .bias = (out_c == 8) ? std::vector<float>{}
                                     : random_floats(rng, static_cast<std::size_t>(out_c))};
            // The same convolution with int8 weights and per-channel scales.
            xnor::Conv2dI8 conv8{
                .out_c = out_c,
                .kernel = k,
                .stride = s,
                .pad = p,
                .weight = {},
                .scale = random_floats(rng, static_cast<std::size_t>(out_c), 0.01f, 0.1f),
                .bias = conv.bias};
            for (float v : conv.weight) {
              conv8.weight.push_back(static_cast<std::int8_t>(std::lround(v * 127.0f)));
            }
            const xnor::ValueId y = m.add("conv", conv, {0});
            const xnor::ValueId y8 = m.add("conv8", conv8, {0});
            const xnor::ValueId both = m.add("both", xnor::Add{}, {y, y8});
            m.add("gap", xnor::GlobalAvgPool{}, {both});
            xnor::Runner runner(m, {.keep_values = true});
            const T x = random_input(rng, n, h, w, cin);
            const auto images = to_nchw(x);
            runner.run(images.data(), n);
            T expect = make(n, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1, out_c);
            T expect8 = expect;
            for (int64_t i = 0; i < n; ++i)
              for (int64_t oy = 0; oy < expect.h; ++oy)
                for (int64_t ox = 0; ox < expect.w; ++ox)
                  for (int64_t o = 0; o < out_c; ++o) {
                    double acc = 0.0, acc8 = 0.0;
                    for (int64_t ky = 0; ky < k; ++ky)
                      for (int64_t kx = 0; kx < k; ++kx) {
                        const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        for (int64_t ch = 0; ch < cin; ++ch) {
                          const auto wi =
                              static_cast<std::size_t>(((o * k + ky) * k + kx) * cin + ch);
                          acc += double{conv.weight[wi]} * x.at(i, iy, ix, ch);
                          acc8 += static_cast<double>(conv8.weight[wi]) * x.at(i, iy, ix, ch);
                        }
                      }
                    const auto oc = static_cast<std::size_t>(o);
                    const double b = conv.bias.empty() ? 0.0 : conv.bias[oc];
                    expect.at(i, oy, ox, o) = static_cast<float>(acc + b);
                    expect8.at(i, oy, ox, o) =
                        static_cast<float>(acc8 * double{conv8.scale[oc]} + b);
                  }
            CHECK(runner.value_as_float(y) == expect.v);
            CHECK(runner.value_as_float(y8) == expect8.v);
          }
        }
      }
    }
  }
}
