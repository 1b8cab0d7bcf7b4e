#include "data/registry.hpp"

#include "core/error.hpp"
#include "data/cifar10.hpp"
#include "data/file_bytes.hpp"
#include "data/idx.hpp"
#include "data/image_folder.hpp"
#include "data/synthetic.hpp"

#include <filesystem>
#include <system_error>
#include <utility>

namespace lowbit::data {

namespace {

std::shared_ptr<Dataset> make_fashion_mnist(const DatasetSpec& spec) {
  return std::make_shared<IdxDataset>(IdxFamily::fashion_mnist, spec.root, spec.split);
}

std::shared_ptr<Dataset> make_mnist(const DatasetSpec& spec) {
  return std::make_shared<IdxDataset>(IdxFamily::mnist, spec.root, spec.split);
}

std::shared_ptr<Dataset> make_cifar10(const DatasetSpec& spec) {
  return std::make_shared<Cifar10Dataset>(spec.root, spec.split);
}

std::shared_ptr<Dataset> make_image_folder(const DatasetSpec& spec) {
  core::check(!spec.root.empty(),
              "image_folder: data.root is empty. HINT: set it to a folder holding "
              "<split>/<class>/<image> (e.g. train/cat/001.png)");
  const std::string folder = join_path(spec.root, spec.split);
  std::error_code ec;
  core::check(std::filesystem::is_directory(folder, ec),
              "image_folder: {} is not a directory. HINT: data.root must hold one folder per "
              "split ({}/{}/<class>/<image>)",
              folder, spec.root, spec.split);
  ImageFolderOptions options;
  options.channels = spec.channels == 0 ? 3 : spec.channels;
  options.resize = spec.resize;
  options.crop = spec.crop;
  return std::make_shared<ImageFolder>(folder, options);
}

std::shared_ptr<Dataset> make_synthetic(const DatasetSpec& spec) {
  SyntheticOptions options;
  options.size = spec.size;
  options.num_classes = spec.num_classes;
  options.shape = ItemShape{spec.channels == 0 ? 1 : spec.channels, spec.height, spec.width};
  options.noise = spec.noise;
  options.seed = spec.seed;
  options.split = spec.split;
  return std::make_shared<SyntheticDataset>(std::move(options));
}

}  // namespace

core::Registry<DatasetFactory>& dataset_registry() {
  static core::Registry<DatasetFactory> registry("dataset");
  return registry;
}

void register_builtin_datasets() {
  core::Registry<DatasetFactory>& registry = dataset_registry();
  const std::pair<const char*, DatasetFactory> builtins[] = {
      {"fashion_mnist", make_fashion_mnist},
      {"mnist", make_mnist},
      {"cifar10", make_cifar10},
      {"image_folder", make_image_folder},
      {"synthetic", make_synthetic},
  };
  for (const auto& [name, factory] : builtins) {
    if (!registry.contains(name)) registry.add(name, factory);
  }
}

std::shared_ptr<Dataset> make_dataset(const DatasetSpec& spec) {
  return dataset_registry().create(spec.name, spec);
}

}  // namespace lowbit::data
