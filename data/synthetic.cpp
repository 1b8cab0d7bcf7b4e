#include "data/synthetic.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace lowbit::data {

namespace {

std::uint64_t split_stream(const std::string& split) {
  core::check(split == "train" || split == "test",
              "synthetic: unknown split '{}'. HINT: use 'train' or 'test'", split);
  return split == "train" ? 2 : 3;
}

}  // namespace

SyntheticDataset::SyntheticDataset(SyntheticOptions options)
    : options_(std::move(options)),
      examples_rng_(core::Rng(options_.seed).fork(split_stream(options_.split))) {
  const ItemShape& s = options_.shape;
  core::check(options_.size >= 0, "synthetic: size must be >= 0, got {}", options_.size);
  core::check(options_.num_classes >= 1, "synthetic: num_classes must be >= 1, got {}",
              options_.num_classes);
  core::check(s.c > 0 && s.h > 0 && s.w > 0, "synthetic: invalid item shape {}", s.str());
  core::check(options_.noise >= 0.0f, "synthetic: noise must be >= 0, got {}", options_.noise);
  for (std::int64_t k = 0; k < options_.num_classes; ++k) {
    class_names_.push_back(fmt::format("class{}", k));
  }
  prototypes_.resize(static_cast<std::size_t>(options_.num_classes * s.numel()));
  core::Rng proto_rng = core::Rng(options_.seed).fork(1);
  proto_rng.fill_uniform(prototypes_.data(), static_cast<std::int64_t>(prototypes_.size()), 0.2f,
                         0.8f);
}

std::string SyntheticDataset::name() const { return fmt::format("synthetic/{}", options_.split); }

std::int64_t SyntheticDataset::label(std::int64_t index) const {
  check_index(index);
  return index % options_.num_classes;
}

void SyntheticDataset::get(std::int64_t index, float* image_out, std::int64_t& label) const {
  label = this->label(index);
  const std::int64_t n = options_.shape.numel();
  core::Rng rng = examples_rng_.fork(static_cast<std::uint64_t>(index));
  rng.fill_normal(image_out, n, 0.0f, options_.noise);
  const float* proto = prototypes_.data() + label * n;
  for (std::int64_t i = 0; i < n; ++i) {
    image_out[i] = std::clamp(proto[i] + image_out[i], 0.0f, 1.0f);
  }
}

}  // namespace lowbit::data
