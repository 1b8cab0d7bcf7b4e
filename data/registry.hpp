#pragma once
// Dataset registry: datasets built by name from a plain DatasetSpec (the config layer maps YAML
// onto it). Filled by register_builtin_datasets(); plugins may add more factories.
//
//   register_builtin_datasets();
//   auto train = make_dataset({.name = "fashion_mnist", .split = "train"});
//
// Built-in names:
//   fashion_mnist  IdxDataset, root default /usr/share/datasets/fashion-mnist
//   mnist          IdxDataset, root default data/mnist
//   cifar10        Cifar10Dataset (binary version), root default data/cifar-10-batches-bin
//   image_folder   ImageFolder over root/<split>/<class>/<image>; channels, resize, crop
//   synthetic      SyntheticDataset; channels, height, width, size, num_classes, noise, seed

#include "core/registry.hpp"
#include "data/dataset.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lowbit::data {

struct DatasetSpec {
  std::string name = "fashion_mnist";  // registry key
  std::string root = "";               // empty: the dataset's default location
  std::string split = "train";         // "train" or "test"
  // image_folder and synthetic: channels of the output (0 = 3 for image_folder, 1 for synthetic)
  std::int64_t channels = 0;
  // image_folder
  std::int64_t resize = 0;  // short side after resizing; 0 = keep
  std::int64_t crop = 0;    // square center crop; 0 = none
  // synthetic
  std::int64_t size = 512;
  std::int64_t num_classes = 4;
  std::int64_t height = 8;
  std::int64_t width = 8;
  float noise = 0.25f;
  std::uint64_t seed = 0;
};

using DatasetFactory = std::function<std::shared_ptr<Dataset>(const DatasetSpec&)>;

// The process-wide dataset registry (kind "dataset").
core::Registry<DatasetFactory>& dataset_registry();

// Adds the built-in datasets to dataset_registry(); calling it again is harmless.
void register_builtin_datasets();

// dataset_registry().create(spec.name, spec); an unknown name suggests the closest known one.
std::shared_ptr<Dataset> make_dataset(const DatasetSpec& spec);

}  // namespace lowbit::data
