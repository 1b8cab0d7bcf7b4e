#pragma once
// CIFAR-10, binary version (Krizhevsky 2009): data_batch_1.bin .. data_batch_5.bin (train, 50000
// examples) and test_batch.bin (test, 10000). Each record is 1 label byte then 3072 pixel bytes:
// the 32x32 red plane, then green, then blue, each row-major, which is already our (C, H, W).
// A file whose length is not a whole number of records, a label >= 10 or a missing file throws a
// core::Error naming the file.

#include "data/dataset.hpp"

#include <string>
#include <vector>

namespace lowbit::data {

class Cifar10Dataset : public U8ImageDataset {
 public:
  static constexpr const char* kDefaultRoot = "data/cifar-10-batches-bin";
  static constexpr std::int64_t kRecordBytes = 1 + 3 * 32 * 32;

  // Loads split "train" or "test" from `root` (empty = kDefaultRoot).
  Cifar10Dataset(const std::string& root, const std::string& split);

  static std::vector<std::string> classes();  // airplane, automobile, ..., truck
  // The file names of `split`, in load order.
  static std::vector<std::string> split_files(const std::string& split);

 private:
  struct Loaded;  // all records of the split
  static Loaded load(const std::string& root, const std::string& split);
  Cifar10Dataset(Loaded loaded, const std::string& split);
};

}  // namespace lowbit::data
