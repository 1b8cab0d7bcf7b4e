#include "data/transforms.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace lowbit::data {

std::int64_t Transform::max_numel(const ItemShape& in) const {
  return std::max(in.numel(), output_shape(in).numel());
}

// ---- Normalize ----

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)) {
  core::check(!mean_.empty() && mean_.size() == std.size(),
              "Normalize: mean and std need the same number (>= 1) of values, got {} and {}",
              mean_.size(), std.size());
  for (float s : std) {
    core::check(s > 0.0f, "Normalize: std values must be > 0, got {}", s);
    inv_std_.push_back(1.0f / s);
  }
}

ItemShape Normalize::output_shape(const ItemShape& in) const {
  core::check(mean_.size() == 1 || static_cast<std::int64_t>(mean_.size()) == in.c,
              "Normalize: {} mean/std values for images with {} channels. HINT: give one value "
              "per channel (or a single value)",
              mean_.size(), in.c);
  return in;
}

void Normalize::apply(float* data, const ItemShape& in, core::Rng& /*rng*/) const {
  const std::int64_t plane = in.h * in.w;
  for (std::int64_t c = 0; c < in.c; ++c) {
    const std::size_t k = mean_.size() == 1 ? 0 : static_cast<std::size_t>(c);
    const float m = mean_[k], inv = inv_std_[k];
    float* p = data + c * plane;
    for (std::int64_t i = 0; i < plane; ++i) p[i] = (p[i] - m) * inv;
  }
}

std::string Normalize::describe() const {
  std::vector<float> std;
  for (float v : inv_std_) std.push_back(1.0f / v);
  return fmt::format("Normalize(mean=[{}], std=[{}])", fmt::join(mean_, ", "),
                     fmt::join(std, ", "));
}

// ---- RandomCrop ----

RandomCrop::RandomCrop(std::int64_t size, std::int64_t padding) : RandomCrop(size, size, padding) {}

RandomCrop::RandomCrop(std::int64_t height, std::int64_t width, std::int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  core::check(height_ >= 0 && width_ >= 0 && padding_ >= 0,
              "RandomCrop: size ({}x{}) and padding ({}) must be >= 0", height_, width_, padding_);
}

ItemShape RandomCrop::output_shape(const ItemShape& in) const {
  const ItemShape out{in.c, height_ > 0 ? height_ : in.h, width_ > 0 ? width_ : in.w};
  core::check(out.h <= in.h + 2 * padding_ && out.w <= in.w + 2 * padding_,
              "RandomCrop: a {}x{} crop does not fit a {}x{} image padded by {}", out.h, out.w,
              in.h, in.w, padding_);
  return out;
}

void RandomCrop::apply(float* data, const ItemShape& in, core::Rng& rng) const {
  const ItemShape out = output_shape(in);
  const std::int64_t top = static_cast<std::int64_t>(
      rng.below(static_cast<std::uint64_t>(in.h + 2 * padding_ - out.h + 1)));
  const std::int64_t left = static_cast<std::int64_t>(
      rng.below(static_cast<std::uint64_t>(in.w + 2 * padding_ - out.w + 1)));
  // Offsets of the window relative to the unpadded input.
  const std::int64_t dy = top - padding_, dx = left - padding_;
  // Output columns [x0, x1) read input columns [x0 + dx, x1 + dx), all inside the input.
  const std::int64_t x0 = std::clamp<std::int64_t>(-dx, 0, out.w);
  const std::int64_t x1 = std::clamp<std::int64_t>(in.w - dx, x0, out.w);

  thread_local std::vector<float> source;
  source.assign(data, data + in.numel());
  for (std::int64_t c = 0; c < out.c; ++c) {
    for (std::int64_t y = 0; y < out.h; ++y) {
      float* row = data + (c * out.h + y) * out.w;
      const std::int64_t sy = y + dy;
      if (sy < 0 || sy >= in.h) {
        std::fill(row, row + out.w, 0.0f);
        continue;
      }
      const float* src = source.data() + (c * in.h + sy) * in.w;
      std::fill(row, row + x0, 0.0f);
      std::copy(src + x0 + dx, src + x1 + dx, row + x0);
      std::fill(row + x1, row + out.w, 0.0f);
    }
  }
}

std::string RandomCrop::describe() const {
  return fmt::format("RandomCrop(size={}x{}, padding={})", height_, width_, padding_);
}

// ---- RandomHorizontalFlip ----

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  core::check(p_ >= 0.0f && p_ <= 1.0f, "RandomHorizontalFlip: p must be in [0, 1], got {}", p_);
}

void RandomHorizontalFlip::apply(float* data, const ItemShape& in, core::Rng& rng) const {
  if (!rng.bernoulli(p_)) return;
  for (std::int64_t r = 0; r < in.c * in.h; ++r)
    std::reverse(data + r * in.w, data + (r + 1) * in.w);
}

std::string RandomHorizontalFlip::describe() const {
  return fmt::format("RandomHorizontalFlip(p={})", p_);
}

// ---- Compose ----

Compose::Compose(std::vector<TransformPtr> transforms) : transforms_(std::move(transforms)) {
  for (const TransformPtr& t : transforms_) {
    core::check(t != nullptr, "Compose: null transform");
  }
}

ItemShape Compose::output_shape(const ItemShape& in) const {
  ItemShape s = in;
  for (const TransformPtr& t : transforms_) s = t->output_shape(s);
  return s;
}

std::int64_t Compose::max_numel(const ItemShape& in) const {
  ItemShape s = in;
  std::int64_t most = s.numel();
  for (const TransformPtr& t : transforms_) {
    most = std::max(most, t->max_numel(s));
    s = t->output_shape(s);
  }
  return most;
}

void Compose::apply(float* data, const ItemShape& in, core::Rng& rng) const {
  ItemShape s = in;
  for (const TransformPtr& t : transforms_) {
    t->apply(data, s, rng);
    s = t->output_shape(s);
  }
}

bool Compose::is_random() const {
  return std::any_of(transforms_.begin(), transforms_.end(),
                     [](const TransformPtr& t) { return t->is_random(); });
}

std::string Compose::describe() const {
  std::vector<std::string> parts;
  for (const TransformPtr& t : transforms_) parts.push_back(t->describe());
  return fmt::format("Compose([{}])", fmt::join(parts, ", "));
}

}  // namespace lowbit::data
