#include "quant/dcq.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/strings.hpp"
#include "layers/batch_norm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lowbit::quant::dcq {
namespace {

const std::vector<std::pair<std::string, layers::ModulePtr>>& top_children(const layers::Module& root) {
  const auto& children = root.named_children();
  core::check(children.size() >= 2,
              "DCQ: the model '{}' has {} top-level layers; sections need a model built as a sequence of "
              "named layers (mlp, lenet, vgg_small, resnet18, resnet20)",
              root.describe(), children.size());
  return children;
}

bool is_stage_end(const std::string& name) {
  for (const std::string_view prefix : {"pool", "layer"}) {
    if (name.size() > prefix.size() && name.starts_with(prefix) &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      return true;
    }
  }
  return false;
}

std::string child_list(const std::vector<std::pair<std::string, layers::ModulePtr>>& children) {
  std::vector<std::string> names;
  for (const auto& [name, m] : children) names.push_back(name);
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

std::vector<std::string> stage_boundaries(const layers::Module& root) {
  const auto& children = top_children(root);
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 1 < children.size(); ++i) {
    if (is_stage_end(children[i].first)) out.push_back(children[i].first);
  }
  return out;
}

std::vector<Section> plan_sections(const layers::Module& root, const std::vector<std::string>& split_after,
                                   std::int64_t auto_sections) {
  const auto& children = top_children(root);
  std::vector<std::string> splits = split_after;
  if (auto_sections > 0) {
    core::check(split_after.empty(),
                "distill: give either split points or auto, not both. HINT: remove distill.splits or set "
                "distill.auto: 0");
    const auto candidates = stage_boundaries(root);
    const auto cuts = static_cast<std::size_t>(auto_sections - 1);
    core::check(cuts <= candidates.size(),
                "distill.auto: {} sections need {} stage boundaries, but the model has {} ({}). HINT: use "
                "distill.auto: {} or name the split points in distill.splits",
                auto_sections, cuts, candidates.size(), fmt::join(candidates, ", "), candidates.size() + 1);
    splits.clear();
    // Spread the cuts evenly over the K candidates: cut j after candidate round((j+1) K / N) - 1,
    // kept strictly increasing and leaving room for the cuts after it.
    std::size_t previous = 0;
    for (std::size_t j = 0; j < cuts; ++j) {
      const double at = std::round(static_cast<double>((j + 1) * candidates.size()) /
                                   static_cast<double>(auto_sections));
      std::size_t k = static_cast<std::size_t>(std::max(1.0, at)) - 1;
      if (j > 0) k = std::max(k, previous + 1);
      k = std::min(k, candidates.size() - (cuts - j));
      splits.push_back(candidates[k]);
      previous = k;
    }
  }
  std::vector<std::size_t> ends;  // one past the last child of each section but the last
  for (const auto& name : splits) {
    const auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == name; });
    if (it == children.end()) {
      std::vector<std::string> names;
      for (const auto& c : children) names.push_back(c.first);
      const std::string near = core::closest_match(name, names);
      core::fail("distill.splits: the model has no top-level layer '{}'{}. Its layers: {}", name,
                 near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), child_list(children));
    }
    const auto end = static_cast<std::size_t>(it - children.begin()) + 1;
    core::check(end < children.size(), "distill.splits: '{}' is the last layer; a split point must have layers after it",
                name);
    core::check(ends.empty() || end > ends.back(),
                "distill.splits: '{}' is repeated or out of model order; list split points in the order of the "
                "model's layers ({})",
                name, child_list(children));
    ends.push_back(end);
  }
  ends.push_back(children.size());
  std::vector<Section> sections;
  std::size_t begin = 0;
  for (const std::size_t end : ends) {
    sections.push_back({begin, end, children[begin].first, children[end - 1].first});
    begin = end;
  }
  return sections;
}

std::string describe(const Section& s) {
  return s.first == s.last ? s.first : fmt::format("{}..{}", s.first, s.last);
}

Tensor run_children(layers::Module& root, std::size_t begin, std::size_t end, const Tensor& x) {
  const auto& children = root.named_children();
  core::check(begin <= end && end <= children.size(), "DCQ: layers [{}, {}) out of range of {} layers", begin,
              end, children.size());
  Tensor h = x;
  for (std::size_t i = begin; i < end; ++i) h = (*children[i].second)(h);
  return h;
}

SectionModule::SectionModule(layers::Module& root, const Section& section) {
  const auto& children = root.named_children();
  core::check(section.end <= children.size(), "DCQ: section {} does not fit a model of {} layers",
              dcq::describe(section), children.size());
  for (std::size_t i = section.begin; i < section.end; ++i) register_module(children[i].first, children[i].second);
}

Tensor SectionModule::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, child] : named_children()) h = (*child)(h);
  return h;
}

RegressionLoss parse_regression_loss(const std::string& name) {
  if (name == "mse") return RegressionLoss::mse;
  if (name == "l1") return RegressionLoss::l1;
  if (name == "huber") return RegressionLoss::huber;
  core::fail("distill.loss '{}' is not a section loss (mse, l1, huber)", name);
}

Tensor regression_loss(RegressionLoss kind, const Tensor& student, const Tensor& teacher, double huber_delta) {
  core::check(student.shape() == teacher.shape(), "DCQ: student section output {} differs from the teacher's {}",
              student.shape(), teacher.shape());
  const Tensor d = student - teacher;
  switch (kind) {
    case RegressionLoss::mse:
      return core::mean(d * d);
    case RegressionLoss::l1:
      return core::mean(core::abs(d));
    case RegressionLoss::huber: {
      // q = min(|d|, delta): 0.5 q^2 + delta (|d| - q) is 0.5 d^2 inside and delta (|d| - delta/2) outside.
      const auto delta = static_cast<float>(huber_delta);
      const Tensor a = core::abs(d);
      const Tensor q = core::clamp(a, 0.0f, delta);
      return core::mean(0.5f * q * q + delta * (a - q));
    }
  }
  core::fail("DCQ: unknown section loss");
}

std::int64_t recalibrate_batch_norm(layers::Module& model, const std::function<std::optional<Tensor>()>& next_batch,
                                    std::int64_t batches) {
  std::vector<std::pair<layers::BatchNorm*, double>> norms;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<layers::BatchNorm*>(m)) norms.emplace_back(bn, bn->options().momentum);
  }
  if (norms.empty() || batches <= 0) return 0;
  const bool was_training = model.is_training();
  // Only the BNs see batch statistics; every other layer (quantizers, dropout) behaves as at inference.
  model.eval();
  for (auto& [bn, momentum] : norms) {
    bn->train();
    Tensor mean = bn->running_mean(), var = bn->running_var();
    mean.fill_(0.0);
    var.fill_(1.0);
  }
  core::NoGradGuard no_grad;
  std::int64_t used = 0;
  while (used < batches) {
    const std::optional<Tensor> x = next_batch();
    if (!x) break;
    ++used;
    for (auto& [bn, momentum] : norms) bn->set_momentum(1.0 / static_cast<double>(used));
    (void)model(*x);
  }
  for (auto& [bn, momentum] : norms) bn->set_momentum(momentum);
  model.train(was_training);
  return used;
}

}  // namespace lowbit::quant::dcq
