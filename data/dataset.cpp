#include "data/dataset.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace lowbit::data {

namespace {

// table[v] = float(v) / 255.0f, the correctly rounded quotient.
constexpr std::array<float, 256> make_unit_table() {
  std::array<float, 256> table{};
  for (int v = 0; v < 256; ++v) table[static_cast<std::size_t>(v)] = static_cast<float>(v) / 255.0f;
  return table;
}
constexpr std::array<float, 256> kUnitTable = make_unit_table();

}  // namespace

std::string ItemShape::str() const { return fmt::format("({}, {}, {})", c, h, w); }

void u8_to_unit_float(const std::uint8_t* in, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = kUnitTable[in[i]];
}

// ---- Dataset ----

void Dataset::check_index(std::int64_t index) const {
  core::check(index >= 0 && index < size(), "{}: example index {} out of range [0, {})", name(),
              index, size());
}

std::int64_t Dataset::label(std::int64_t index) const {
  check_index(index);
  std::vector<float> scratch(static_cast<std::size_t>(item_shape().numel()));
  std::int64_t label = 0;
  get(index, scratch.data(), label);
  return label;
}

ChannelStats Dataset::channel_stats() const { return compute_channel_stats(*this); }

ChannelStats compute_channel_stats(const Dataset& dataset, std::int64_t limit) {
  const ItemShape shape = dataset.item_shape();
  const std::int64_t n = std::min(limit, dataset.size());
  core::check(n > 0, "compute_channel_stats: {} has no examples", dataset.name());
  const std::int64_t plane = shape.h * shape.w;
  std::vector<double> sum(static_cast<std::size_t>(shape.c), 0.0);
  std::vector<double> sum_sq(static_cast<std::size_t>(shape.c), 0.0);
  std::vector<float> image(static_cast<std::size_t>(shape.numel()));
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t label = 0;
    dataset.get(i, image.data(), label);
    for (std::int64_t c = 0; c < shape.c; ++c) {
      const float* p = image.data() + c * plane;
      double s = 0.0, s2 = 0.0;
      for (std::int64_t k = 0; k < plane; ++k) {
        s += p[k];
        s2 += static_cast<double>(p[k]) * p[k];
      }
      sum[static_cast<std::size_t>(c)] += s;
      sum_sq[static_cast<std::size_t>(c)] += s2;
    }
  }
  ChannelStats stats;
  const double count = static_cast<double>(n) * static_cast<double>(plane);
  for (std::int64_t c = 0; c < shape.c; ++c) {
    const double mean = sum[static_cast<std::size_t>(c)] / count;
    const double var = std::max(0.0, sum_sq[static_cast<std::size_t>(c)] / count - mean * mean);
    stats.mean.push_back(static_cast<float>(mean));
    // A constant channel would divide by zero in Normalize; fall back to std 1.
    stats.std.push_back(var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f);
  }
  return stats;
}

std::vector<std::int64_t> label_histogram(const Dataset& dataset) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(dataset.num_classes()), 0);
  for (std::int64_t i = 0; i < dataset.size(); ++i) {
    const std::int64_t label = dataset.label(i);
    core::check(label >= 0 && label < dataset.num_classes(),
                "{}: example {} has label {} outside [0, {})", dataset.name(), i, label,
                dataset.num_classes());
    ++counts[static_cast<std::size_t>(label)];
  }
  return counts;
}

// ---- U8ImageDataset ----

U8ImageDataset::U8ImageDataset(std::string name, ItemShape shape,
                               std::vector<std::string> class_names,
                               std::vector<std::uint8_t> pixels, std::vector<std::uint8_t> labels)
    : name_(std::move(name)),
      shape_(shape),
      class_names_(std::move(class_names)),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)) {
  core::check(shape_.c > 0 && shape_.h > 0 && shape_.w > 0, "{}: invalid item shape {}", name_,
              shape_.str());
  core::check(!class_names_.empty(), "{}: no class names", name_);
  core::check(pixels_.size() == labels_.size() * static_cast<std::size_t>(shape_.numel()),
              "{}: {} pixel bytes do not hold {} examples of shape {}", name_, pixels_.size(),
              labels_.size(), shape_.str());
  for (std::size_t i = 0; i < labels_.size(); ++i) {
    core::check(labels_[i] < class_names_.size(), "{}: example {} has label {}, expected 0..{}",
                name_, i, labels_[i], class_names_.size() - 1);
  }
}

void U8ImageDataset::get(std::int64_t index, float* image_out, std::int64_t& label) const {
  check_index(index);
  u8_to_unit_float(pixels(index), image_out, shape_.numel());
  label = labels_[static_cast<std::size_t>(index)];
}

std::int64_t U8ImageDataset::label(std::int64_t index) const {
  check_index(index);
  return labels_[static_cast<std::size_t>(index)];
}

const std::uint8_t* U8ImageDataset::pixels(std::int64_t index) const {
  return pixels_.data() + index * shape_.numel();
}

void U8ImageDataset::set_channel_stats(ChannelStats stats) {
  core::check(static_cast<std::int64_t>(stats.mean.size()) == shape_.c &&
                  static_cast<std::int64_t>(stats.std.size()) == shape_.c,
              "{}: channel statistics need {} values each", name_, shape_.c);
  stats_ = std::move(stats);
}

ChannelStats U8ImageDataset::channel_stats() const {
  return stats_.mean.empty() ? compute_channel_stats(*this) : stats_;
}

}  // namespace lowbit::data
