// Checks the example plugins' gradient estimators with lowbit's gradcheck, the helper the built-in
// layer tests use (lowbit::gradcheck, "tests/support/gradcheck.hpp"). It loads the plugins the way
// train does, so it also shows an executable of one's own that loads plugins
// (lowbit_enable_plugins in CMakeLists.txt).
//
//   check_plugin_gradients build/librsign.so build/libternary.so
//
// A straight-through estimator is not the derivative of its forward (sign is flat almost
// everywhere), so each check differentiates
//   f(x) = detach(s(x)) + (q(x) - detach(q(x)))
// whose value is the surrogate s and whose backward is q's estimator: gradcheck then compares the
// estimator with central differences of s. Inputs are kept away from s's kinks.

#include "core/ops.hpp"
#include "layers/layer_registry.hpp"
#include "layers/plugin.hpp"
#include "quant/quantizer.hpp"
#include "tests/support/gradcheck.hpp"

#include <fmt/format.h>

#include <cmath>
#include <exception>
#include <vector>

namespace {

using namespace lowbit;
using core::Tensor;

// Value s, gradient: q's estimator.
Tensor estimator_with_value_of(const Tensor& q, const Tensor& s) {
  return s.detach() + (q - q.detach());
}

// Moves elements with |x - shift| within 0.02 of 1 (the kinks of hardtanh(x - shift)) away from it.
Tensor away_from_kinks(Tensor x, float shift) {
  float* p = x.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float d = p[i] - shift;
    if (std::fabs(std::fabs(d) - 1.0f) < 0.02f) p[i] += d >= 0.0f ? 0.05f : -0.05f;
  }
  return x;
}

int report(const char* what, const test::GradcheckResult& r) {
  fmt::print("{} {}{}\n", r.ok ? "ok  " : "FAIL", what, r.ok ? "" : ": " + r.message);
  return r.ok ? 0 : 1;
}

int check_rsign() {
  const layers::ModulePtr layer = layers::make_layer("rsign", {"act"});
  Tensor threshold = layer->named_parameters().at(0).second;  // the layer's own leaf
  threshold.data<float>()[0] = 0.25f;
  const Tensor x = away_from_kinks(test::uniform({2, 3, 4, 4}, -2.5f, 2.5f, 11), 0.25f);
  // gradcheck perturbs the threshold in place, which is the tensor the layer uses.
  return report("rsign: dL/dx and dL/dthreshold are the gradient of hardtanh(x - t)",
                test::gradcheck(
                    [&](const std::vector<Tensor>& in) {
                      return estimator_with_value_of(layer->forward(in[0]),
                                                     core::hardtanh(in[0] - in[1]));
                    },
                    {x, threshold}));
}

int check_ternary() {
  quant::QuantizerSpec spec;
  spec.role = quant::Role::weight;
  spec.weight_shape = core::Shape({4, 3, 3, 3});
  spec.fan_in = 27;
  spec.fan_out = 36;
  const quant::QuantizerPtr q = quant::make_quantizer("ternary", spec);
  const Tensor w = away_from_kinks(test::uniform({4, 3, 3, 3}, -1.5f, 1.5f, 12), 0.0f);
  return report("ternary: dL/dW is the gradient of hardtanh(W)",
                test::gradcheck(
                    [&](const std::vector<Tensor>& in) {
                      return estimator_with_value_of(q->forward(in[0]), core::hardtanh(in[0]));
                    },
                    {w}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: check_plugin_gradients PLUGIN.so...\n");
    return 2;
  }
  try {
    layers::register_builtin_layers();
    quant::register_builtin_quantizers();
    for (int i = 1; i < argc; ++i) layers::load_plugin(argv[i]);
    int failures = 0, checks = 0;
    if (layers::layer_registry().contains("rsign")) {
      failures += check_rsign();
      ++checks;
    }
    if (quant::quantizer_registry().contains("ternary")) {
      failures += check_ternary();
      ++checks;
    }
    if (checks == 0) {
      fmt::print(stderr, "error: none of the plugins registers rsign or ternary\n");
      return 2;
    }
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
