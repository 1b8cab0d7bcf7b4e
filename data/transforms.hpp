#pragma once
// Per-example transforms on a (C, H, W) f32 buffer, applied by the DataLoader after
// Dataset::get(). Each random transform draws from the Rng it is handed, in a fixed order, so an
// example's augmentation is a pure function of that Rng's state (the loader derives it from
// (seed, epoch, position in epoch); see data/loader.hpp).
//
// Typical training pipeline (torchvision's order: crop and flip on [0, 1] pixels, then
// normalize, so crop padding is black):
//   Compose({RandomCrop(0, 4), RandomHorizontalFlip(), Normalize(stats.mean, stats.std)})

#include "core/rng.hpp"
#include "data/dataset.hpp"

#include <memory>
#include <string>
#include <vector>

namespace lowbit::data {

class Transform {
 public:
  virtual ~Transform() = default;
  // Shape of the output for an input of shape `in`; throws an Error when `in` is not accepted
  // (wrong channel count, crop larger than the padded image).
  virtual ItemShape output_shape(const ItemShape& in) const { return in; }
  // Transforms `data` in place. On entry it holds an input of shape `in`; on return the output
  // of shape output_shape(in). `data` has room for max(in, output_shape(in)) elements.
  virtual void apply(float* data, const ItemShape& in, core::Rng& rng) const = 0;
  // Whether apply() draws from `rng` (the loader skips deriving generators otherwise).
  virtual bool is_random() const { return false; }
  virtual std::string describe() const = 0;
  // The buffer apply() needs for input `in`: the largest element count any stage holds.
  virtual std::int64_t max_numel(const ItemShape& in) const;
};

using TransformPtr = std::shared_ptr<const Transform>;

// out[c] = (x[c] - mean[c]) / std[c]. One value (all channels) or one per channel.
class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  ItemShape output_shape(const ItemShape& in) const override;
  void apply(float* data, const ItemShape& in, core::Rng& rng) const override;
  std::string describe() const override;

 private:
  std::vector<float> mean_, inv_std_;
};

// Zero-pads each side by `padding`, then takes a `height` x `width` window at a uniformly random
// offset: top = rng.below(H + 2p - height + 1), then left = rng.below(W + 2p - width + 1);
//   out(c, y, x) = in(c, y + top - p, x + left - p), or 0 outside the input.
// A size of 0 keeps the input's size (the usual "pad 4, crop 32" on 32x32 images).
class RandomCrop : public Transform {
 public:
  RandomCrop(std::int64_t size, std::int64_t padding);
  RandomCrop(std::int64_t height, std::int64_t width, std::int64_t padding);
  ItemShape output_shape(const ItemShape& in) const override;
  void apply(float* data, const ItemShape& in, core::Rng& rng) const override;
  bool is_random() const override { return true; }
  std::string describe() const override;

 private:
  std::int64_t height_, width_, padding_;
};

// With probability p (one rng.bernoulli(p) draw per example) reverses the columns of every row:
// out(c, y, x) = in(c, y, W - 1 - x).
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  void apply(float* data, const ItemShape& in, core::Rng& rng) const override;
  bool is_random() const override { return true; }
  std::string describe() const override;

 private:
  float p_;
};

// Applies its transforms in order, handing each the same Rng.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms);
  ItemShape output_shape(const ItemShape& in) const override;
  void apply(float* data, const ItemShape& in, core::Rng& rng) const override;
  bool is_random() const override;
  std::string describe() const override;
  std::int64_t max_numel(const ItemShape& in) const override;

 private:
  std::vector<TransformPtr> transforms_;
};

}  // namespace lowbit::data
