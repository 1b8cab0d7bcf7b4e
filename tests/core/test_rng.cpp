#include "core/error.hpp"
#include "core/rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

using lowbit::core::Error;
using lowbit::core::Rng;
using lowbit::core::RngState;

namespace {

// A mixed sequence of every kind of draw, so that state round trips are checked for all of them.
std::vector<double> mixed_draws(Rng& rng, int rounds) {
  std::vector<double> out;
  for (int i = 0; i < rounds; ++i) {
    out.push_back(static_cast<double>(rng.next_u64() >> 11));
    out.push_back(rng.uniform());
    out.push_back(rng.normal());
    out.push_back(rng.uniform(-2.0f, 3.0f));
    out.push_back(rng.bernoulli(0.5f) ? 1.0 : 0.0);
    out.push_back(static_cast<double>(rng.below(17)));
    out.push_back(rng.normal(1.0f, 0.5f));
  }
  return out;
}

struct Moments {
  double mean = 0, var = 0;
};

Moments moments(const std::vector<float>& v) {
  Moments m;
  for (float x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (float x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size() - 1);
  return m;
}

}  // namespace

TEST_CASE("Rng: known answers pin the stream (xoshiro256** seeded by splitmix64)", "[rng]") {
  // Computed by an independent Python implementation of the reference algorithms.
  Rng a(42);
  CHECK(a.next_u64() == 0x15780b2e0c2ec716ULL);
  CHECK(a.next_u64() == 0x6104d9866d113a7eULL);
  CHECK(a.next_u64() == 0xae17533239e499a1ULL);
  CHECK(a.next_u64() == 0xecb8ad4703b360a1ULL);
  Rng b(0);
  CHECK(b.next_u64() == 0x99ec5f36cb75f2b4ULL);
  CHECK(b.next_u64() == 0xbf6e1f784956452aULL);
}

TEST_CASE("Rng: same seed gives the same stream, different seeds differ", "[rng]") {
  Rng a(7), b(7), c(8);
  CHECK(mixed_draws(a, 200) == mixed_draws(b, 200));
  Rng d(7);
  CHECK(mixed_draws(d, 50) != mixed_draws(c, 50));
}

TEST_CASE("Rng: state save/restore mid-stream reproduces the continuation exactly", "[rng]") {
  Rng rng(123);
  mixed_draws(rng, 10);
  rng.normal();  // odd number of normals since the last pair: a spare is now cached
  const RngState saved = rng.state();
  REQUIRE(saved.has_spare == 1);
  const std::vector<double> expected = mixed_draws(rng, 100);

  SECTION("set_state on another generator") {
    Rng other(999);
    other.set_state(saved);
    CHECK(other.state() == saved);
    CHECK(mixed_draws(other, 100) == expected);
  }
  SECTION("through the byte form") {
    const auto bytes = saved.to_bytes();
    Rng other(1);
    other.set_state(RngState::from_bytes(bytes));
    CHECK(mixed_draws(other, 100) == expected);
  }
  SECTION("the spare is the next normal") {
    Rng other(5);
    other.set_state(saved);
    const float next = other.normal();
    CHECK(next == saved.spare);
    CHECK(other.state().has_spare == 0);
  }
}

TEST_CASE("RngState: byte form is checked", "[rng]") {
  Rng rng(3);
  auto bytes = rng.state().to_bytes();
  CHECK(RngState::from_bytes(bytes) == rng.state());
  CHECK_THROWS_WITH(RngState::from_bytes(std::span(bytes.data(), 39)),
                    Catch::Contains("expected 40 bytes"));
  auto bad_flag = bytes;
  bad_flag[36] = 2;
  CHECK_THROWS_WITH(RngState::from_bytes(bad_flag), Catch::Contains("has_spare"));
  std::array<std::uint8_t, RngState::kBytes> zeros{};
  CHECK_THROWS_WITH(RngState::from_bytes(zeros),
                    Catch::Contains("all four xoshiro words are zero"));
  CHECK_THROWS_AS(rng.set_state(RngState{}), Error);
}

TEST_CASE("Rng: fork gives deterministic, distinct child streams", "[rng]") {
  Rng parent(2024);
  const RngState before = parent.state();
  Rng c1 = parent.fork(1);
  Rng c1_again = parent.fork(1);
  Rng c2 = parent.fork(2);
  CHECK(parent.state() == before);  // forking does not advance the parent
  const auto s1 = mixed_draws(c1, 50);
  CHECK(s1 == mixed_draws(c1_again, 50));
  CHECK(s1 != mixed_draws(c2, 50));
  Rng parent_copy(2024);
  CHECK(s1 != mixed_draws(parent_copy, 50));  // the child is not the parent's own stream
  parent.next_u64();
  Rng later = parent.fork(1);
  CHECK(s1 != mixed_draws(later, 50));  // the child depends on the parent's position

  // Children of adjacent ids look uncorrelated: their uniforms agree in about 1/2 of the sign bits.
  Rng a = Rng(1).fork(0), b = Rng(1).fork(1);
  int same = 0;
  for (int i = 0; i < 10000; ++i) same += (a.uniform() < 0.5f) == (b.uniform() < 0.5f);
  CHECK(same > 4700);
  CHECK(same < 5300);
}

TEST_CASE("Rng: permutation is a permutation", "[rng]") {
  Rng rng(11);
  CHECK(rng.permutation(0).empty());
  CHECK(rng.permutation(1) == std::vector<std::int64_t>{0});
  for (std::int64_t n : {2, 7, 100, 1000}) {
    auto p = rng.permutation(n);
    REQUIRE(static_cast<std::int64_t>(p.size()) == n);
    std::vector<std::int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < n; ++i) CHECK(sorted[static_cast<std::size_t>(i)] == i);
  }
  Rng a(5), b(5);
  const auto pa = a.permutation(100);
  CHECK(pa == b.permutation(100));
  std::vector<std::int64_t> identity(100);
  for (std::int64_t i = 0; i < 100; ++i) identity[static_cast<std::size_t>(i)] = i;
  CHECK(pa != identity);
  CHECK_THROWS_AS(rng.permutation(-1), Error);

