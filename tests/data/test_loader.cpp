// DataLoader: coverage, shuffling, resumable position, workers, shutdown, errors, throughput.

#include "core/error.hpp"
#include "data/file_bytes.hpp"
#include "data/idx.hpp"
#include "data/loader.hpp"
#include "data/synthetic.hpp"
#include "data/transforms.hpp"
#include "tests/data/data_test_util.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

using Catch::Matchers::Contains;
using lowbit::data::Batch;
using lowbit::data::DataLoader;
using lowbit::data::ItemShape;
using lowbit::data::LoaderOptions;
using lowbit::data::LoaderPosition;
using lowbit::test::IndexDataset;

namespace {

std::shared_ptr<IndexDataset> index_dataset(std::int64_t n) {
  return std::make_shared<IndexDataset>(n, 7, ItemShape{1, 4, 4});
}

// The dataset indices a batch holds (read from IndexDataset's constant images; no transforms).
std::vector<std::int64_t> indices_of(const Batch& b) {
  const std::int64_t per = b.images.numel() / b.size();
  const float* p = b.images.data<float>();
  std::vector<std::int64_t> out;
  for (std::int64_t j = 0; j < b.size(); ++j) out.push_back(IndexDataset::index_of(p[j * per]));
  return out;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.epoch == b.epoch && a.index_in_epoch == b.index_in_epoch &&
         a.last_in_epoch == b.last_in_epoch && a.images.shape() == b.images.shape() &&
         a.labels.shape() == b.labels.shape() &&
         std::memcmp(a.images.data<float>(), b.images.data<float>(),
                     static_cast<std::size_t>(a.images.numel()) * sizeof(float)) == 0 &&
         a.labels.to_vector<std::int64_t>() == b.labels.to_vector<std::int64_t>();
}

lowbit::data::TransformPtr augment() {
  using lowbit::data::TransformPtr;
  return std::make_shared<lowbit::data::Compose>(std::vector<TransformPtr>{
      std::make_shared<lowbit::data::RandomCrop>(0, 2),
      std::make_shared<lowbit::data::RandomHorizontalFlip>(),
      std::make_shared<lowbit::data::Normalize>(std::vector<float>{0.1f, 0.2f},
                                                std::vector<float>{0.3f, 0.4f})});
}

// Images that vary across pixels, so crops and flips show in the batch.
std::shared_ptr<lowbit::data::SyntheticDataset> textured(std::int64_t n) {
  lowbit::data::SyntheticOptions o;
  o.size = n;
  o.num_classes = 5;
  o.shape = ItemShape{2, 6, 6};
  o.seed = 9;
  return std::make_shared<lowbit::data::SyntheticDataset>(o);
}

std::vector<Batch> take(DataLoader& loader, std::int64_t n) {
  std::vector<Batch> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(loader.next());
  return out;
}

}  // namespace

TEST_CASE("loader: every example once per epoch, in batches", "[data][loader]") {
  for (std::int64_t workers : {0, 1, 2}) {
    LoaderOptions o;
    o.batch_size = 10;
    o.seed = 3;
    o.workers = workers;
    DataLoader loader(index_dataset(103), o);
    REQUIRE(loader.batches_per_epoch() == 11);
    for (std::int64_t epoch = 0; epoch < 2; ++epoch) {
      std::vector<int> seen(103, 0);
      for (std::int64_t b = 0; b < 11; ++b) {
        const Batch batch = loader.next();
        CHECK(batch.epoch == epoch);
        CHECK(batch.index_in_epoch == b);
        CHECK(batch.last_in_epoch == (b == 10));
        CHECK(batch.size() == (b == 10 ? 3 : 10));
        CHECK(batch.images.shape() == lowbit::core::Shape{batch.size(), 1, 4, 4});
        CHECK(batch.labels.dtype() == lowbit::core::DType::i64);
        const auto idx = indices_of(batch);
        const auto labels = batch.labels.to_vector<std::int64_t>();
        for (std::size_t j = 0; j < idx.size(); ++j) {
          ++seen[static_cast<std::size_t>(idx[j])];
          CHECK(labels[j] == idx[j] % 7);
        }
      }
      CHECK(seen == std::vector<int>(103, 1));
    }
    CHECK(loader.position() == LoaderPosition{2, 0});
  }
}

