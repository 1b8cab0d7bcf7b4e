#pragma once
// Runner: executes a Model (model.hpp) on a batch of images with the XNOR kernels (kernels.hpp)
// and the float ops of runner_ops.hpp. Each op computes exactly the formula model.hpp documents.
//
//   xnor::Runner runner(xnor::load_model("model.lbm"));
//   std::vector<float> logits = runner.run(images /*(n, C, H, W) in [0, 1]*/, n);  // (n, classes)
//
// Activation buffers are 64-byte aligned and reused between ops by liveness (a value's buffer is
// released after its last reader), and kept across calls with the same batch size. Not
// thread-safe: one Runner per thread (the kernels use OpenMP threads inside each op).

#include "quant/xnor/model.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace lowbit::quant::xnor {

struct RunnerOptions {
  // Keep every value's buffer after run() (no reuse) so value_as_float() can read any of them;
  // for debugging an export against the training model.
  bool keep_values = false;
};

class Runner {
 public:
  // Validates the model (FormatError when invalid) and prepares the weights for the kernels.
  explicit Runner(Model model, RunnerOptions options = {});
  ~Runner();
  Runner(Runner&&) noexcept;
  Runner& operator=(Runner&&) noexcept;

  // images: (n, C, H, W) f32 pixels in [0, 1], planar per image as data::Dataset::get writes
  // them; the runner normalizes them (InputSpec). logits: (n, classes) f32.
  void run(const float* images, std::int64_t n, float* logits);
  std::vector<float> run(const float* images, std::int64_t n);

  // Value `id` of the last run as f32 (n, h, w, c): bits as +1/-1, codes and i8 as the numbers.
  // Needs keep_values, or the model's output / an id whose buffer was not reused.
  std::vector<float> value_as_float(ValueId id) const;

  const Model& model() const { return model_; }
  std::int64_t num_classes() const { return model_.num_classes(); }

  // Wall-clock seconds spent in each op (ops().size() entries) summed over the runs since the
  // last reset, and the number of those runs.
  const std::vector<double>& op_seconds() const { return op_seconds_; }
  std::int64_t runs() const { return runs_; }
  void reset_timing();

 private:
  struct Impl;
  Model model_;
  RunnerOptions options_;
  std::unique_ptr<Impl> impl_;
  std::vector<double> op_seconds_;
  std::int64_t runs_ = 0;
};

}  // namespace lowbit::quant::xnor
