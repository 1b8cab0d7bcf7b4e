// IDX (MNIST / Fashion-MNIST) parsing on tiny generated files and on the real Fashion-MNIST.

#include "core/error.hpp"
#include "data/file_bytes.hpp"
#include "data/idx.hpp"
#include "tests/data/data_test_util.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>

using Catch::Matchers::Contains;
using lowbit::core::Error;
using lowbit::data::IdxDataset;
using lowbit::data::IdxFamily;
using lowbit::data::ItemShape;
using lowbit::test::idx_bytes;
using lowbit::test::TempDir;
using lowbit::test::write_bytes;

namespace {

// 3 images of 2x3 with pixel (k, i) = 10 * k + i, labels 2, 0, 1.
std::vector<std::uint8_t> tiny_images() {
  std::vector<std::uint8_t> px;
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < 6; ++i) px.push_back(static_cast<std::uint8_t>(10 * k + i));
  }
  px[5] = 255;
  return idx_bytes(2051, {3, 2, 3}, px);
}
std::vector<std::uint8_t> tiny_labels() { return idx_bytes(2049, {3}, {2, 0, 1}); }

std::vector<std::string> three_classes() { return {"a", "b", "c"}; }

}  // namespace

TEST_CASE("idx: tiny gzip files parse into u8 images and labels", "[data][idx]") {
  TempDir dir;
  write_bytes(dir.file("img.gz"), tiny_images(), true);
  write_bytes(dir.file("lab.gz"), tiny_labels(), true);
  const IdxDataset ds(dir.file("img.gz"), dir.file("lab.gz"), three_classes(), "tiny");
  CHECK(ds.size() == 3);
  CHECK(ds.num_classes() == 3);
  CHECK(ds.item_shape() == ItemShape{1, 2, 3});
  std::vector<float> img(6);
  std::int64_t label = -1;
  ds.get(1, img.data(), label);
  CHECK(label == 0);
  for (int i = 0; i < 6; ++i)
    CHECK(img[static_cast<std::size_t>(i)] == static_cast<float>(10 + i) / 255.0f);
  ds.get(0, img.data(), label);
  CHECK(label == 2);
  CHECK(img[5] == 1.0f);
  CHECK(img[0] == 0.0f);
  CHECK(ds.label(2) == 1);
  CHECK_THROWS_WITH(ds.get(3, img.data(), label), Contains("out of range"));
}

TEST_CASE("idx: uncompressed files under a root with the standard names", "[data][idx]") {
  TempDir dir;
  write_bytes(dir.file("t10k-images-idx3-ubyte"), tiny_images(), false);
  write_bytes(dir.file("t10k-labels-idx1-ubyte"), tiny_labels(), false);
  const IdxDataset ds(IdxFamily::mnist, dir.path(), "test");
  CHECK(ds.size() == 3);
  CHECK(ds.name() == "mnist/test");
  CHECK(ds.class_names()[9] == "9");
  CHECK_THROWS_WITH(IdxDataset(IdxFamily::mnist, dir.path(), "val"),
                    Contains("unknown split 'val'"));
}

TEST_CASE("idx: a missing file names the path and how to get the data", "[data][idx]") {
  CHECK_THROWS_WITH(
      IdxDataset(IdxFamily::fashion_mnist, "/nonexistent/fm", "train"),
      Contains("Fashion-MNIST not found: /nonexistent/fm/train-images-idx3-ubyte.gz does not "
               "exist. HINT: install Debian's dataset-fashion-mnist (scripts/setup.sh does), or "
               "set data.root to a folder holding the four IDX .gz files"));
  TempDir dir;
  write_bytes(dir.file("train-images-idx3-ubyte.gz"), tiny_images(), true);
  CHECK_THROWS_WITH(IdxDataset(IdxFamily::fashion_mnist, dir.path(), "train"),
                    Contains("train-labels-idx1-ubyte.gz does not exist"));
}