TEST_CASE("loader: drop_last, no shuffle and limit_batches", "[data][loader]") {
  LoaderOptions o;
  o.batch_size = 10;
  o.drop_last = true;
  o.shuffle = false;
  DataLoader loader(index_dataset(25), o);
  CHECK(loader.batches_per_epoch() == 2);
  CHECK(indices_of(loader.next()) == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(loader.next().size() == 10);
  const Batch b = loader.next();
  CHECK(b.epoch == 1);
  CHECK(indices_of(b)[0] == 0);
  o.drop_last = false;
  o.limit_batches = 2;
  CHECK(DataLoader(index_dataset(25), o).batches_per_epoch() == 2);
  o.drop_last = true;
  o.batch_size = 30;
  CHECK_THROWS_WITH(DataLoader(index_dataset(25), o), Contains("not one full batch of 30"));
}

TEST_CASE("loader: shuffles differ per epoch and are reproducible from the seed",
          "[data][loader]") {
  LoaderOptions o;
  o.batch_size = 50;
  o.seed = 42;
  DataLoader a(index_dataset(50), o), b(index_dataset(50), o);
  o.seed = 43;
  DataLoader c(index_dataset(50), o);
  const auto a0 = indices_of(a.next()), a1 = indices_of(a.next());
  CHECK(a0 != a1);
  CHECK(a0 == indices_of(b.next()));
  CHECK(a1 == indices_of(b.next()));
  CHECK(a0 != indices_of(c.next()));
  CHECK(a.epoch_order(0) == a0);
  // Not history-dependent: epoch 1 is the same when reached directly.
  LoaderOptions same;
  same.batch_size = 50;
  same.seed = 42;
  DataLoader d(index_dataset(50), same);
  d.set_position({1, 0});
  CHECK(indices_of(d.next()) == a1);
}

TEST_CASE("loader: resuming from a saved position reproduces the stream bit-exactly",
          "[data][loader]") {
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 7;
  o.transform = augment();
  o.workers = 2;
  DataLoader full(textured(60), o);  // 8 batches per epoch
  REQUIRE(full.batches_per_epoch() == 8);
  const std::vector<Batch> reference = take(full, 20);  // epochs 0, 1 and half of 2
  // Augmentation changes across epochs for the same example.
  CHECK_FALSE(same_batch(reference[0], reference[8]));

  DataLoader first(textured(60), o);
  take(first, 11);  // stop mid-epoch 1
  const auto bytes = first.position().to_bytes();
  const LoaderPosition saved = LoaderPosition::from_bytes(bytes);
  CHECK(saved == LoaderPosition{1, 3});

  LoaderOptions o1 = o;
  o1.workers = 1;
  DataLoader resumed(textured(60), o1);
  resumed.set_position(saved);
  for (std::size_t i = 11; i < reference.size(); ++i)
    CHECK(same_batch(resumed.next(), reference[i]));
  CHECK(same_batch(full.make_batch(1, 4), reference[12]));

  auto bad = bytes;
  bad[0] = 'X';
  CHECK_THROWS_WITH(LoaderPosition::from_bytes(bad), Contains("bad magic"));
  CHECK_THROWS_WITH(LoaderPosition::from_bytes(std::span(bytes).first(10)),
                    Contains("expected 24"));
  CHECK_THROWS_WITH(resumed.set_position({0, 8}), Contains("outside an epoch of 8 batches"));
}

TEST_CASE("loader: any number of workers delivers the same batches", "[data][loader]") {
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 1;
  o.transform = augment();
  o.workers = 0;
  DataLoader sync(textured(37), o);
  const std::vector<Batch> reference = take(sync, 24);
  for (std::int64_t workers : {1, 2, 4}) {
    for (std::int64_t prefetch : {1, 3}) {
      o.workers = workers;
      o.prefetch = prefetch;
      DataLoader loader(textured(37), o);
      for (const Batch& r : reference) CHECK(same_batch(loader.next(), r));
    }
  }
}

TEST_CASE("loader: destroying or repositioning mid-epoch does not hang", "[data][loader]") {
  auto slow = std::make_shared<IndexDataset>(400, 3, ItemShape{1, 2, 2}, -1, 200);
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 3;
  o.prefetch = 4;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 5; ++round) {
    DataLoader loader(slow, o);
    loader.next();
    if (round % 2 == 0) loader.set_position({0, 50});
    if (round == 4) loader.next();
  }
  { DataLoader never_started(slow, o); }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 5.0);
}

TEST_CASE("loader: a failing example is rethrown by next() at its batch", "[data][loader]") {
  auto broken = std::make_shared<IndexDataset>(40, 3, ItemShape{1, 2, 2}, 25);
  LoaderOptions o;
  o.batch_size = 10;
  o.shuffle = false;
  o.workers = 2;
  DataLoader loader(broken, o);
  loader.next();
  loader.next();
  CHECK_THROWS_WITH(loader.next(), Contains("example 25 is unreadable"));
  CHECK(loader.position() == LoaderPosition{0, 2});
  CHECK_THROWS_WITH(loader.next(), Contains("example 25 is unreadable"));
  loader.set_position({0, 3});
  CHECK(loader.next().index_in_epoch == 3);
}

TEST_CASE("loader: Fashion-MNIST throughput of the loader alone", "[data][loader][fashion_mnist]") {
  if (!lowbit::data::is_regular_file(std::string(lowbit::data::IdxDataset::kFashionMnistRoot) +
                                     "/train-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST is not installed; skipping");
    return;
  }
  auto train = std::make_shared<lowbit::data::IdxDataset>(lowbit::data::IdxFamily::fashion_mnist,
                                                          "", "train");
  const auto stats = train->channel_stats();
  for (bool augmented : {false, true}) {
    for (std::int64_t workers : {1, 2}) {
      LoaderOptions o;
      o.batch_size = 128;
      o.workers = workers;
      o.transform = std::make_shared<lowbit::data::Normalize>(stats.mean, stats.std);
      if (augmented) {
        o.transform =
            std::make_shared<lowbit::data::Compose>(std::vector<lowbit::data::TransformPtr>{
                std::make_shared<lowbit::data::RandomCrop>(0, 2),
                std::make_shared<lowbit::data::RandomHorizontalFlip>(), o.transform});
      }
      DataLoader loader(train, o);
      const auto start = std::chrono::steady_clock::now();
      std::int64_t images = 0;
      for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) images += loader.next().size();
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      CHECK(images == 60000);
      std::printf("fashion_mnist loader, batch 128, %s, %ld worker(s): %.0f images/s\n",
                  augmented ? "crop+flip+normalize" : "normalize", static_cast<long>(workers),
                  static_cast<double>(images) / s);
    }
  }
}