  // Every one of the 6 orders of 3 elements appears about equally often.
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 60000; ++i) {
    const auto p = rng.permutation(3);
    ++counts[static_cast<std::size_t>(p[0] * 2 + (p[1] > p[2] ? 1 : 0))];
  }
  for (int c : counts) CHECK(std::abs(c - 10000) < 400);  // ~4 sigma
}

TEST_CASE("Rng: below is in range and unbiased", "[rng]") {
  Rng rng(17);
  CHECK(rng.below(1) == 0);
  CHECK_THROWS_AS(rng.below(0), Error);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 30000; ++i) ++counts[rng.below(3)];
  for (int c : counts) CHECK(std::abs(c - 10000) < 330);  // ~4 sigma
  const std::uint64_t big = (1ULL << 63) + 12345;
  for (int i = 0; i < 1000; ++i) CHECK(rng.below(big) < big);
}

TEST_CASE("Rng: uniform moments and range on 100k draws", "[rng]") {
  Rng rng(99);
  std::vector<float> v(100000);
  for (float& x : v) {
    x = rng.uniform();
    REQUIRE(x >= 0.0f);
    REQUIRE(x < 1.0f);
  }
  const Moments m = moments(v);
  CHECK(m.mean == Approx(0.5).margin(0.005));
  CHECK(m.var == Approx(1.0 / 12.0).margin(0.002));

  rng.fill_uniform(v.data(), static_cast<std::int64_t>(v.size()), -3.0f, 5.0f);
  for (float x : v) {
    REQUIRE(x >= -3.0f);
    REQUIRE(x < 5.0f);
  }
  const Moments m2 = moments(v);
  CHECK(m2.mean == Approx(1.0).margin(0.04));
  CHECK(m2.var == Approx(64.0 / 12.0).margin(0.1));

  CHECK(rng.uniform(2.0f, 2.0f) == 2.0f);
  CHECK_THROWS_AS(rng.uniform(1.0f, 0.0f), Error);
  CHECK_THROWS_AS(rng.uniform(0.0f, INFINITY), Error);
  CHECK_THROWS_AS(rng.uniform(NAN, 1.0f), Error);
}

TEST_CASE("Rng: normal mean and std on 100k draws", "[rng]") {
  Rng rng(31);
  std::vector<float> v(100000);
  rng.fill_normal(v.data(), static_cast<std::int64_t>(v.size()));
  const Moments m = moments(v);
  CHECK(m.mean == Approx(0.0).margin(0.015));
  CHECK(std::sqrt(m.var) == Approx(1.0).margin(0.01));
  // Tail mass beyond 3 sigma is about 0.27%.
  const auto tail = std::count_if(v.begin(), v.end(), [](float x) { return std::abs(x) > 3.0f; });
  CHECK(tail > 170);
  CHECK(tail < 370);

  rng.fill_normal(v.data(), static_cast<std::int64_t>(v.size()), 3.0f, 2.0f);
  const Moments m2 = moments(v);
  CHECK(m2.mean == Approx(3.0).margin(0.03));
  CHECK(std::sqrt(m2.var) == Approx(2.0).margin(0.02));
  CHECK(rng.normal(4.0f, 0.0f) == 4.0f);
  CHECK_THROWS_AS(rng.normal(0.0f, -1.0f), Error);
}

TEST_CASE("Rng: bernoulli rate", "[rng]") {
  Rng rng(8);
  int fired = 0;
  for (int i = 0; i < 100000; ++i) fired += rng.bernoulli(0.3f);
  CHECK(fired == Approx(30000).margin(700));  // ~5 sigma
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(rng.bernoulli(0.0f));
    REQUIRE(rng.bernoulli(1.0f));
  }
  CHECK_THROWS_AS(rng.bernoulli(1.5f), Error);
  CHECK_THROWS_AS(rng.bernoulli(-0.1f), Error);
  CHECK_THROWS_AS(rng.bernoulli(NAN), Error);
}

TEST_CASE("Rng: bulk fills equal the same number of single draws", "[rng]") {
  Rng a(77), b(77);
  std::vector<float> u(101), n(101);
  std::vector<std::uint8_t> m(101);
  a.fill_uniform(u.data(), 101, -1.0f, 1.0f);
  a.fill_normal(n.data(), 101, 0.5f, 2.0f);  // odd count: leaves a spare behind
  a.fill_bernoulli(m.data(), 101, 0.25f);
  for (float x : u) CHECK(x == b.uniform(-1.0f, 1.0f));
  for (float x : n) CHECK(x == b.normal(0.5f, 2.0f));
  for (std::uint8_t x : m) CHECK(x == (b.bernoulli(0.25f) ? 1 : 0));
  CHECK(a.state() == b.state());
}
