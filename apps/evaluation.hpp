#pragma once
// Evaluation of a model over a whole split: loss, accuracy, per-class accuracy, confusion matrix.

#include "apps/config.hpp"
#include "data/loader.hpp"
#include "layers/module.hpp"

#include <cstdint>
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

}  // namespace lowbit::app
