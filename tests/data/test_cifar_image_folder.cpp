// CIFAR-10 binary and ImageFolder on tiny files written here; the bilinear resize kernel.

#include "core/error.hpp"
#include "data/cifar10.hpp"
#include "data/image_folder.hpp"
#include "data/loader.hpp"
#include "data/resize.hpp"
#include "tests/data/data_test_util.hpp"

#include <catch2/catch.hpp>
#include <stb/stb_image_write.h>

#include <filesystem>

using Catch::Matchers::Contains;
using lowbit::data::Cifar10Dataset;
using lowbit::data::ImageFolder;
using lowbit::data::ImageFolderOptions;
using lowbit::data::ItemShape;
using lowbit::test::TempDir;
using lowbit::test::write_bytes;

namespace {

// `n` CIFAR records; record r of file f has label (f + r) % 10 and pixel i = (f * 31 + r * 7 + i) %
// 256.
std::vector<std::uint8_t> cifar_records(int f, int n) {
  std::vector<std::uint8_t> out;
  for (int r = 0; r < n; ++r) {
    out.push_back(static_cast<std::uint8_t>((f + r) % 10));
    for (int i = 0; i < 3072; ++i)
      out.push_back(static_cast<std::uint8_t>((f * 31 + r * 7 + i) % 256));
  }
  return out;
}

void write_cifar(const TempDir& dir) {
  for (int f = 1; f <= 5; ++f) {
    write_bytes(dir.file("data_batch_" + std::to_string(f) + ".bin"), cifar_records(f, 2), false);
  }
  write_bytes(dir.file("test_batch.bin"), cifar_records(0, 3), false);
}

// Writes an image with stb_image_write; `format` is "png" or "bmp". px: (h, w, c) interleaved.
void write_image(const std::string& path, int w, int h, int c, const std::vector<std::uint8_t>& px,
                 const std::string& format) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const int ok = format == "png" ? stbi_write_png(path.c_str(), w, h, c, px.data(), w * c)
                                 : stbi_write_bmp(path.c_str(), w, h, c, px.data());
  REQUIRE(ok != 0);
}

}  // namespace

TEST_CASE("cifar10: binary batches load in order with (C, H, W) pixels", "[data][cifar]") {
  TempDir dir;
  write_cifar(dir);
  const Cifar10Dataset train(dir.path(), "train");
  const Cifar10Dataset test(dir.path(), "test");
  CHECK(train.size() == 10);
  CHECK(test.size() == 3);
  CHECK(train.item_shape() == ItemShape{3, 32, 32});
  CHECK(train.class_names()[0] == "airplane");
  CHECK(train.class_names()[9] == "truck");
  // Example 5 is record 1 of data_batch_3.bin.
  std::vector<float> img(3072);
  std::int64_t label = -1;
  train.get(5, img.data(), label);
  CHECK(label == 4);
  for (int i : {0, 1, 1023, 1024, 2048, 3071}) {
    CHECK(img[static_cast<std::size_t>(i)] == static_cast<float>((3 * 31 + 7 + i) % 256) / 255.0f);
  }
  CHECK(test.label(2) == 2);
  CHECK(train.channel_stats().mean.size() == 3);
}

TEST_CASE("cifar10: missing and truncated files are named", "[data][cifar]") {
  TempDir dir;
  write_cifar(dir);
  std::filesystem::remove(dir.file("data_batch_3.bin"));
  CHECK_THROWS_WITH(
      Cifar10Dataset(dir.path(), "train"),
      Contains("CIFAR-10 not found: " + dir.file("data_batch_3.bin") + " does not exist"));
  CHECK_NOTHROW(Cifar10Dataset(dir.path(), "test"));
  std::vector<std::uint8_t> cut = cifar_records(0, 3);
  cut.erase(cut.end() - 100, cut.end());
  write_bytes(dir.file("test_batch.bin"), cut, false);
  CHECK_THROWS_WITH(
      Cifar10Dataset(dir.path(), "test"),
      Contains(dir.file("test_batch.bin")) && Contains("not a whole number of CIFAR-10 records"));
  CHECK_THROWS_WITH(Cifar10Dataset(dir.path(), "valid"), Contains("unknown split 'valid'"));
}

TEST_CASE("resize: half-pixel bilinear upsampling and exact copies", "[data][resize]") {
  // A 1x2 grey image [0, 255] scaled to 1x4 samples x = -0.25 (clamped), 0.25, 0.75, 1.25
  // (clamped).
  const std::vector<std::uint8_t> in{0, 255};
  lowbit::data::ResizeCrop g{1, 4, 0, 0, 1, 4};
  std::vector<float> out(4);
  lowbit::data::resize_crop_bilinear(in.data(), 1, 2, 1, g, out.data());
  CHECK(out[0] == 0.0f);
  CHECK(out[1] == Approx(0.25f));
  CHECK(out[2] == Approx(0.75f));
  CHECK(out[3] == 1.0f);

  // Geometry: short side to 4, long side floor(4 * 6 / 3) = 8, crop 4 centred at left 2.
  const auto geo = lowbit::data::resize_crop_geometry(3, 6, 4, 4, "x.png");
  CHECK(geo.scaled_h == 4);
  CHECK(geo.scaled_w == 8);
  CHECK(geo.top == 0);
  CHECK(geo.left == 2);
  CHECK_THROWS_WITH(lowbit::data::resize_crop_geometry(3, 6, 0, 4, "x.png"),
                    Contains("x.png") && Contains("crop 4 is larger"));
}

