// Model builders: every family builds for 28x28x1 and 32x32x3 inputs and yields (N, classes)
// logits; parameter counts match hand formulas; layer names are the documented ones.

#include "layers/layers.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace lowbit;
using core::Tensor;
using std::int64_t;

namespace {

core::Registry<layers::ModelBuilder> make_registry() {
  core::Registry<layers::ModelBuilder> r("model");
  layers::register_builtin_models(r);
  return r;
}

layers::ModelSpec spec_for(const std::string& name, int64_t channels, int64_t size) {
  layers::ModelSpec s;
  s.name = name;
  s.in_channels = channels;
  s.image_size = size;
  return s;
}

// Hand formulas. conv(k) = in*out*k*k (no bias), bn = 2*C, fc = in*out + out.
int64_t lenet_params(int64_t c, int64_t size, int64_t w, int64_t fc, int64_t k) {
  const int64_t s = size / 4;
  return c * w * 25 + 2 * w + w * 2 * w * 25 + 4 * w + 2 * w * s * s * fc + 2 * fc + fc * k + k;
}

int64_t basic_block_params(int64_t in, int64_t out, int64_t stride) {
  int64_t n = in * out * 9 + out * out * 9 + 4 * out;
  if (stride != 1 || in != out) n += in * out + 2 * out;
  return n;
}

int64_t resnet_params(int64_t c, int64_t k, int64_t w, const std::vector<int64_t>& blocks,
                      int64_t stem_kernel) {
  int64_t n = c * w * stem_kernel * stem_kernel + 2 * w;
  int64_t in = w;
  for (std::size_t s = 0; s < blocks.size(); ++s) {
    const int64_t out = w << s;
    for (int64_t b = 0; b < blocks[s]; ++b) {
      n += basic_block_params(in, out, (s > 0 && b == 0) ? 2 : 1);
      in = out;
    }
  }
  return n + in * k + k;
}

int64_t vgg_small_params(int64_t c, int64_t size, int64_t w, int64_t k) {
  const int64_t ch[6] = {w, w, 2 * w, 2 * w, 4 * w, 4 * w};
  int64_t n = 0, in = c;
  for (const int64_t out : ch) {
    n += in * out * 9 + 2 * out;
    in = out;
  }
  const int64_t s = size / 8;
  return n + 4 * w * s * s * k + k;
}

}  // namespace

TEST_CASE("every builder builds and maps images to (N, num_classes) logits", "[models]") {
  const auto registry = make_registry();
  CHECK(registry.names() ==
        std::vector<std::string>{"lenet", "mlp", "resnet18", "resnet20", "vgg_small"});
  for (const std::string& name : registry.names()) {
    for (const auto& [channels, size] :
         std::vector<std::pair<int64_t, int64_t>>{{1, 28}, {3, 32}}) {
      layers::ModelSpec spec = spec_for(name, channels, size);
      spec.num_classes = 7;
      if (name == "vgg_small") spec.width = 16;  // keep the test fast; counts checked below
      const layers::ModulePtr model = layers::build_model(spec, 1, {}, registry);
      const Tensor x = test::uniform({2, channels, size, size}, -1, 1, 3, false);
      const Tensor y = model->forward(x);
      INFO(name << " " << channels << "x" << size);
      CHECK(y.shape() == core::Shape{2, 7});
      model->eval();
      const auto v = model->forward(x).to_vector<float>();
      for (float e : v) CHECK(std::isfinite(e));
    }
  }
}

TEST_CASE("parameter counts match hand formulas", "[models]") {
  const auto registry = make_registry();
  const auto count = [&](layers::ModelSpec s) {
    return layers::build_model(s, 1, {}, registry)->num_parameters();
  };
  // ResNet-18 with the CIFAR stem, 3 input channels, 10 classes: torchvision's count with a 3x3
  // stem conv.
  CHECK(count(spec_for("resnet18", 3, 32)) == 11173962);
  CHECK(resnet_params(3, 10, 64, {2, 2, 2, 2}, 3) == 11173962);
  CHECK(count(spec_for("resnet18", 1, 28)) == resnet_params(1, 10, 64, {2, 2, 2, 2}, 3));
  layers::ModelSpec imagenet = spec_for("resnet18", 3, 64);
  imagenet.stem = "imagenet";
  imagenet.num_classes = 1000;
  CHECK(count(imagenet) == 11689512);  // torchvision resnet18
  CHECK(count(spec_for("resnet20", 3, 32)) == resnet_params(3, 10, 16, {3, 3, 3}, 3));
  CHECK(count(spec_for("resnet20", 3, 32)) == 272474);  // option-B shortcuts

  // lenet: 5x5 convs of 32 and 64 channels, FC 512.
  CHECK(count(spec_for("lenet", 1, 28)) == lenet_params(1, 28, 32, 512, 10));
  CHECK(count(spec_for("lenet", 1, 28)) == 1663978);
  CHECK(count(spec_for("lenet", 3, 32)) == lenet_params(3, 32, 32, 512, 10));

  CHECK(count(spec_for("vgg_small", 3, 32)) == vgg_small_params(3, 32, 128, 10));
  CHECK(count(spec_for("vgg_small", 3, 32)) == 4660106);

  layers::ModelSpec mlp = spec_for("mlp", 1, 28);
  CHECK(count(mlp) == 784 * 256 + 512 + 256 * 256 + 512 + 256 * 10 + 10);
  mlp.hidden = {100};
  CHECK(count(mlp) == 784 * 100 + 200 + 100 * 10 + 10);
}

