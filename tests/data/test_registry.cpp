// The dataset registry and DatasetSpec factories; the synthetic dataset.

#include "core/error.hpp"
#include "data/registry.hpp"
#include "data/synthetic.hpp"
#include "tests/data/data_test_util.hpp"

#include <catch2/catch.hpp>
#include <stb/stb_image_write.h>

#include <filesystem>

using Catch::Matchers::Contains;
using lowbit::data::DatasetSpec;
using lowbit::data::ItemShape;
using lowbit::data::make_dataset;

TEST_CASE("registry: built-in datasets by name", "[data][registry]") {
  lowbit::data::register_builtin_datasets();
  lowbit::data::register_builtin_datasets();  // harmless twice
  CHECK(lowbit::data::dataset_registry().names() ==
        std::vector<std::string>{"cifar10", "fashion_mnist", "image_folder", "mnist", "synthetic"});
  CHECK_THROWS_WITH(make_dataset(DatasetSpec{.name = "mnsit"}),
                    Contains("unknown dataset 'mnsit'; did you mean 'mnist'?"));
  CHECK_THROWS_WITH(make_dataset(DatasetSpec{.name = "fashion_mnist", .root = "/nope"}),
                    Contains("Fashion-MNIST not found: /nope/train-images-idx3-ubyte.gz"));
  CHECK_THROWS_WITH(make_dataset(DatasetSpec{.name = "cifar10", .root = "/nope"}),
                    Contains("CIFAR-10 not found: /nope/data_batch_1.bin"));

  const auto syn = make_dataset(DatasetSpec{
      .name = "synthetic", .split = "test", .size = 30, .num_classes = 3, .height = 5, .width = 6});
  CHECK(syn->size() == 30);
  CHECK(syn->item_shape() == ItemShape{1, 5, 6});
  CHECK(syn->name() == "synthetic/test");

  lowbit::test::TempDir dir;
  for (const char* cls : {"b", "a"}) {
    const std::string path = dir.file(std::string("train/") + cls + "/0.png");
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    const std::vector<std::uint8_t> px(8 * 6 * 3, 77);
    REQUIRE(stbi_write_png(path.c_str(), 8, 6, 3, px.data(), 8 * 3) != 0);
  }
  const auto folder = make_dataset(DatasetSpec{
      .name = "image_folder", .root = dir.path(), .split = "train", .resize = 4, .crop = 4});
  CHECK(folder->class_names() == std::vector<std::string>{"a", "b"});
  CHECK(folder->item_shape() == ItemShape{3, 4, 4});
  CHECK_THROWS_WITH(
      make_dataset(DatasetSpec{.name = "image_folder", .root = dir.path(), .split = "test"}),
      Contains("test is not a directory"));
}

TEST_CASE("synthetic: deterministic, balanced and learnable", "[data][synthetic]") {
  lowbit::data::SyntheticOptions o;
  o.size = 200;
  o.num_classes = 4;
  o.shape = ItemShape{2, 5, 5};
  o.seed = 5;
  const lowbit::data::SyntheticDataset a(o), b(o);
  o.split = "test";
  const lowbit::data::SyntheticDataset test(o);
  std::vector<float> x(50), y(50);
  std::int64_t la = 0, lb = 0;
  a.get(17, x.data(), la);
  b.get(17, y.data(), lb);
  CHECK(x == y);
  CHECK(la == lb);
  test.get(17, y.data(), lb);
  CHECK(x != y);
  CHECK(lowbit::data::label_histogram(a) == std::vector<std::int64_t>(4, 50));
  for (float v : x) CHECK((v >= 0.0f && v <= 1.0f));
  // Learnable: nearest class mean (estimated on train) classifies the test split well.
  std::vector<std::vector<double>> means(4, std::vector<double>(50, 0.0));
  for (std::int64_t i = 0; i < a.size(); ++i) {
    std::int64_t label = 0;
    a.get(i, x.data(), label);
    for (std::size_t k = 0; k < 50; ++k) means[static_cast<std::size_t>(label)][k] += x[k] / 50.0;
  }
  int correct = 0;
  for (std::int64_t i = 0; i < test.size(); ++i) {
    std::int64_t label = 0;
    test.get(i, x.data(), label);
    std::size_t best = 0;
    double best_d = 1e30;
    for (std::size_t c = 0; c < 4; ++c) {
      double d = 0;
      for (std::size_t k = 0; k < 50; ++k) d += (x[k] - means[c][k]) * (x[k] - means[c][k]);
      if (d < best_d) best_d = d, best = c;
    }
    correct += static_cast<std::int64_t>(best) == label ? 1 : 0;
  }
  CHECK(correct > 180);
}
