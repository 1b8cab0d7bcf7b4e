#include "optim/bop.hpp"

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "optim/kernels.hpp"

#include <algorithm>
#include <cmath>

namespace lowbit::optim {

namespace kernels {

std::int64_t bop_update(float* w, const float* g, float* m, std::int64_t n, double gamma,
                        double threshold) {
  const float keep = static_cast<float>(1.0 - gamma);
  const float rate = static_cast<float>(gamma);
  const float tau = static_cast<float>(threshold);
  std::int64_t flips = 0;
#pragma omp parallel for simd reduction(+ : flips) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const float mi = keep * m[i] + rate * g[i];
    m[i] = mi;
    const float wi = w[i];
    const bool flip = wi * mi > tau;
    w[i] = flip ? -wi : wi;
    flips += flip ? 1 : 0;
  }
  return flips;
}

std::int64_t find_non_binary(const float* w, std::int64_t n) {
  std::int64_t first = n;
#pragma omp parallel for reduction(min : first) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    if (w[i] != 1.0f && w[i] != -1.0f) first = std::min(first, i);
  }
  return first;
}

}  // namespace kernels

void visit_fields(BopOptions& o, FieldVisitor& v) {
  v.field("lr", o.lr);
  v.field("threshold", o.threshold);
}

namespace {

void check_gamma(double gamma, const char* what) {
  core::check(std::isfinite(gamma) && gamma >= 0.0 && gamma <= 1.0,
              "bop: {} (gamma, the adaptivity rate) must be in [0, 1], got {}. HINT: Larq's "
              "default is 1e-4; the LR schedule scales it",
              what, gamma);
}

}  // namespace

Bop::Bop(std::vector<ParamGroup> groups, const BopOptions& options)
    : Optimizer(std::move(groups), options.lr, {"m"}), options_(options) {
  check_gamma(options.lr, "lr");
  core::check(std::isfinite(options.threshold) && options.threshold >= 0.0,
              "bop: threshold must be finite and >= 0, got {}", options.threshold);
  for (const ParamGroup& group : this->groups()) {
    core::check(group.weight_decay == 0.0,
                "bop: group '{}' has weight_decay {}, but Bop has no weight decay (its weights "
                "are +-1). HINT: set weight_decay to 0 for the binary parameters",
                group.name, group.weight_decay);
  }
}

void Bop::set_lr(double lr) {
  check_gamma(lr, "lr");
  Optimizer::set_lr(lr);
}

double Bop::last_flip_ratio() const {
  return last_updated_ == 0 ? 0.0
                            : static_cast<double>(last_flips_) / static_cast<double>(last_updated_);
}

StepStats Bop::step_stats() const {
  return {{"flips", static_cast<double>(last_flips_)}, {"flip_ratio", last_flip_ratio()}};
}

void Bop::step() {
  core::NoGradGuard no_grad;
  // Check everything first, so a bad parameter leaves the whole step undone.
  for (std::size_t g = 0; g < groups().size(); ++g) {
    const ParamGroup& group = groups()[g];
    check_gamma(group_lr(g), "the group LR (lr * lr_scale)");
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const core::Tensor& p = group.params[i];
      if (!p.grad().defined()) continue;
      const std::int64_t bad = kernels::find_non_binary(p.data<float>(), p.numel());
      core::check(bad == p.numel(),
                  "bop: parameter '{}' holds {} at element {}, but Bop needs weights of exactly "
                  "+1 or -1. HINT: call binarize_in_place on the binary weights before training, "
                  "and route only binary weights to Bop",
                  group.param_names[i], p.data<float>()[bad], bad);
    }
  }
  std::int64_t flips = 0;
  std::int64_t updated = 0;
  for (std::size_t g = 0; g < groups().size(); ++g) {
    const ParamGroup& group = groups()[g];
    const double gamma = group_lr(g);
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      core::Tensor p = group.params[i];
      const core::Tensor grad = contiguous_grad(p);
      if (!grad.defined()) continue;
      ParamState& s = state(g, i);
      float* m = buffer(s, 0, p).data<float>();
      flips += kernels::bop_update(p.data<float>(), grad.data<float>(), m, p.numel(), gamma,
                                   options_.threshold);
      updated += p.numel();
      ++s.step;
    }
  }
  last_flips_ = flips;
  last_updated_ = updated;
}

std::unique_ptr<Optimizer> make_bop(const NamedParams& params, const BopOptions& options) {
  return std::make_unique<Bop>(make_single_group(params, 0.0), options);
}

void binarize_in_place(core::Tensor t) {
  core::check(t.defined() && t.dtype() == core::DType::f32 && t.is_contiguous(),
              "binarize_in_place: needs a defined, contiguous f32 tensor");
  float* x = t.data<float>();
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    core::check(!std::isnan(x[i]), "binarize_in_place: element {} is NaN", i);
    x[i] = x[i] < 0.0f ? -1.0f : 1.0f;  // sign(0) = sign(-0) = +1
  }
}

}  // namespace lowbit::optim
