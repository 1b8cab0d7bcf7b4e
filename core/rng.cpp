#include "core/rng.hpp"

#include "core/error.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>
#include <utility>

namespace lowbit::core {

namespace {

// splitmix64 (Steele, Lea & Flood 2014): advances `x` and returns the next well-mixed word.
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void seed_words(std::uint64_t seed, std::uint64_t (&s)[4]) {
  std::uint64_t x = seed;
  for (std::uint64_t& w : s) w = splitmix64(x);
  // splitmix64 is a bijection on the counter, so four consecutive outputs are never all zero.
}

void check_state(const RngState& st, const char* where) {
  check((st.s[0] | st.s[1] | st.s[2] | st.s[3]) != 0,
        "{}: invalid RNG state (all four xoshiro words are zero). HINT: the saved state is "
        "corrupted or was never written",
        where);
  check(st.has_spare <= 1, "{}: invalid RNG state (has_spare = {}, expected 0 or 1)", where,
        st.has_spare);
}

void put_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}
std::uint32_t get_le32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

// Byte form: s[0..3] as u64 LE (bytes 0..31) | spare as f32 bits LE (32..35) | has_spare u32 LE.
std::array<std::uint8_t, RngState::kBytes> RngState::to_bytes() const {
  std::array<std::uint8_t, kBytes> out{};
  for (int i = 0; i < 4; ++i) put_le64(out.data() + 8 * i, s[i]);
  put_le32(out.data() + 32, std::bit_cast<std::uint32_t>(spare));
  put_le32(out.data() + 36, has_spare);
  return out;
}

RngState RngState::from_bytes(std::span<const std::uint8_t> bytes) {
  check(bytes.size() == kBytes, "RngState::from_bytes: expected {} bytes, got {}", kBytes,
        bytes.size());
  RngState st;
  for (int i = 0; i < 4; ++i) st.s[i] = get_le64(bytes.data() + 8 * i);
  st.spare = std::bit_cast<float>(get_le32(bytes.data() + 32));
  st.has_spare = get_le32(bytes.data() + 36);
  check_state(st, "RngState::from_bytes");
  return st;
}

Rng::Rng(std::uint64_t seed) { seed_words(seed, s_); }

// xoshiro256** 1.0 (reference implementation by Blackman & Vigna, public domain).
std::uint64_t Rng::next_u64() {
  const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

float Rng::uniform() {
  // Top 24 bits: every value k * 2^-24 is exactly representable, so the result is < 1.
  return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f;
}

float Rng::uniform(float lo, float hi) {
  check(lo <= hi && std::isfinite(hi - lo), "Rng::uniform: need finite lo <= hi, got [{}, {})", lo,
        hi);
  const float u = uniform();
  if (lo == hi) return lo;
  const float r = lo + (hi - lo) * u;
  return r < hi ? r : std::nextafter(hi, lo);  // rounding may land on hi; keep [lo, hi)
}

float Rng::normal(float mean, float std) {
  check(std::isfinite(mean) && std::isfinite(std) && std >= 0.0f,
        "Rng::normal: need finite mean and std >= 0, got mean {} std {}", mean, std);
  float z;
  if (has_spare_) {
    has_spare_ = false;
    z = spare_;
  } else {
    // u1 in (0, 1] keeps log finite; 53-bit uniforms in double for the transform.
    const double u1 = static_cast<double>((next_u64() >> 11) + 1) * 0x1.0p-53;
    const double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * std::numbers::pi * u2;
    z = static_cast<float>(r * std::cos(theta));
    spare_ = static_cast<float>(r * std::sin(theta));
    has_spare_ = true;
  }
  return mean + std * z;
}

bool Rng::bernoulli(float p) {
  check(p >= 0.0f && p <= 1.0f, "Rng::bernoulli: probability {} is outside [0, 1]", p);
  return uniform() < p;
}

std::uint64_t Rng::below(std::uint64_t n) {
  check(n > 0, "Rng::below: n must be positive");
  // Reject the lowest (2^64 mod n) values so that the remaining range is a multiple of n.
  const std::uint64_t threshold = (0 - n) % n;
  for (;;) {
    const std::uint64_t r = next_u64();
    if (r >= threshold) return r % n;
  }
}

std::vector<std::int64_t> Rng::permutation(std::int64_t n) {
  check(n >= 0, "Rng::permutation: n must be >= 0, got {}", n);
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::size_t>(below(static_cast<std::uint64_t>(i) + 1));
    std::swap(v[static_cast<std::size_t>(i)], v[j]);
  }
  return v;
}

void Rng::fill_uniform(float* out, std::int64_t n, float lo, float hi) {
  check(n >= 0, "Rng::fill_uniform: negative count {}", n);
  for (std::int64_t i = 0; i < n; ++i) out[i] = uniform(lo, hi);
}

void Rng::fill_normal(float* out, std::int64_t n, float mean, float std) {
  check(n >= 0, "Rng::fill_normal: negative count {}", n);
  for (std::int64_t i = 0; i < n; ++i) out[i] = normal(mean, std);
}

void Rng::fill_bernoulli(std::uint8_t* out, std::int64_t n, float p) {
  check(n >= 0, "Rng::fill_bernoulli: negative count {}", n);
  for (std::int64_t i = 0; i < n; ++i) out[i] = bernoulli(p) ? 1 : 0;
}

RngState Rng::state() const {
  RngState st;
  std::memcpy(st.s, s_, sizeof(s_));
  st.spare = has_spare_ ? spare_ : 0.0f;
  st.has_spare = has_spare_ ? 1 : 0;
  return st;
}

void Rng::set_state(const RngState& st) {
  check_state(st, "Rng::set_state");
  std::memcpy(s_, st.s, sizeof(s_));
  spare_ = st.spare;
  has_spare_ = st.has_spare == 1;
}

Rng Rng::fork(std::uint64_t stream) const {
  // Hash the full parent state together with the stream id into a 64-bit seed (each word passes
  // through splitmix64 so that nearby states and ids diverge), then seed the child from it.
  std::uint64_t x = stream ^ 0xD1B54A32D192ED03ULL;
  std::uint64_t h = splitmix64(x);
  for (std::uint64_t w : s_) {
    x = h ^ w;
    h = splitmix64(x);
  }
  Rng child;
  seed_words(h, child.s_);
  return child;
}

}  // namespace lowbit::core
