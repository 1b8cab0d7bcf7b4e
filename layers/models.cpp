#include "layers/models.hpp"

#include "core/error.hpp"

namespace lowbit::layers {

core::Registry<ModelBuilder>& model_registry() {
  static core::Registry<ModelBuilder> registry("model");
  return registry;
}

void register_builtin_models(core::Registry<ModelBuilder>& registry) {
  registry.add("mlp", build_mlp);
  registry.add("lenet", build_lenet);
  registry.add("vgg_small", build_vgg_small);
  registry.add("resnet18", build_resnet18);
  registry.add("resnet20", build_resnet20);
}

void validate(const ModelSpec& spec) {
  const std::string& n = spec.name;
  core::check(spec.in_channels > 0, "model '{}': in_channels must be positive, got {}", n,
              spec.in_channels);
  core::check(spec.image_size > 0, "model '{}': image_size must be positive, got {}", n,
              spec.image_size);
  core::check(spec.num_classes > 0, "model '{}': num_classes must be positive, got {}", n,
              spec.num_classes);
  core::check(spec.width >= 0, "model '{}': width must be >= 0 (0 = the family default), got {}", n,
              spec.width);
  for (const std::int64_t h : spec.hidden) {
    core::check(h > 0, "model '{}': every hidden width must be positive, got {}", n, h);
  }
  core::check(spec.stem == "cifar" || spec.stem == "imagenet",
              "model '{}': unknown stem '{}'. HINT: use 'cifar' (3x3 conv, no maxpool; 28-32 pixel "
              "inputs) or 'imagenet' (7x7 stride-2 conv + maxpool)",
              n, spec.stem);
  core::check(spec.dropout >= 0.0 && spec.dropout < 1.0,
              "model '{}': dropout must be in [0, 1), got {}", n, spec.dropout);
}

ModulePtr build_model(const ModelSpec& spec, std::uint64_t seed, const LayerFactory& factory,
                      const core::Registry<ModelBuilder>& registry) {
  const ModelBuilder& builder = registry.get(spec.name);
  validate(spec);
  ModulePtr model = builder(spec, factory, seed);
  core::check(model != nullptr, "model builder '{}' returned no model", spec.name);
  return model;
}

}  // namespace lowbit::layers
