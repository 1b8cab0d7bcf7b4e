// Group term quantization and the data-term limit (methods.md §6.2, self-checks §6.6 items 3-5).

#include "core/error.hpp"
#include "quant/terms/group.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

using namespace lowbit;
using namespace lowbit::quant::terms;
using Codes = std::vector<std::int32_t>;

namespace {

// A second implementation: the k largest terms of the group ordered by (|term| desc, index asc).
Codes keep_largest_by_sorting(const Codes& codes, int budget, Encoding enc) {
  std::vector<std::tuple<int, std::size_t, std::int64_t>> all;  // (-exponent, index, value)
  for (std::size_t j = 0; j < codes.size(); ++j) {
    for (const Term& t : encode(codes[j], enc)) all.emplace_back(-t.exponent, j, t.value());
  }
  std::sort(all.begin(), all.end());
  Codes out(codes.size(), 0);
  for (std::size_t i = 0; i < all.size() && i < static_cast<std::size_t>(budget); ++i) {
    out[std::get<1>(all[i])] += static_cast<std::int32_t>(std::get<2>(all[i]));
  }
  return out;
}

int total_terms(const Codes& codes, Encoding enc) {
  int n = 0;
  for (std::int32_t c : codes) n += count_terms(c, enc);
  return n;
}

}  // namespace

TEST_CASE("group budget example [55, 3] with hese (methods.md 6.6 item 3)", "[terms]") {
  const Codes g{55, 3};
  const std::vector<Codes> expected{{64, 0}, {48, 0}, {56, 0}, {56, 4}, {55, 4}, {55, 3}};
  for (int k = 1; k <= 6; ++k) {
    INFO("k = " << k);
    CHECK(quantize_group(g, k, Encoding::hese) == expected[static_cast<std::size_t>(k - 1)]);
  }
  CHECK(quantize_group(g, 7, Encoding::hese) == g);
}

TEST_CASE("group budget example [55, 3] with csd", "[terms]") {
  const Codes g{55, 3};
  CHECK(quantize_group(g, 1, Encoding::csd) == Codes{64, 0});
  CHECK(quantize_group(g, 2, Encoding::csd) == Codes{56, 0});
  CHECK(quantize_group(g, 3, Encoding::csd) == Codes{56, 4});
  CHECK(quantize_group(g, 4, Encoding::csd) == Codes{55, 4});
  CHECK(quantize_group(g, 5, Encoding::csd) == Codes{55, 3});
}

TEST_CASE("ties go to the lower index (methods.md 6.6 item 4)", "[terms]") {
  const Codes g{-100, 7, 0, 33};  // hese: -128+32-4 | 8-1 | - | 32+1
  Codes out(4);
  Codes kept(4);
  CHECK(quantize_group(g, 4, Encoding::hese, out, kept) == 4);
  CHECK(out == Codes{-96, 8, 0, 32});
  CHECK(kept == Codes{2, 1, 0, 1});
  // k = 2: the 32 vs 32 tie goes to index 0 first.
  CHECK(quantize_group(g, 2, Encoding::hese) == Codes{-96, 0, 0, 0});
  CHECK(quantize_group(g, 3, Encoding::hese) == Codes{-96, 0, 0, 32});
  // Equal values: the budget fills from the left.
  CHECK(quantize_group(Codes{5, 5, 5}, 2, Encoding::hese) == Codes{4, 4, 0});
  CHECK(quantize_group(Codes{5, 5, 5}, 4, Encoding::hese) == Codes{5, 4, 4});
}

TEST_CASE("negative values mirror positive ones", "[terms]") {
  for (int k = 0; k <= 7; ++k) {
    const Codes pos = quantize_group(Codes{55, 3}, k, Encoding::hese);
    const Codes neg = quantize_group(Codes{-55, -3}, k, Encoding::hese);
    CHECK(neg == Codes{-pos[0], -pos[1]});
  }
  CHECK(quantize_group(Codes{-55, 3}, 4, Encoding::hese) == Codes{-56, 4});
  CHECK(quantize_group(Codes{-55, 3}, 4, Encoding::csd) == Codes{-55, 4});
}

TEST_CASE("budget >= total terms leaves the group unchanged (methods.md 6.6 item 5)", "[terms]") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> value(-256, 256);
  for (Encoding enc : {Encoding::hese, Encoding::csd, Encoding::binary}) {
    for (int g : {1, 2, 3, 8, 16, 33, 64}) {
      Codes codes(static_cast<std::size_t>(g));
      for (auto& c : codes) c = value(rng);
      const int total = total_terms(codes, enc);
      Codes out(codes.size());
      CHECK(quantize_group(codes, total, enc, out) == total);
      CHECK(out == codes);
      CHECK(quantize_group(codes, total + 5, enc) == codes);
      CHECK(quantize_group(codes, kNoBudget, enc) == codes);
      CHECK(quantize_group(codes, 0, enc) == Codes(codes.size(), 0));
    }
  }
}