TEST_CASE("image_folder: classes from sorted subfolders, PNG and BMP decoded",
          "[data][image_folder]") {
  TempDir dir;
  // 4x4 RGB images: pixel (y, x, c) = 16 * y + 4 * x + c + base.
  auto rgb = [](int base) {
    std::vector<std::uint8_t> px;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        for (int c = 0; c < 3; ++c)
          px.push_back(static_cast<std::uint8_t>(16 * y + 4 * x + c + base));
    return px;
  };
  write_image(dir.file("zebra/b.png"), 4, 4, 3, rgb(100), "png");
  write_image(dir.file("zebra/a.bmp"), 4, 4, 3, rgb(50), "bmp");
  write_image(dir.file("ant/sub/x.png"), 4, 4, 3, rgb(0), "png");
  write_bytes(dir.file("ant/notes.txt"), {'h', 'i'}, false);

  const ImageFolder ds(dir.path());
  CHECK(ds.class_names() == std::vector<std::string>{"ant", "zebra"});
  REQUIRE(ds.size() == 3);
  CHECK(ds.item_shape() == ItemShape{3, 4, 4});
  CHECK(ds.label(0) == 0);
  CHECK(ds.label(1) == 1);
  CHECK(ds.path(1) == dir.file("zebra/a.bmp"));
  std::vector<float> img(48);
  std::int64_t label = -1;
  ds.get(1, img.data(), label);  // a.bmp, base 50, exact (no resize)
  CHECK(label == 1);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        CHECK(img[static_cast<std::size_t>((c * 4 + y) * 4 + x)] ==
              static_cast<float>(16 * y + 4 * x + c + 50) / 255.0f);

  // Short side 2 then center crop 2 of a 4x4 image: 2x2 output, each the mean of a 2x2 block.
  const ImageFolder small(dir.path(), ImageFolderOptions{3, 2, 2});
  CHECK(small.item_shape() == ItemShape{3, 2, 2});
  small.get(2, img.data(), label);  // b.png, base 100
  CHECK(img[0] == Approx((100.0f + 16 * 0.5f + 4 * 0.5f) / 255.0f));
  CHECK(img[3] == Approx((100.0f + 16 * 2.5f + 4 * 2.5f) / 255.0f));

  // Grey output from RGB input, crop without resize.
  const ImageFolder grey(dir.path(), ImageFolderOptions{1, 0, 3});
  CHECK(grey.item_shape() == ItemShape{1, 3, 3});
  grey.get(2, img.data(), label);  // b.png: RGB (100, 101, 102) at (0, 0) -> luma about 101
  CHECK(img[0] == Approx(101.0f / 255.0f).margin(1.5f / 255.0f));
}

TEST_CASE("image_folder: errors", "[data][image_folder]") {
  TempDir dir;
  CHECK_THROWS_WITH(ImageFolder(dir.file("missing")), Contains("is not a directory"));
  CHECK_THROWS_WITH(ImageFolder(dir.path()), Contains("has no class subfolders"));
  std::filesystem::create_directories(dir.file("empty"));
  CHECK_THROWS_WITH(ImageFolder(dir.path()), Contains("class 'empty' holds no images"));
  std::filesystem::remove(dir.file("empty"));
  write_image(dir.file("a/1.png"), 4, 4, 1, std::vector<std::uint8_t>(16, 9), "png");
  write_image(dir.file("a/2.png"), 5, 4, 1, std::vector<std::uint8_t>(20, 9), "png");
  write_bytes(dir.file("b/broken.png"), {1, 2, 3, 4}, false);
  const ImageFolder ds(dir.path(), ImageFolderOptions{1, 0, 0});
  std::vector<float> img(64);
  std::int64_t label = 0;
  CHECK_NOTHROW(ds.get(0, img.data(), label));
  CHECK_THROWS_WITH(ds.get(1, img.data(), label), Contains("2.png") && Contains("HINT: set crop"));
  CHECK_THROWS_WITH(ds.get(2, img.data(), label),
                    Contains("cannot decode") && Contains("broken.png"));
  CHECK_THROWS_WITH(ImageFolder(dir.path(), ImageFolderOptions{2, 0, 0}),
                    Contains("channels must be 1 or 3"));
}

TEST_CASE("image_folder: decoding in loader workers matches the calling thread",
          "[data][image_folder][loader]") {
  TempDir dir;
  for (int i = 0; i < 12; ++i) {
    std::vector<std::uint8_t> px(6 * 5 * 3);
    for (std::size_t k = 0; k < px.size(); ++k) px[k] = static_cast<std::uint8_t>(k * 5 + i * 17);
    write_image(dir.file((i % 3 == 0 ? "x/" : "y/") + std::to_string(i) + ".png"), 6, 5, 3, px,
                "png");
  }
  auto ds = std::make_shared<ImageFolder>(dir.path(), ImageFolderOptions{3, 4, 4});
  lowbit::data::LoaderOptions o;
  o.batch_size = 5;
  o.workers = 0;
  lowbit::data::DataLoader sync(ds, o);
  o.workers = 3;
  lowbit::data::DataLoader threaded(ds, o);
  for (int b = 0; b < 6; ++b) {
    const auto a = sync.next(), t = threaded.next();
    CHECK(a.images.to_vector<float>() == t.images.to_vector<float>());
    CHECK(a.labels.to_vector<std::int64_t>() == t.labels.to_vector<std::int64_t>());
  }
}
