// Example layer plugin: a sign activation with a learned threshold (ReActNet's RSign, Liu et al.
// 2020, with one threshold per layer), registered as the layer "rsign":
//
//   y = sign(x - t)                           sign(0) = +1, t a learned scalar (starts at 0)
//   dL/dx = dL/dy * 1[|x - t| <= 1]           the hardtanh straight-through estimator,
//   dL/dt = -sum(dL/dy * 1[|x - t| <= 1])     moved to the threshold
//
// i.e. the exact gradient of the surrogate hardtanh(x - t); check_plugin_gradients.cpp checks
// that with lowbit's gradcheck. Use it with `model.activation: rsign` (rsign.yaml). Its threshold
// is a parameter like any other: trained by the optimizer, saved in checkpoints as
// "<layer>.threshold" ("relu_fc1.threshold" in an mlp).

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"
#include "layers/module.hpp"
#include "layers/plugin_api.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

namespace {

using lowbit::core::Tensor;

// y = sign(x - t) with the estimator above. x: any shape, f32; t: (1) f32.
Tensor rsign(const Tensor& x, const Tensor& t) {
  lowbit::core::check(t.numel() == 1, "rsign: the threshold must hold one value, got {}",
                      t.shape());
  const Tensor xc = x.detach().contiguous();
  const float threshold = t.detach().contiguous().data<float>()[0];
  Tensor y = Tensor::uninitialized(xc.shape());
  const float* xp = xc.data<float>();
  float* yp = y.data<float>();
  for (std::int64_t i = 0; i < xc.numel(); ++i) yp[i] = xp[i] - threshold >= 0.0f ? 1.0f : -1.0f;
  return lowbit::core::record(
      y, "rsign", {x, t}, [xc, threshold, t_shape = t.shape()](const Tensor& grad) {
        const Tensor g = grad.contiguous();
        Tensor dx = Tensor::uninitialized(xc.shape());
        const float* xp = xc.data<float>();
        const float* gp = g.data<float>();
        float* dxp = dx.data<float>();
        double dt = 0.0;
        for (std::int64_t i = 0; i < xc.numel(); ++i) {
          const float pass = std::fabs(xp[i] - threshold) <= 1.0f ? 1.0f : 0.0f;
          dxp[i] = gp[i] * pass;
          dt -= static_cast<double>(gp[i]) * pass;
        }
        return lowbit::core::Grads{
            dx, Tensor::from_vector(std::vector<float>{static_cast<float>(dt)}, t_shape)};
      });
}

class RSign : public lowbit::layers::Module {
 public:
  RSign() { threshold_ = register_parameter("threshold", Tensor::zeros({1})); }
  Tensor forward(const Tensor& x) override { return rsign(x, threshold_); }
  std::string type_name() const override { return "RSign"; }

 private:
  Tensor threshold_;
};

}  // namespace

extern "C" int lowbit_plugin_api_version() { return LOWBIT_PLUGIN_API_VERSION; }

extern "C" void lowbit_plugin_register(lowbit::PluginContext* ctx) {
  ctx->add_layer("rsign", [](const lowbit::layers::LayerSpec&) -> lowbit::layers::ModulePtr {
    return std::make_shared<RSign>();
  });
}
