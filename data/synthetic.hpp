#pragma once
// SyntheticDataset: a small, learnable, fully deterministic dataset for tests and smoke runs.
//
// Class k has a prototype image P_k with pixels drawn uniform in [0.2, 0.8] from
// Rng(seed).fork(1). Example i has label i % num_classes and pixels
//   clamp(P_label + noise * z, 0, 1),  z ~ N(0, 1) from Rng(seed).fork(split_stream).fork(i),
// where split_stream is 2 for "train" and 3 for "test": both splits share the prototypes, so a
// model trained on one generalises to the other. Nothing but the prototypes is stored; get()
// regenerates example i on demand (thread-safe, identical every call).

#include "core/rng.hpp"
#include "data/dataset.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

struct SyntheticOptions {
  std::int64_t size = 512;
  std::int64_t num_classes = 4;
  ItemShape shape{1, 8, 8};
  float noise = 0.25f;  // std of the per-pixel Gaussian noise
  std::uint64_t seed = 0;
  std::string split = "train";  // "train" or "test"
};

class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(SyntheticOptions options = {});

  std::int64_t size() const override { return options_.size; }
  std::int64_t num_classes() const override { return options_.num_classes; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  ItemShape item_shape() const override { return options_.shape; }
  void get(std::int64_t index, float* image_out, std::int64_t& label) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string name() const override;

 private:
  SyntheticOptions options_;
  std::vector<std::string> class_names_;  // "class0", "class1", ...
  std::vector<float> prototypes_;         // (num_classes, C, H, W)
  core::Rng examples_rng_;                // parent of the per-example generators
};

}  // namespace lowbit::data
