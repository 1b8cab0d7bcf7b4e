#include "data/cifar10.hpp"

#include "core/error.hpp"
#include "data/file_bytes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace lowbit::data {

struct Cifar10Dataset::Loaded {
  std::vector<std::uint8_t> pixels, labels;
};

Cifar10Dataset::Loaded Cifar10Dataset::load(const std::string& root_in, const std::string& split) {
  const std::string root = root_in.empty() ? Cifar10Dataset::kDefaultRoot : root_in;
  const std::vector<std::string> files = Cifar10Dataset::split_files(split);
  for (const std::string& file : files) {
    const std::string path = join_path(root, file);
    core::check(is_regular_file(path),
                "CIFAR-10 not found: {} does not exist. HINT: set data.root to the folder "
                "'cifar-10-batches-bin' of the binary version (cifar-10-binary.tar.gz), holding "
                "data_batch_1.bin .. data_batch_5.bin and test_batch.bin",
                path);
  }
  constexpr auto kRecord = static_cast<std::size_t>(Cifar10Dataset::kRecordBytes);
  constexpr std::size_t kPixels = kRecord - 1;
  Cifar10Dataset::Loaded out;
  for (const std::string& file : files) {
    const std::string path = join_path(root, file);
    const std::vector<std::uint8_t> bytes = read_file_maybe_gz(path);
    core::check(!bytes.empty() && bytes.size() % kRecord == 0,
                "{}: {} bytes is not a whole number of CIFAR-10 records ({} bytes each: 1 label + "
                "3072 pixels). HINT: the file is truncated, or not the binary version",
                path, bytes.size(), kRecord);
    const std::size_t n = bytes.size() / kRecord;
    const std::size_t base = out.labels.size();
    out.labels.resize(base + n);
    out.pixels.resize((base + n) * kPixels);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t* record = bytes.data() + i * kRecord;
      core::check(record[0] < 10, "{}: record {} has label {}, expected 0..9", path, i, record[0]);
      out.labels[base + i] = record[0];
      std::copy(record + 1, record + kRecord,
                out.pixels.begin() + static_cast<std::ptrdiff_t>((base + i) * kPixels));
    }
  }
  return out;
}

Cifar10Dataset::Cifar10Dataset(Loaded loaded, const std::string& split)
    : U8ImageDataset(fmt::format("cifar10/{}", split), ItemShape{3, 32, 32}, classes(),
                     std::move(loaded.pixels), std::move(loaded.labels)) {
  // Published statistics of the training images.
  set_channel_stats({{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}});
}

Cifar10Dataset::Cifar10Dataset(const std::string& root, const std::string& split)
    : Cifar10Dataset(load(root, split), split) {}

std::vector<std::string> Cifar10Dataset::classes() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

std::vector<std::string> Cifar10Dataset::split_files(const std::string& split) {
  if (split == "train") {
    return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
            "data_batch_5.bin"};
  }
  core::check(split == "test", "CIFAR-10: unknown split '{}'. HINT: use 'train' or 'test'", split);
  return {"test_batch.bin"};
}

}  // namespace lowbit::data
