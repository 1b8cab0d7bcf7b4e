#pragma once
// Rng: lowbit's seeded pseudo-random generator, with a state we own and can save in a checkpoint.
//
// Engine: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018),
// 256 bits of state seeded through splitmix64. Not cryptographic.
//
// Contracts
// - Determinism: the same seed gives the same stream on every platform and build. Every draw is
//   defined from next_u64() by the formulas below, independent of the standard library.
// - uniform():          (next_u64() >> 40) * 2^-24, a float in [0, 1) on a 2^-24 grid.
// - uniform(lo, hi):    lo + (hi - lo) * uniform(), clamped so that the result stays below hi.
// - normal(mean, std):  Box–Muller on two uniforms (in double); the second value of each pair is
//                       cached as the "spare" and returned by the next normal() call. The spare is
//                       part of the state: state()/set_state() round-trip it.
// - bernoulli(p):       uniform() < p, so p = 0 never and p = 1 always fires; p must be in [0, 1].
// - below(n):           unbiased integer in [0, n) by rejection (n > 0).
// - permutation(n):     Fisher–Yates from v = 0..n-1: for i = n-1 .. 1 swap(v[i], v[below(i+1)]).
// - fill_*(out, n, ...): exactly the values n single calls would give, in order.
// - fork(stream):       a child generator determined by (this state, stream); the parent is not
//                       advanced. Distinct stream ids give statistically independent children; the
//                       same id on the same parent state gives the same child. Use one id per
//                       data-loader worker or per layer.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lowbit::core {

// The complete generator state. Plain data; its byte form (to_bytes/from_bytes) is little-endian
// and is what checkpoints store.
struct RngState {
  std::uint64_t s[4] = {0, 0, 0, 0};  // xoshiro256** words; never all zero
  float spare = 0.0f;                 // cached second Box–Muller value
  std::uint32_t has_spare = 0;        // 1 when `spare` is valid, else 0

  static constexpr std::size_t kBytes = 40;
  std::array<std::uint8_t, kBytes> to_bytes() const;
  // Checks the bytes describe a valid state (not all-zero words, has_spare 0 or 1).
  static RngState from_bytes(std::span<const std::uint8_t> bytes);
  bool operator==(const RngState&) const = default;
};
static_assert(sizeof(RngState) == RngState::kBytes,
              "RngState layout changed: update to_bytes/from_bytes and the byte format");

class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  std::uint64_t next_u64();
  float uniform();
  float uniform(float lo, float hi);
  float normal(float mean = 0.0f, float std = 1.0f);
  bool bernoulli(float p);
  std::uint64_t below(std::uint64_t n);
  std::vector<std::int64_t> permutation(std::int64_t n);

  void fill_uniform(float* out, std::int64_t n, float lo, float hi);
  void fill_normal(float* out, std::int64_t n, float mean = 0.0f, float std = 1.0f);
  void fill_bernoulli(std::uint8_t* out, std::int64_t n, float p);  // 1 = fired, 0 = not

  RngState state() const;
  void set_state(const RngState& state);  // validates like RngState::from_bytes

  Rng fork(std::uint64_t stream) const;

 private:
  Rng() = default;
  std::uint64_t s_[4] = {0, 0, 0, 0};
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

}  // namespace lowbit::core
