#pragma once
// IDX datasets: MNIST and Fashion-MNIST (LeCun et al.; Xiao et al. 2017), read from the original
// `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` files. gzip files are read directly with
// zlib; uncompressed files work too.
//
// IDX format (all integers big-endian):
//   images: u32 magic 2051 (0x00000803: u8 data, 3 dims) | u32 count | u32 rows | u32 cols |
//           count * rows * cols pixel bytes, row-major
//   labels: u32 magic 2049 (0x00000801: u8 data, 1 dim)  | u32 count | count label bytes
// Every check (magic, dims, exact payload length, matching counts, label range) throws a
// core::Error naming the file.

#include "data/dataset.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lowbit::data {

// Parsed contents of one IDX file.
struct IdxImages {
  std::int64_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // (count, rows, cols)
};
struct IdxLabels {
  std::vector<std::uint8_t> labels;  // (count)
};

// Parse the bytes of an IDX file; `path` names the file in errors.
IdxImages parse_idx_images(std::vector<std::uint8_t> bytes, const std::string& path);
IdxLabels parse_idx_labels(std::vector<std::uint8_t> bytes, const std::string& path);

// Which IDX family: decides file names' hint text, class names and published statistics.
enum class IdxFamily { mnist, fashion_mnist };

class IdxDataset : public U8ImageDataset {
 public:
  static constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";
  static constexpr const char* kMnistRoot = "data/mnist";

  // Loads split "train" (60000 examples) or "test" (10000) from `root`, which holds
  // {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same names without .gz). An empty
  // root means the family's default (kFashionMnistRoot / kMnistRoot).
  IdxDataset(IdxFamily family, const std::string& root, const std::string& split);

  // Loads an explicit pair of files; labels must be < class_names.size().
  IdxDataset(const std::string& images_path, const std::string& labels_path,
             std::vector<std::string> class_names, std::string name);

  static std::vector<std::string> fashion_mnist_classes();
  static std::vector<std::string> mnist_classes();  // "0" .. "9"

 private:
  struct Loaded;  // both files parsed and cross-checked
  static Loaded load(const std::string& images_path, const std::string& labels_path,
                     std::size_t num_classes);
  IdxDataset(Loaded loaded, const std::vector<std::string>& class_names, std::string name);
};

// The image and label paths of `split` under `root` ("train" -> train-*, "test" -> t10k-*),
// preferring the .gz file and falling back to the uncompressed name. A missing file throws an
// Error with the family's HINT.
std::pair<std::string, std::string> idx_split_paths(IdxFamily family, const std::string& root,
                                                    const std::string& split);

}  // namespace lowbit::data
