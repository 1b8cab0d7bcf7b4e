#include "apps/evaluation.hpp"

#include "apps/session.hpp"
#include "core/ops.hpp"
#include "quant/pbnet_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lowbit::app {

std::vector<double> EvalResult::class_accuracy() const {
  std::vector<double> out;
  for (std::size_t c = 0; c < confusion.size(); ++c) {
    std::int64_t total = 0;
    for (std::int64_t v : confusion[c]) total += v;
    out.push_back(total > 0 ? static_cast<double>(confusion[c][c]) / static_cast<double>(total) : 0.0);
  }
  return out;
}

EvalResult evaluate(layers::Module& model, data::DataLoader& loader, const TrainConfig& train,
                    std::int64_t num_classes) {
  const bool was_training = model.is_training();
  model.eval();
  core::NoGradGuard no_grad;
  EvalResult r;
  r.confusion.assign(static_cast<std::size_t>(num_classes),
                     std::vector<std::int64_t>(static_cast<std::size_t>(num_classes), 0));
  loader.set_position({0, 0});
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const data::Batch batch = loader.next();
    const core::Tensor logits = model(batch.images);
    const double loss = compute_loss(train, logits, batch.labels).item();
    loss_sum += loss * static_cast<double>(batch.size());
    const auto pred = core::argmax(logits, 1).to_vector<std::int64_t>();
    const auto truth = batch.labels.to_vector<std::int64_t>();
    for (std::size_t i = 0; i < pred.size(); ++i) {
      r.confusion[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(pred[i])] += 1;
      correct += pred[i] == truth[i];
      r.labels.push_back(truth[i]);
      r.predictions.push_back(pred[i]);
    }
    r.count += batch.size();
  }
  r.loss = r.count > 0 ? loss_sum / static_cast<double>(r.count) : 0.0;
  r.accuracy = r.count > 0 ? static_cast<double>(correct) / static_cast<double>(r.count) : 0.0;
  model.train(was_training);
  return r;
}

void recalibrate_pbnet_bn(layers::Module& model, data::DataLoader& loader, std::int64_t batches) {
  quant::pbnet_begin_bn_recalibration(model);
  {
    core::NoGradGuard no_grad;
    loader.set_position({0, 0});
    const std::int64_t n = std::min(batches, loader.batches_per_epoch());
    for (std::int64_t b = 0; b < n; ++b) model(loader.next().images);
  }
  quant::pbnet_end_bn_recalibration(model);
}

EnsembleResult evaluate_ensemble(layers::Module& model, data::DataLoader& loader,
                                 std::int64_t members, std::int64_t num_classes,
                                 const std::function<void(std::int64_t)>& select_member) {
  core::check(members > 0, "evaluate_ensemble: need at least one member, got {}", members);
  const bool was_training = model.is_training();
  model.eval();
  core::NoGradGuard no_grad;
  const auto C = static_cast<std::size_t>(num_classes);
  EnsembleResult out;
  EvalResult& r = out.ensemble;
  std::vector<double> prob_sum;  // (examples, C): the members' summed softmax outputs
  for (std::int64_t k = 0; k < members; ++k) {
    select_member(k);
    loader.set_position({0, 0});
    std::int64_t correct = 0, seen = 0;
    std::size_t row = 0;
    for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      const data::Batch batch = loader.next();
      const core::Tensor logits = model(batch.images).contiguous();  // (B, C)
      const float* z = logits.data<float>();
      const auto truth = batch.labels.to_vector<std::int64_t>();
      for (std::size_t i = 0; i < truth.size(); ++i, ++row) {
        if (k == 0) {
          prob_sum.resize((row + 1) * C, 0.0);
          r.labels.push_back(truth[i]);
        }
        const float* zi = z + i * C;
        const double zmax = *std::max_element(zi, zi + C);
        double norm = 0.0;
        for (std::size_t c = 0; c < C; ++c) norm += std::exp(double(zi[c]) - zmax);
        for (std::size_t c = 0; c < C; ++c) prob_sum[row * C + c] += std::exp(double(zi[c]) - zmax) / norm;
        correct += static_cast<std::int64_t>(std::max_element(zi, zi + C) - zi) == truth[i];
        ++seen;
      }
    }
    out.member_accuracy.push_back(seen > 0 ? double(correct) / double(seen) : 0.0);
  }
  r.count = static_cast<std::int64_t>(r.labels.size());
  r.confusion.assign(C, std::vector<std::int64_t>(C, 0));
  double nll = 0.0;
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < r.labels.size(); ++i) {
    const double* p = prob_sum.data() + i * C;
    const auto pred = static_cast<std::int64_t>(std::max_element(p, p + C) - p);
    const auto t = static_cast<std::size_t>(r.labels[i]);
    r.predictions.push_back(pred);
    r.confusion[t][static_cast<std::size_t>(pred)] += 1;
    correct += pred == r.labels[i];
    nll -= std::log(std::max(p[t] / double(members), 1e-30));
  }
  r.loss = r.count > 0 ? nll / double(r.count) : 0.0;
  r.accuracy = r.count > 0 ? double(correct) / double(r.count) : 0.0;
  model.train(was_training);
  return out;
}

std::string format_report(const EvalResult& r, const std::vector<std::string>& names) {
  std::string out = fmt::format("accuracy {:.2f}%  loss {:.4f}  ({} examples)\n\n", 100.0 * r.accuracy,
                                r.loss, r.count);
  const auto acc = r.class_accuracy();
  std::size_t width = 5;
  for (const auto& n : names) width = std::max(width, n.size());
  out += fmt::format("{:<{}}  accuracy\n", "class", width);
  for (std::size_t c = 0; c < acc.size(); ++c) {
    out += fmt::format("{:<{}}  {:6.2f}%\n", c < names.size() ? names[c] : std::to_string(c), width,
                       100.0 * acc[c]);
  }
  out += "\nconfusion matrix (rows: true class, columns: predicted)\n";
  out += fmt::format("{:>4}", "");
  for (std::size_t c = 0; c < r.confusion.size(); ++c) out += fmt::format(" {:>6}", c);
  out += "\n";
  for (std::size_t t = 0; t < r.confusion.size(); ++t) {
    out += fmt::format("{:>4}", t);
    for (std::int64_t v : r.confusion[t]) out += fmt::format(" {:>6}", v);
    out += "\n";
  }
  return out;
}

std::string format_json(const EvalResult& r, const std::vector<std::string>& names) {
  nlohmann::json j;
  j["accuracy"] = r.accuracy;
  j["loss"] = r.loss;
  j["count"] = r.count;
  j["class_names"] = names;
  j["class_accuracy"] = r.class_accuracy();
  j["confusion"] = r.confusion;
  return j.dump(2) + "\n";
}

void write_predictions_csv(const EvalResult& r, const std::string& path) {
  std::string text = "index,label,prediction\n";
  for (std::size_t i = 0; i < r.predictions.size(); ++i) {
    text += fmt::format("{},{},{}\n", i, r.labels[i], r.predictions[i]);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  core::check(static_cast<bool>(out), "cannot write predictions to '{}'", path);
}

}  // namespace lowbit::app
