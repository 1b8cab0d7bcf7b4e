// Term encoders (methods.md §6.3, self-checks §6.6 items 1-2): hese bit-exact with the authors'
// released encoder, csd minimum-weight, both summing back exactly.

#include "core/error.hpp"
#include "quant/terms/encode.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <vector>

using namespace lowbit;
using namespace lowbit::quant::terms;
using Catch::Contains;
using V = std::vector<std::int64_t>;

namespace {

// Minimum number of signed powers of two that sum to n (dynamic programming over n's bits):
//   w(0) = 0, w(2m) = w(m), w(2m+1) = 1 + min(w(m), w(m+1)).
std::vector<int> min_signed_weights(int limit) {
  std::vector<int> w(static_cast<std::size_t>(limit) + 2, 0);
  for (int n = 1; n <= limit + 1; ++n) {
    const auto un = static_cast<std::size_t>(n);
    if (n % 2 == 0) {
      w[un] = w[un / 2];
    } else {
      // w((n+1)/2) may not be computed yet when (n+1)/2 == n, i.e. n == 1.
      w[un] = n == 1 ? 1 : 1 + std::min(w[un / 2], w[un / 2 + 1]);
    }
  }
  return w;
}

bool descending(const TermList& t) {
  for (int i = 1; i < t.size(); ++i) {
    if (t[i].exponent >= t[i - 1].exponent) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("hese and csd of 55: the paper's example and the discrepancy", "[terms]") {
  CHECK(encode(55, Encoding::hese).values() == V{64, -16, 8, -1});
  CHECK(encode(55, Encoding::csd).values() == V{64, -8, -1});
  CHECK(encode(55, Encoding::binary).values() == V{32, 16, 4, 2, 1});
  CHECK(count_terms(55, Encoding::binary) == 5);  // popcount
  CHECK(encode(55, Encoding::hese).str() == "64 - 16 + 8 - 1");
  CHECK(encode(-55, Encoding::csd).str() == "-64 + 8 + 1");
  CHECK(encode(0, Encoding::hese).str() == "0");
}

TEST_CASE("hese follows the reference window table", "[terms]") {
  CHECK(encode(1, Encoding::hese).values() == V{1});
  CHECK(encode(3, Encoding::hese).values() == V{4, -1});
  CHECK(encode(5, Encoding::hese).values() == V{4, 1});  // 0 1 0 twice
  CHECK(encode(7, Encoding::hese).values() == V{8, -1});
  CHECK(encode(27, Encoding::hese).values() == V{32, -8, 4, -1});
  CHECK(encode(100, Encoding::hese).values() == V{128, -32, 4});
  CHECK(encode(170, Encoding::hese).values() == V{128, 32, 8, 2});
  CHECK(encode(255, Encoding::hese).values() == V{256, -1});
  CHECK(encode(256, Encoding::hese).values() == V{256});
  CHECK(encode(0, Encoding::hese).empty());
  CHECK(encode(0, Encoding::csd).empty());
}

TEST_CASE("encodings of 0..255 sum back exactly and respect the term-count order", "[terms]") {
  const std::vector<int> min_w = min_signed_weights(1 << 12);
  for (std::int64_t q = 0; q < (1 << 12); ++q) {
    INFO("q = " << q);
    const TermList h = encode(q, Encoding::hese);
    const TermList c = encode(q, Encoding::csd);
    const TermList b = encode(q, Encoding::binary);
    REQUIRE(h.sum() == q);
    REQUIRE(c.sum() == q);
    REQUIRE(b.sum() == q);
    REQUIRE(b.size() == std::popcount(static_cast<std::uint64_t>(q)));
    REQUIRE(h.size() <= b.size());
    REQUIRE(c.size() <= h.size());
    REQUIRE(c.size() == min_w[static_cast<std::size_t>(q)]);  // csd is minimum-weight
    REQUIRE(descending(h));
    REQUIRE(descending(c));
    REQUIRE(descending(b));
    for (int i = 1; i < c.size(); ++i) REQUIRE(c[i - 1].exponent - c[i].exponent >= 2);
    // Negative values mirror the positive ones.
    const TermList hn = encode(-q, Encoding::hese);
    const TermList cn = encode(-q, Encoding::csd);
    REQUIRE(hn.sum() == -q);
    REQUIRE(cn.sum() == -q);
    REQUIRE(hn.size() == h.size());
    REQUIRE(cn.size() == c.size());
  }
}

TEST_CASE("term counts over 0..255 match methods.md 6.3", "[terms]") {
  int hese_total = 0;
  int csd_total = 0;
  int binary_total = 0;
  std::vector<int> hese_longer;
  for (int q = 0; q < 256; ++q) {
    const int h = count_terms(q, Encoding::hese);
    const int c = count_terms(q, Encoding::csd);
    hese_total += h;
    csd_total += c;
    binary_total += count_terms(q, Encoding::binary);
    if (h > c) hese_longer.push_back(q);
  }
  CHECK(hese_total == 832);     // mean 3.25
  CHECK(csd_total == 796);      // mean 3.11
  CHECK(binary_total == 1024);  // mean 4.0
  REQUIRE(hese_longer.size() == 35);
  CHECK(std::vector<int>(hese_longer.begin(), hese_longer.begin() + 5) ==
        std::vector<int>{27, 54, 55, 59, 91});
}

TEST_CASE("large magnitudes encode; too large is an error", "[terms]") {
  const std::int64_t big = (std::int64_t{1} << kMaxMagnitudeBits) - 1;
  for (Encoding e : {Encoding::hese, Encoding::csd, Encoding::binary}) {
    CHECK(encode(big, e).sum() == big);
    CHECK(encode(-big, e).sum() == -big);
    CHECK(encode(0x2AAAAAAA, e).sum() == 0x2AAAAAAA);
    CHECK_THROWS_AS(encode(big + 1, e), core::Error);
  }
}

TEST_CASE("encodings are chosen by name", "[terms]") {
  CHECK(parse_encoding("hese") == Encoding::hese);
  CHECK(parse_encoding("csd") == Encoding::csd);
  CHECK(parse_encoding("binary") == Encoding::binary);
  for (const std::string& name : encoding_names()) {
    CHECK(encoding_name(parse_encoding(name)) == name);
  }
  CHECK_THROWS_WITH(parse_encoding("hse"), Contains("unknown term encoding 'hse'") &&
                                               Contains("did you mean 'hese'") &&
                                               Contains("known: binary, csd, hese"));
  CHECK_THROWS_WITH(parse_encoding("naf"), Contains("known: binary, csd, hese"));
}
