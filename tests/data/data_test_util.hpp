#pragma once
// Helpers for the data tests: a self-deleting temporary folder and writers for tiny dataset files.

#include "data/dataset.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::test {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `bytes` to `path`, gzip-compressed when `gzip` (zlib's gzwrite), creating parent folders.
void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gzip);

// IDX file bytes: big-endian magic, dims, then the payload.
std::vector<std::uint8_t> idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& payload);

// A dataset whose example i is the constant image (value_of(i)) with label i % classes, so a
// batch reveals which examples it holds. value_of(i) = (i + 1) / 4096 (exact in f32 for i < 2^20).
// get() throws for index == fail_index (when >= 0) and sleeps `delay_us` microseconds per call.
class IndexDataset : public data::Dataset {
 public:
  IndexDataset(std::int64_t n, std::int64_t classes, data::ItemShape shape,
               std::int64_t fail_index = -1, std::int64_t delay_us = 0);
  std::int64_t size() const override { return n_; }
  std::int64_t num_classes() const override { return classes_; }
  const std::vector<std::string>& class_names() const override { return names_; }
  data::ItemShape item_shape() const override { return shape_; }
  void get(std::int64_t index, float* image_out, std::int64_t& label) const override;
  std::string name() const override { return "index_dataset"; }

  static float value_of(std::int64_t index) { return static_cast<float>(index + 1) / 4096.0f; }
  static std::int64_t index_of(float value) {
    return static_cast<std::int64_t>(value * 4096.0f + 0.5f) - 1;
  }

 private:
  std::int64_t n_, classes_;
  data::ItemShape shape_;
  std::int64_t fail_index_, delay_us_;
  std::vector<std::string> names_;
};

}  // namespace lowbit::test
