// Exact effects of the per-example transforms.

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/transforms.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

using Catch::Matchers::Contains;
using lowbit::core::Rng;
using lowbit::data::Compose;
using lowbit::data::ItemShape;
using lowbit::data::Normalize;
using lowbit::data::RandomCrop;
using lowbit::data::RandomHorizontalFlip;

namespace {

// (C, H, W) image with element (c, y, x) = 100 c + 10 y + x + 1 (never 0, so padding shows).
std::vector<float> ramp(const ItemShape& s) {
  std::vector<float> v(static_cast<std::size_t>(s.numel()));
  for (std::int64_t c = 0; c < s.c; ++c)
    for (std::int64_t y = 0; y < s.h; ++y)
      for (std::int64_t x = 0; x < s.w; ++x)
        v[static_cast<std::size_t>((c * s.h + y) * s.w + x)] =
            static_cast<float>(100 * c + 10 * y + x + 1);
  return v;
}

float at(const std::vector<float>& v, const ItemShape& s, std::int64_t c, std::int64_t y,
         std::int64_t x) {
  return v[static_cast<std::size_t>((c * s.h + y) * s.w + x)];
}

}  // namespace

TEST_CASE("transforms: horizontal flip reverses columns", "[data][transforms]") {
  const ItemShape s{2, 3, 5};
  const std::vector<float> src = ramp(s);
  Rng rng(1);
  std::vector<float> v = src;
  RandomHorizontalFlip(1.0f).apply(v.data(), s, rng);
  for (std::int64_t c = 0; c < s.c; ++c)
    for (std::int64_t y = 0; y < s.h; ++y)
      for (std::int64_t x = 0; x < s.w; ++x)
        CHECK(at(v, s, c, y, x) == at(src, s, c, y, s.w - 1 - x));
  v = src;
  RandomHorizontalFlip(0.0f).apply(v.data(), s, rng);
  CHECK(v == src);
  // p = 0.5 flips about half the time, as rng.bernoulli(0.5) decides.
  int flips = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Rng a(seed), b(seed);
    v = src;
    RandomHorizontalFlip().apply(v.data(), s, a);
    const bool flipped = v != src;
    CHECK(flipped == b.bernoulli(0.5f));
    flips += flipped ? 1 : 0;
  }
  CHECK(flips > 70);
  CHECK(flips < 130);
}

TEST_CASE("transforms: random crop with zero padding shifts the image", "[data][transforms]") {
  const ItemShape s{2, 4, 5};
  const std::vector<float> src = ramp(s);
  const RandomCrop crop(0, 2);
  CHECK(crop.output_shape(s) == s);
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed), replay(seed);
    const auto top = static_cast<std::int64_t>(replay.below(4 + 4 - 4 + 1));
    const auto left = static_cast<std::int64_t>(replay.below(5 + 4 - 5 + 1));
    std::vector<float> v = src;
    crop.apply(v.data(), s, rng);
    CHECK(rng.state() == replay.state());  // exactly two draws
    for (std::int64_t c = 0; c < s.c; ++c)
      for (std::int64_t y = 0; y < s.h; ++y)
        for (std::int64_t x = 0; x < s.w; ++x) {
          const std::int64_t sy = y + top - 2, sx = x + left - 2;
          const bool inside = sy >= 0 && sy < s.h && sx >= 0 && sx < s.w;
          CHECK(at(v, s, c, y, x) == (inside ? at(src, s, c, sy, sx) : 0.0f));
        }
  }
  // No padding and full size: identity.
  std::vector<float> v = src;
  Rng rng(3);
  RandomCrop(0, 0).apply(v.data(), s, rng);
  CHECK(v == src);
}

TEST_CASE("transforms: random crop to a smaller window", "[data][transforms]") {
  const ItemShape s{1, 4, 4};
  const std::vector<float> src = ramp(s);
  const RandomCrop crop(2, 3, 0);
  const ItemShape out = crop.output_shape(s);
  CHECK(out == ItemShape{1, 2, 3});
  Rng rng(5), replay(5);
  const auto top = static_cast<std::int64_t>(replay.below(3));
  const auto left = static_cast<std::int64_t>(replay.below(2));
  std::vector<float> v = src;
  crop.apply(v.data(), s, rng);
  for (std::int64_t y = 0; y < 2; ++y)
    for (std::int64_t x = 0; x < 3; ++x)
      CHECK(v[static_cast<std::size_t>(y * 3 + x)] == at(src, s, 0, y + top, x + left));
  CHECK_THROWS_WITH(RandomCrop(7, 0).output_shape(s), Contains("does not fit"));
}

TEST_CASE("transforms: normalize per channel", "[data][transforms]") {
  const ItemShape s{3, 2, 2};
  const std::vector<float> src = ramp(s);
  const Normalize norm({1.0f, 2.0f, 3.0f}, {0.5f, 4.0f, 10.0f});
  std::vector<float> v = src;
  Rng rng(0);
  norm.apply(v.data(), s, rng);
  const float mean[3] = {1, 2, 3}, std[3] = {0.5f, 4, 10};
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t i = 0; i < 4; ++i) {
      const auto k = static_cast<std::size_t>(c * 4 + i);
      CHECK(v[k] == Approx((src[k] - mean[c]) / std[c]).epsilon(1e-6));
    }
  CHECK_THROWS_WITH(norm.output_shape(ItemShape{1, 2, 2}),
                    Contains("3 mean/std values for images with 1 channels"));
  CHECK_THROWS_WITH(Normalize({0.0f}, {0.0f}), Contains("must be > 0"));
  // One value applies to every channel.
  v = src;
  Normalize({1.0f}, {2.0f}).apply(v.data(), s, rng);
  CHECK(v[11] == Approx((src[11] - 1.0f) / 2.0f));
}

TEST_CASE("transforms: compose applies in order with one generator", "[data][transforms]") {
  const ItemShape s{1, 3, 3};
  const std::vector<float> src = ramp(s);
  auto flip = std::make_shared<RandomHorizontalFlip>(1.0f);
  auto crop = std::make_shared<RandomCrop>(2, 1);
  auto norm = std::make_shared<Normalize>(std::vector<float>{1.0f}, std::vector<float>{2.0f});
  const Compose all({crop, flip, norm});
  CHECK(all.output_shape(s) == ItemShape{1, 2, 2});
  CHECK(all.is_random());
  CHECK_FALSE(Compose({norm}).is_random());
  CHECK(all.max_numel(s) == 9);
  std::vector<float> expected = src, got = src;
  Rng a(11), b(11);
  crop->apply(expected.data(), s, a);
  flip->apply(expected.data(), ItemShape{1, 2, 2}, a);
  norm->apply(expected.data(), ItemShape{1, 2, 2}, a);
  all.apply(got.data(), s, b);
  for (std::size_t i = 0; i < 4; ++i) CHECK(got[i] == expected[i]);
  CHECK(a.state() == b.state());
  CHECK_THAT(all.describe(), Contains("RandomCrop") && Contains("Normalize"));
}
