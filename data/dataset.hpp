#pragma once
// Dataset: an indexable, read-only collection of labelled images, the input side of training.
//
// Contracts shared by every dataset
// - Examples are images of one fixed shape item_shape() = (C, H, W), written as f32 in [0, 1]
//   (u8 sources give value / 255 exactly) in planar C-major order: out[(c * H + y) * W + x].
// - get() is const and thread-safe: any number of loader workers may call it concurrently.
// - Labels are integers in [0, num_classes()).

#include "core/shape.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

// Shape of one example: channels, height, width.
struct ItemShape {
  std::int64_t c = 0;
  std::int64_t h = 0;
  std::int64_t w = 0;

  std::int64_t numel() const { return c * h * w; }
  core::Shape shape() const { return core::Shape{c, h, w}; }
  std::string str() const;  // "(1, 28, 28)"
  bool operator==(const ItemShape&) const = default;
};

// Per-channel statistics of a dataset's [0, 1] pixel values, for Normalize.
struct ChannelStats {
  std::vector<float> mean;  // (C)
  std::vector<float> std;   // (C), > 0
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::int64_t size() const = 0;
  virtual std::int64_t num_classes() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;  // num_classes() entries
  virtual ItemShape item_shape() const = 0;
  // Writes example `index` (0 <= index < size()) to image_out: (C, H, W) f32 in [0, 1], and its
  // label to `label`. Thread-safe.
  virtual void get(std::int64_t index, float* image_out, std::int64_t& label) const = 0;
  // Label of example `index` only. The default decodes the whole example; in-memory datasets
  // override it with a lookup.
  virtual std::int64_t label(std::int64_t index) const;
  // Short description for logs, e.g. "fashion_mnist/train".
  virtual std::string name() const = 0;
  // The channel statistics to normalize with. The default computes them over the first (up to)
  // 10000 examples; datasets with published statistics return those.
  virtual ChannelStats channel_stats() const;

 protected:
  // Throws an Error naming this dataset when index is out of range.
  void check_index(std::int64_t index) const;
};

// Mean and (population) standard deviation of each channel over examples [0, min(limit, size)).
ChannelStats compute_channel_stats(const Dataset& dataset, std::int64_t limit = 10000);

// Number of examples per label, (num_classes) entries.
std::vector<std::int64_t> label_histogram(const Dataset& dataset);

// A dataset held in memory as u8 pixels (C, H, W per example, examples back to back) and u8
// labels. IDX and CIFAR-10 load into this.
class U8ImageDataset : public Dataset {
 public:
  U8ImageDataset(std::string name, ItemShape shape, std::vector<std::string> class_names,
                 std::vector<std::uint8_t> pixels, std::vector<std::uint8_t> labels);

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  std::int64_t num_classes() const override {
    return static_cast<std::int64_t>(class_names_.size());
  }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  ItemShape item_shape() const override { return shape_; }
  void get(std::int64_t index, float* image_out, std::int64_t& label) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string name() const override { return name_; }
  ChannelStats channel_stats() const override;

  // Published statistics to return from channel_stats() instead of computing them.
  void set_channel_stats(ChannelStats stats);
  // Raw pixels of example `index`: item_shape().numel() bytes.
  const std::uint8_t* pixels(std::int64_t index) const;

 private:
  std::string name_;
  ItemShape shape_;
  std::vector<std::string> class_names_;
  std::vector<std::uint8_t> pixels_;  // (N, C, H, W)
  std::vector<std::uint8_t> labels_;  // (N)
  ChannelStats stats_;                // empty: computed on request
};

// Converts n u8 pixels to f32 value / 255 (exactly the float nearest to the quotient).
void u8_to_unit_float(const std::uint8_t* in, float* out, std::int64_t n);

}  // namespace lowbit::data
