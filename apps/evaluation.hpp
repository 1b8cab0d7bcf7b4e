#pragma once
// Evaluation of a model over a whole split: loss, accuracy, per-class accuracy, confusion matrix.

#include "apps/config.hpp"
#include "data/loader.hpp"
#include "layers/module.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lowbit::app {

struct EvalResult {
  double loss = 0.0;      // mean over examples
  double accuracy = 0.0;  // fraction correct
  std::int64_t count = 0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
  std::vector<std::int64_t> labels, predictions;     // per example, in split order
  std::vector<double> class_accuracy() const;
};

// Runs the model in eval mode without recording a graph over one epoch of `loader` (which must not
// shuffle or augment), and restores the model's previous train/eval mode.
EvalResult evaluate(layers::Module& model, data::DataLoader& loader, const TrainConfig& train,
                    std::int64_t num_classes);

// Human-readable report: accuracy, loss, per-class table and the confusion matrix.
std::string format_report(const EvalResult& r, const std::vector<std::string>& class_names);
// The same as one JSON object.
std::string format_json(const EvalResult& r, const std::vector<std::string>& class_names);
// "index,label,prediction" per example (the same CSV as `infer --predictions`).
void write_predictions_csv(const EvalResult& r, const std::string& path);

// An ensemble of `members` models that share `model`'s modules (PBNet's sampled binary nets,
// methods.md 3b (b)): select_member(k) switches the model to member k (k = 0 .. members - 1, the
// caller restores the model afterwards). Each member runs over the split in eval mode without a
// graph; the result's predictions are the argmax of the members' averaged softmax outputs and its
// loss is the negative log-likelihood of those averaged probabilities.
// PBNet BN recalibration of the binary net `model` is now (MAP, or a sampled ensemble member):
// every StochasticBatchNorm's running statistics become the average over the first `batches`
// batches of `loader` (no graph; quant::pbnet_begin_bn_recalibration), then the model is in eval
// mode. What `evaluate --recalibrate-bn` and `export --recalibrate-bn` run.
void recalibrate_pbnet_bn(layers::Module& model, data::DataLoader& loader, std::int64_t batches);

struct EnsembleResult {
  EvalResult ensemble;
  std::vector<double> member_accuracy;  // each member on its own
};
EnsembleResult evaluate_ensemble(layers::Module& model, data::DataLoader& loader,
                                 std::int64_t members, std::int64_t num_classes,
                                 const std::function<void(std::int64_t)>& select_member);

}  // namespace lowbit::app
