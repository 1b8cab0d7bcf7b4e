#pragma once
// DCQ, divide-and-conquer quantization (Elthakeb et al., ICML 2020; methods.md 5): a trained float
// teacher is cut into contiguous sections; student section i (quantized, initialised from the
// teacher) learns on its own to map the teacher's input to that section onto the teacher's output
// of it; the trained sections are stitched back into one network.
//
// Here a section is a run of top-level children of the model's root Sequential (the model
// builders name them: conv1, bn1, ..., pool1, layer1, ..., fc), so teacher and student, built by
// the same builder, split at the same names. The training loop lives in apps/distill.cpp; this
// file holds what does not need a config: planning, running a section, its losses, BN
// re-estimation.

#include "layers/module.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lowbit::quant::dcq {

using core::Tensor;

// Top-level children [begin, end) of the root; names of the first and last child for messages.
struct Section {
  std::size_t begin = 0, end = 0;
  std::string first, last;
};

// Natural split points of a model: the children that end a stage (names pool<k> or layer<k>),
// except the last child. vgg_small: pool1, pool2, pool3; resnets: layer1 .. layer<n-1>, layer<n>.
std::vector<std::string> stage_boundaries(const layers::Module& root);

// The sections of `root`: either split after each child named in `split_after` (in model order),
// or, with auto_sections = N > 0, N sections cut at N - 1 stage boundaries spread evenly over the
// candidates. Errors name an unknown child (listing the ones that exist), a repeat or an order
// problem, or too many sections for the candidates.
std::vector<Section> plan_sections(const layers::Module& root, const std::vector<std::string>& split_after,
                                   std::int64_t auto_sections);

// "conv1..pool1" for logs.
std::string describe(const Section& s);

// Runs the root's children [begin, end) on x in order.
Tensor run_children(layers::Module& root, std::size_t begin, std::size_t end, const Tensor& x);

// A module that holds one section's children under their own names, so its parameters, state dict
// and optimizer groups carry the whole model's names ("conv3.weight"). It shares the children with
// the root: training it trains the root's section in place.
class SectionModule : public layers::Module {
 public:
  SectionModule(layers::Module& root, const Section& section);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Section"; }
};

// Section losses of methods.md 5.1: mean over all elements.
enum class RegressionLoss { mse, l1, huber };
RegressionLoss parse_regression_loss(const std::string& name);  // mse, l1, huber
// huber_delta: the Huber loss is 0.5 d^2 for |d| <= delta, delta (|d| - delta / 2) beyond.
Tensor regression_loss(RegressionLoss kind, const Tensor& student, const Tensor& teacher, double huber_delta);

// Re-estimates every BatchNorm's running statistics of `model` as the plain average over up to
// `batches` batches from next_batch (std::nullopt ends early): statistics reset, momentum 1/k for
// the k-th batch, forward in training mode without a graph, momentum and mode restored.
// Returns the number of batches used.
std::int64_t recalibrate_batch_norm(layers::Module& model, const std::function<std::optional<Tensor>()>& next_batch,
                                    std::int64_t batches);

}  // namespace lowbit::quant::dcq
