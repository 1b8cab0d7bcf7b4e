#include "data/idx.hpp"

#include "core/error.hpp"
#include "data/file_bytes.hpp"

#include <fmt/format.h>

#include <utility>

namespace lowbit::data {

namespace {

constexpr std::uint32_t kImagesMagic = 2051;  // 0x00000803
constexpr std::uint32_t kLabelsMagic = 2049;  // 0x00000801

std::uint32_t read_be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

// Checks the header is complete and the magic is `expected`; returns the header length.
std::size_t check_header(const std::vector<std::uint8_t>& bytes, std::uint32_t expected,
                         std::size_t dims, const std::string& path, const char* what) {
  const std::size_t header = 4 + 4 * dims;
  if (bytes.size() >= 4) {
    const std::uint32_t magic = read_be32(bytes, 0);
    core::check(magic == expected,
                "{}: not an IDX {} file: magic number {} (0x{:08x}), expected {} (0x{:08x}). "
                "HINT: images and labels files may be swapped, or the file is not IDX",
                path, what, magic, magic, expected, expected);
  }
  core::check(bytes.size() >= header,
              "{}: truncated IDX {} file: {} bytes, the header alone needs {}", path, what,
              bytes.size(), header);
  return header;
}

void check_payload(std::size_t have, std::uint64_t need, const std::string& path,
                   const char* what) {
  core::check(have >= need, "{}: truncated IDX {} file: {} data bytes, header promises {}", path,
              what, have, need);
  core::check(have == need, "{}: IDX {} file has {} bytes after the data the header describes",
              path, what, have - need);
}

const char* family_title(IdxFamily family) {
  return family == IdxFamily::fashion_mnist ? "Fashion-MNIST" : "MNIST";
}

}  // namespace

IdxImages parse_idx_images(std::vector<std::uint8_t> bytes, const std::string& path) {
  const std::size_t header = check_header(bytes, kImagesMagic, 3, path, "images");
  IdxImages out;
  out.count = read_be32(bytes, 4);
  out.rows = read_be32(bytes, 8);
  out.cols = read_be32(bytes, 12);
  core::check(out.rows > 0 && out.cols > 0 && out.rows <= 65536 && out.cols <= 65536,
              "{}: IDX images file has implausible image size {}x{}", path, out.rows, out.cols);
  const auto need = static_cast<std::uint64_t>(out.count) * static_cast<std::uint64_t>(out.rows) *
                    static_cast<std::uint64_t>(out.cols);
  check_payload(bytes.size() - header, need, path, "images");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  out.pixels = std::move(bytes);
  return out;
}

IdxLabels parse_idx_labels(std::vector<std::uint8_t> bytes, const std::string& path) {
  const std::size_t header = check_header(bytes, kLabelsMagic, 1, path, "labels");
  const std::uint64_t count = read_be32(bytes, 4);
  check_payload(bytes.size() - header, count, path, "labels");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  return IdxLabels{std::move(bytes)};
}

std::pair<std::string, std::string> idx_split_paths(IdxFamily family, const std::string& root_in,
                                                    const std::string& split) {
  const std::string root = !root_in.empty()                     ? root_in
                           : family == IdxFamily::fashion_mnist ? IdxDataset::kFashionMnistRoot
                                                                : IdxDataset::kMnistRoot;
  core::check(split == "train" || split == "test",
              "{}: unknown split '{}'. HINT: use 'train' or 'test'", family_title(family), split);
  const std::string prefix = split == "train" ? "train" : "t10k";
  auto locate = [&](const std::string& stem) {
    const std::string gz = join_path(root, stem + ".gz");
    if (is_regular_file(gz)) return gz;
    const std::string raw = join_path(root, stem);
    if (is_regular_file(raw)) return raw;
    if (family == IdxFamily::fashion_mnist) {
      core::fail(
          "Fashion-MNIST not found: {} does not exist. HINT: install Debian's "
          "dataset-fashion-mnist (scripts/setup.sh does), or set data.root to a folder "
          "holding the four IDX .gz files",
          gz);
    }
    core::fail(
        "MNIST not found: {} does not exist. HINT: set data.root to a folder holding the "
        "four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)",
        gz);
  };
  return {locate(prefix + "-images-idx3-ubyte"), locate(prefix + "-labels-idx1-ubyte")};
}

struct IdxDataset::Loaded {
  ItemShape shape;
  std::vector<std::uint8_t> pixels, labels;
};

// Reads both files and checks they agree with each other and with the number of classes.
IdxDataset::Loaded IdxDataset::load(const std::string& images_path, const std::string& labels_path,
                                    std::size_t num_classes) {
  IdxImages images = parse_idx_images(read_file_maybe_gz(images_path), images_path);
  IdxLabels labels = parse_idx_labels(read_file_maybe_gz(labels_path), labels_path);
  core::check(static_cast<std::int64_t>(labels.labels.size()) == images.count,
              "IDX files disagree: {} holds {} images but {} holds {} labels", images_path,
              images.count, labels_path, labels.labels.size());
  for (std::size_t i = 0; i < labels.labels.size(); ++i) {
    core::check(labels.labels[i] < num_classes, "{}: label {} of example {} is not in [0, {})",
                labels_path, labels.labels[i], i, num_classes);
  }
  return {ItemShape{1, images.rows, images.cols}, std::move(images.pixels),
          std::move(labels.labels)};
}

IdxDataset::IdxDataset(Loaded loaded, const std::vector<std::string>& class_names, std::string name)
    : U8ImageDataset(std::move(name), loaded.shape, class_names, std::move(loaded.pixels),
                     std::move(loaded.labels)) {}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path,
                       std::vector<std::string> class_names, std::string name)
    : IdxDataset(load(images_path, labels_path, class_names.size()), class_names, std::move(name)) {
}

IdxDataset::IdxDataset(IdxFamily family, const std::string& root, const std::string& split)
    : IdxDataset(
          idx_split_paths(family, root, split).first, idx_split_paths(family, root, split).second,
          family == IdxFamily::fashion_mnist ? fashion_mnist_classes() : mnist_classes(),
          fmt::format("{}/{}", family == IdxFamily::fashion_mnist ? "fashion_mnist" : "mnist",
                      split)) {
  // Published statistics of the training images (Xiao et al. 2017; LeCun et al. 1998).
  if (family == IdxFamily::fashion_mnist) {
    set_channel_stats({{0.2860f}, {0.3530f}});
  } else {
    set_channel_stats({{0.1307f}, {0.3081f}});
  }
}

std::vector<std::string> IdxDataset::fashion_mnist_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

std::vector<std::string> IdxDataset::mnist_classes() {
  return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
}

}  // namespace lowbit::data