TEST_CASE("group quantization keeps the k largest terms, ties to the lower index", "[terms]") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> value(-300, 300);
  std::uniform_int_distribution<int> size(1, 16);
  for (int trial = 0; trial < 500; ++trial) {
    Codes codes(static_cast<std::size_t>(size(rng)));
    for (auto& c : codes) c = value(rng);
    const Encoding enc = trial % 2 == 0 ? Encoding::hese : Encoding::csd;
    const int k = trial % 13;
    INFO("trial " << trial << " k " << k);
    Codes out(codes.size());
    Codes kept(codes.size());
    const int n = quantize_group(codes, k, enc, out, kept);
    CHECK(out == keep_largest_by_sorting(codes, k, enc));
    CHECK(n == std::min(k, total_terms(codes, enc)));
    int kept_sum = 0;
    for (std::size_t j = 0; j < codes.size(); ++j) {
      kept_sum += kept[j];
      CHECK(encode(codes[j], enc).sum(kept[j]) == out[j]);  // a prefix of each value's terms
    }
    CHECK(kept_sum == n);
  }
}

TEST_CASE("group quantization rejects bad sizes and budgets", "[terms]") {
  Codes out(65);
  CHECK_THROWS_AS(quantize_group(Codes{}, 1, Encoding::hese), core::Error);
  CHECK_THROWS_AS(quantize_group(Codes(65, 1), 1, Encoding::hese), core::Error);
  CHECK_THROWS_AS(quantize_group(Codes{1, 2}, -1, Encoding::hese), core::Error);
  Codes small(1);
  CHECK_THROWS_AS(quantize_group(Codes{1, 2}, 1, Encoding::hese, small), core::Error);
  // In place is allowed.
  Codes g{55, 3};
  quantize_group(g, 3, Encoding::hese, g);
  CHECK(g == Codes{56, 0});
}

TEST_CASE("data-term limit keeps the first t terms of each value", "[terms]") {
  const Codes hese55{0, 64, 48, 56, 55, 55};
  for (int t = 0; t <= 5; ++t) {
    int kept = -1;
    CHECK(limit_terms(55, t, Encoding::hese, &kept) == hese55[static_cast<std::size_t>(t)]);
    CHECK(kept == std::min(t, 4));
    CHECK(limit_terms(-55, t, Encoding::hese) == -hese55[static_cast<std::size_t>(t)]);
  }
  CHECK(limit_terms(55, 2, Encoding::csd) == 56);
  CHECK(limit_terms(55, 2, Encoding::binary) == 48);

  for (Encoding enc : {Encoding::hese, Encoding::csd}) {
    for (int t : {0, 1, 2, 3, 8}) {
      const TermLimitTable table(8, t, enc);
      for (std::int32_t q = -255; q <= 255; ++q) {
        int kept = 0;
        REQUIRE(table.kept_code(q) == limit_terms(q, t, enc, &kept));
        REQUIRE(table.kept_count(q) == kept);
        REQUIRE(table.full_count(q) == count_terms(q, enc));
      }
    }
  }
  const TermLimitTable wide(20, 2, Encoding::hese);  // beyond the table: encodes directly
  CHECK(wide.kept_code(1000000) == limit_terms(1000000, 2, Encoding::hese));
  CHECK(wide.full_count(1000000) == count_terms(1000000, Encoding::hese));
}

TEST_CASE("uniform codes round half up in magnitude and clamp", "[terms]") {
  CHECK(quantize_code(2.5f, 1.0f, 8) == 3);
  CHECK(quantize_code(-2.5f, 1.0f, 8) == -3);
  CHECK(quantize_code(2.49f, 1.0f, 8) == 2);
  CHECK(quantize_code(0.0f, 1.0f, 8) == 0);
  CHECK(quantize_code(-0.0f, 1.0f, 8) == 0);
  CHECK(quantize_code(-0.4f, 1.0f, 8) == 0);
  CHECK(quantize_code(300.0f, 1.0f, 8) == 255);
  CHECK(quantize_code(-300.0f, 1.0f, 8) == -255);
  CHECK(quantize_code(50.0f, 1e-8f, 8) == 255);  // no int overflow at tiny scales
  CHECK(quantize_code(std::numeric_limits<float>::infinity(), 1.0f, 4) == 15);
  CHECK(quantize_code(std::numeric_limits<float>::quiet_NaN(), 1.0f, 4) == 0);
  CHECK(quantize_code(0.3f, 0.1f, 8) == 3);
}
