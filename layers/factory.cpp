#include "layers/factory.hpp"

#include "core/error.hpp"
#include "layers/activation.hpp"

namespace lowbit::layers {
namespace {

ModulePtr checked(ModulePtr m, const char* hook, const std::string& name) {
  core::check(m != nullptr, "LayerFactory::{} returned no module for layer '{}'", hook, name);
  return m;
}

}  // namespace

ModulePtr make_float_conv(const Conv2dOptions& options, const std::string&, core::Rng& rng) {
  return std::make_shared<Conv2d>(options, rng);
}

ModulePtr make_float_linear(const LinearOptions& options, const std::string&, core::Rng& rng) {
  return std::make_shared<Linear>(options, rng);
}

ModulePtr make_relu(const std::string&) { return std::make_shared<ReLU>(); }

std::uint64_t name_stream(std::string_view name) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a offset basis
  for (const char c : name) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ull;  // FNV prime
  }
  return h;
}

LayerBuilder::LayerBuilder(const LayerFactory& factory, std::uint64_t seed)
    : factory_(factory), seed_(seed) {
  core::check(factory.make_conv && factory.make_linear && factory.make_activation,
              "LayerFactory: make_conv, make_linear and make_activation must all be set. HINT: "
              "start from a default LayerFactory{{}} and replace only the hooks you need");
}

core::Rng LayerBuilder::rng_for(std::string_view name) const {
  return core::Rng(seed_).fork(name_stream(name));
}

ModulePtr LayerBuilder::conv(const Conv2dOptions& options, const std::string& name) const {
  core::Rng rng = rng_for(name);
  return checked(factory_.make_conv(options, name, rng), "make_conv", name);
}

ModulePtr LayerBuilder::linear(const LinearOptions& options, const std::string& name) const {
  core::Rng rng = rng_for(name);
  return checked(factory_.make_linear(options, name, rng), "make_linear", name);
}

ModulePtr LayerBuilder::activation(const std::string& name) const {
  return checked(factory_.make_activation(name), "make_activation", name);
}

}  // namespace lowbit::layers