TEST_CASE("idx: corrupt and truncated files give errors naming the file", "[data][idx]") {
  TempDir dir;
  const std::string img = dir.file("img.gz"), lab = dir.file("lab.gz");
  write_bytes(lab, tiny_labels(), true);

  SECTION("wrong magic (labels given as images)") {
    write_bytes(img, tiny_labels(), true);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains(img) && Contains("magic number 2049") && Contains("expected 2051"));
  }
  SECTION("payload shorter than the header promises") {
    std::vector<std::uint8_t> bytes = tiny_images();
    bytes.resize(bytes.size() - 4);
    write_bytes(img, bytes, true);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains(img) && Contains("truncated IDX images file"));
  }
  SECTION("header cut short") {
    write_bytes(img, {0, 0, 8, 3, 0, 0}, false);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains(img) && Contains("the header alone needs 16"));
  }
  SECTION("trailing bytes") {
    std::vector<std::uint8_t> bytes = tiny_images();
    bytes.push_back(7);
    write_bytes(img, bytes, true);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains("1 bytes after the data"));
  }
  SECTION("count mismatch between images and labels") {
    write_bytes(img, tiny_images(), true);
    write_bytes(lab, idx_bytes(2049, {2}, {0, 1}), true);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains("holds 3 images but") && Contains("holds 2 labels"));
  }
  SECTION("label out of range") {
    write_bytes(img, tiny_images(), true);
    write_bytes(lab, idx_bytes(2049, {3}, {0, 3, 1}), true);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains(lab) && Contains("label 3 of example 1"));
  }
  SECTION("truncated gzip stream") {
    // Large enough that the cut lands inside the deflate data.
    std::vector<std::uint8_t> px(3 * 64 * 64);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>((i * 7919) >> 3);
    write_bytes(img, idx_bytes(2051, {3, 64, 64}, px), true);
    const auto size = std::filesystem::file_size(img);
    std::filesystem::resize_file(img, size / 2);
    CHECK_THROWS_WITH(IdxDataset(img, lab, three_classes(), "t"),
                      Contains(img) && Contains("truncated or corrupt gzip"));
  }
}

// ---- the real Fashion-MNIST (Debian's dataset-fashion-mnist) ----

namespace {

bool fashion_mnist_installed() {
  return lowbit::data::is_regular_file(std::string(IdxDataset::kFashionMnistRoot) +
                                       "/train-images-idx3-ubyte.gz");
}

}  // namespace

TEST_CASE("idx: the real Fashion-MNIST", "[data][idx][fashion_mnist]") {
  if (!fashion_mnist_installed()) {
    WARN("Fashion-MNIST is not installed; skipping (scripts/setup.sh installs it)");
    return;
  }
  const IdxDataset train(IdxFamily::fashion_mnist, "", "train");
  const IdxDataset test(IdxFamily::fashion_mnist, "", "test");
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  CHECK(train.item_shape() == ItemShape{1, 28, 28});
  CHECK(train.class_names() == std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover",
                                                        "Dress", "Coat", "Sandal", "Shirt",
                                                        "Sneaker", "Bag", "Ankle boot"});
  CHECK(lowbit::data::label_histogram(train) == std::vector<std::int64_t>(10, 6000));
  CHECK(lowbit::data::label_histogram(test) == std::vector<std::int64_t>(10, 1000));
  const std::vector<std::int64_t> first_train{9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9};
  const std::vector<std::int64_t> first_test{9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5};
  for (std::int64_t i = 0; i < 12; ++i) {
    CHECK(train.label(i) == first_train[static_cast<std::size_t>(i)]);
    CHECK(test.label(i) == first_test[static_cast<std::size_t>(i)]);
  }
  // Row 14 of the first training image (checked against Python's gzip module).
  std::vector<float> img(28 * 28);
  std::int64_t label = -1;
  train.get(0, img.data(), label);
  CHECK(label == 9);
  CHECK(img[14 * 28 + 12] == 237.0f / 255.0f);
  CHECK(img[14 * 28 + 25] == 1.0f);
  // The published statistics match the data.
  const auto stats = lowbit::data::compute_channel_stats(train, 60000);
  CHECK(stats.mean[0] == Approx(0.2860).margin(5e-4));
  CHECK(stats.std[0] == Approx(0.3530).margin(5e-4));
  CHECK(train.channel_stats().mean[0] == 0.2860f);
}
