#include "data/image_folder.hpp"

#include "core/error.hpp"
#include "data/resize.hpp"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <system_error>

namespace lowbit::data {

namespace fs = std::filesystem;

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".ppm" ||
         ext == ".pgm";
}

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};
using StbPixels = std::unique_ptr<unsigned char, StbFree>;

}  // namespace

ImageFolder::ImageFolder(const std::string& folder, ImageFolderOptions options)
    : folder_(folder), options_(options) {
  core::check(options_.channels == 1 || options_.channels == 3,
              "image_folder: channels must be 1 or 3, got {}", options_.channels);
  core::check(options_.resize >= 0 && options_.crop >= 0,
              "image_folder: resize ({}) and crop ({}) must be >= 0", options_.resize,
              options_.crop);
  std::error_code ec;
  core::check(fs::is_directory(folder_, ec),
              "image folder not found: {} is not a directory. HINT: set data.root to a folder "
              "with one subfolder of images per class (root/<split>/<class>/<image>)",
              folder_);
  for (const auto& entry : fs::directory_iterator(folder_)) {
    if (entry.is_directory()) classes_.push_back(entry.path().filename().string());
  }
  std::sort(classes_.begin(), classes_.end());
  core::check(!classes_.empty(),
              "image folder {} has no class subfolders. HINT: put each class's images in its own "
              "subfolder (root/<class>/<image>)",
              folder_);
  for (std::size_t k = 0; k < classes_.size(); ++k) {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(folder_) / classes_[k])) {
      if (entry.is_regular_file() && is_image_file(entry.path())) {
        found.push_back(entry.path().string());
      }
    }
    core::check(!found.empty(),
                "image folder {}: class '{}' holds no images (.png, .jpg, .jpeg, .bmp, .ppm, .pgm)",
                folder_, classes_[k]);
    std::sort(found.begin(), found.end());
    for (std::string& f : found) {
      files_.push_back(std::move(f));
      labels_.push_back(static_cast<std::int64_t>(k));
    }
  }
  // The item shape follows from the options, or from the first image when there is no crop.
  if (options_.crop > 0) {
    shape_ = ItemShape{options_.channels, options_.crop, options_.crop};
  } else {
    int w = 0, h = 0, comp = 0;
    core::check(stbi_info(files_[0].c_str(), &w, &h, &comp) != 0, "cannot decode {}: {}", files_[0],
                stbi_failure_reason());
    const ResizeCrop g = resize_crop_geometry(h, w, options_.resize, 0, files_[0]);
    shape_ = ItemShape{options_.channels, g.out_h, g.out_w};
  }
}

const std::string& ImageFolder::path(std::int64_t index) const {
  check_index(index);
  return files_[static_cast<std::size_t>(index)];
}

std::int64_t ImageFolder::label(std::int64_t index) const {
  check_index(index);
  return labels_[static_cast<std::size_t>(index)];
}

void ImageFolder::get(std::int64_t index, float* image_out, std::int64_t& label) const {
  const std::string& file = path(index);
  int w = 0, h = 0, comp = 0;
  StbPixels pixels(stbi_load(file.c_str(), &w, &h, &comp, static_cast<int>(options_.channels)));
  core::check(pixels != nullptr, "cannot decode {}: {}", file, stbi_failure_reason());
  const ResizeCrop g = resize_crop_geometry(h, w, options_.resize, options_.crop, file);
  core::check(g.out_h == shape_.h && g.out_w == shape_.w,
              "{}: image is {}x{} after resizing, but the dataset's images are {}x{}. HINT: set "
              "crop so that every image ends up the same size",
              file, g.out_w, g.out_h, shape_.w, shape_.h);
  resize_crop_bilinear(pixels.get(), h, w, options_.channels, g, image_out);
  label = labels_[static_cast<std::size_t>(index)];
}

}  // namespace lowbit::data
