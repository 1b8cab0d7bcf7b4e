#pragma once
// ImageFolder: a folder with one subfolder per class (classes sorted by name, label = position),
// each holding images (.png, .jpg, .jpeg, .bmp, .ppm, .pgm; case-insensitive; searched
// recursively, sorted by path), as torchvision's ImageFolder.
//
//   root/cat/001.png  -> label 0 ("cat")
//   root/dog/a/7.jpg  -> label 1 ("dog")
//
// Decoding: on every get(), with stb_image; nothing is cached, so memory stays at the file list
// and get() is thread-safe (stb keeps its error text thread-local; we set no global stb flags).
// Each image is converted to `channels` (1 = luma, 3 = RGB; stb's conversion), resized so its
// short side is `resize` (bilinear, see data/resize.hpp; 0 = keep) and center-cropped to
// `crop` x `crop` (0 = no crop; then every image must end up the size of the first one).

#include "data/dataset.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

struct ImageFolderOptions {
  std::int64_t channels = 3;  // 1 or 3
  std::int64_t resize = 0;    // short side after resizing; 0 = keep
  std::int64_t crop = 0;      // square center crop; 0 = none
};

class ImageFolder : public Dataset {
 public:
  ImageFolder(const std::string& folder, ImageFolderOptions options = {});

  std::int64_t size() const override { return static_cast<std::int64_t>(files_.size()); }
  std::int64_t num_classes() const override { return static_cast<std::int64_t>(classes_.size()); }
  const std::vector<std::string>& class_names() const override { return classes_; }
  ItemShape item_shape() const override { return shape_; }
  void get(std::int64_t index, float* image_out, std::int64_t& label) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string name() const override { return "image_folder:" + folder_; }

  const std::string& path(std::int64_t index) const;

 private:
  std::string folder_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;    // (N) full paths
  std::vector<std::int64_t> labels_;  // (N)
  ItemShape shape_;
};

}  // namespace lowbit::data