TEST_CASE("layers carry the documented names", "[models]") {
  const auto registry = make_registry();
  layers::ModelSpec spec = spec_for("resnet18", 3, 32);
  spec.stem = "imagenet";
  spec.dropout = 0.2;
  std::vector<std::string> conv_names, linear_names;
  layers::LayerFactory factory;
  factory.make_conv = [&](const layers::Conv2dOptions& o, const std::string& name, core::Rng& rng) {
    conv_names.push_back(name);
    return layers::make_float_conv(o, name, rng);
  };
  factory.make_linear = [&](const layers::LinearOptions& o, const std::string& name,
                            core::Rng& rng) {
    linear_names.push_back(name);
    return layers::make_float_linear(o, name, rng);
  };
  const auto model = layers::build_model(spec, 1, factory, registry);
  REQUIRE(conv_names.size() == 20);
  CHECK(conv_names[0] == "conv1");
  CHECK(conv_names[1] == "layer1.0.conv1");
  CHECK(conv_names[7] == "layer2.0.downsample.0");
  CHECK(linear_names == std::vector<std::string>{"fc"});
  // The names handed to the factory are the modules' paths in the model.
  for (const std::string& name : conv_names) CHECK(model->submodule(name).type_name() == "Conv2d");
  CHECK(model->submodule("maxpool").type_name() == "MaxPool2d");
  CHECK(model->submodule("dropout").type_name() == "Dropout");
  const auto keys = model->state_dict().keys();
  CHECK(keys.front() == "conv1.weight");
  CHECK(std::find(keys.begin(), keys.end(), "layer4.1.bn2.running_var") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "layer3.0.downsample.1.weight") != keys.end());
  CHECK(keys.back() == "fc.bias");

  const auto lenet = layers::build_model(spec_for("lenet", 1, 28), 1, {}, registry);
  std::vector<std::string> names;
  for (const auto& [name, child] : lenet->named_children()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2",
                                          "pool2", "flatten", "fc1", "bn_fc1", "relu_fc1", "fc"});
}

TEST_CASE("activations come from the factory", "[models]") {
  const auto registry = make_registry();
  layers::LayerFactory factory;
  factory.make_activation = [](const std::string&) -> layers::ModulePtr {
    return std::make_shared<layers::HardTanh>();
  };
  const auto model = layers::build_model(spec_for("resnet20", 1, 28), 1, factory, registry);
  CHECK(model->submodule("relu").type_name() == "HardTanh");
  CHECK(model->submodule("layer3.2.relu2").type_name() == "HardTanh");
}

TEST_CASE("spec errors name the problem", "[models]") {
  const auto registry = make_registry();
  CHECK_THROWS_WITH(layers::build_model(spec_for("resnet81", 3, 32), 1, {}, registry),
                    Catch::Contains("unknown model 'resnet81'") &&
                        Catch::Contains("did you mean 'resnet18'") &&
                        Catch::Contains("lenet, mlp, resnet18, resnet20, vgg_small"));
  layers::ModelSpec s = spec_for("resnet18", 3, 32);
  s.stem = "imgnet";
  CHECK_THROWS_WITH(layers::build_model(s, 1, {}, registry), Catch::Contains("unknown stem"));
  s = spec_for("resnet20", 3, 32);
  s.hidden = {10};
  CHECK_THROWS_WITH(layers::build_model(s, 1, {}, registry), Catch::Contains("remove 'hidden'"));
  s = spec_for("lenet", 1, 28);
  s.stem = "imagenet";
  CHECK_THROWS_WITH(layers::build_model(s, 1, {}, registry), Catch::Contains("resnets only"));
  s = spec_for("mlp", 1, 28);
  s.dropout = 1.5;
  CHECK_THROWS_WITH(layers::build_model(s, 1, {}, registry), Catch::Contains("dropout"));
  s = spec_for("vgg_small", 1, 4);
  CHECK_THROWS_WITH(layers::build_model(s, 1, {}, registry), Catch::Contains("image_size >= 8"));
  // A model built for 28x28 inputs fed 32x32 images names the layer and the expected shape.
  const auto model = layers::build_model(spec_for("lenet", 1, 28), 1, {}, registry);
  CHECK_THROWS_WITH(model->forward(Tensor::zeros({2, 1, 32, 32})),
                    Catch::Contains("expected input (N, 3136)"));
}
