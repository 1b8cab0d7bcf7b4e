#include "tests/support/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace lowbit::test {
namespace {

double weighted_sum(const Tensor& y, const std::vector<double>& w) {
  const std::vector<float> v = y.to_vector<float>();
  double s = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) s += w[i] * v[i];
  return s;
}

}  // namespace

GradcheckResult gradcheck(const GradFn& f, std::vector<Tensor> inputs, GradcheckOptions opt) {
  for (Tensor& x : inputs) {
    core::check(x.dtype() == core::DType::f32 && x.is_contiguous() && !x.grad_fn(),
                "gradcheck: inputs must be contiguous f32 leaves");
    x.zero_grad();
  }
  // Analytic gradient.
  Tensor y = f(inputs);
  std::mt19937_64 gen(opt.seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> w(static_cast<std::size_t>(y.numel()));
  for (double& v : w) v = dist(gen);
  std::vector<float> wf(w.begin(), w.end());
  if (!y.requires_grad()) return {false, "gradcheck: f's output does not require grad"};
  y.backward(Tensor::from_vector(wf, y.shape()));

  core::NoGradGuard no_grad;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    // No gradient reaching an input means a zero gradient (f may ignore an input).
    const Tensor g = x.grad().defined() ? x.grad() : Tensor::zeros(x.shape());
    if (!(g.shape() == x.shape())) {
      return {false, fmt::format("input {}: gradient shape {} != input shape {}", k, g.shape(),
                                 x.shape())};
    }
    const std::vector<float> analytic = g.to_vector<float>();
    float* p = x.data<float>();
    for (std::int64_t j = 0; j < x.numel(); ++j) {
      const float saved = p[j];
      p[j] = static_cast<float>(saved + opt.step);
      const double plus = weighted_sum(f(inputs), w);
      p[j] = static_cast<float>(saved - opt.step);
      const double minus = weighted_sum(f(inputs), w);
      p[j] = saved;
      const double numeric = (plus - minus) / (2.0 * opt.step);
      const double a = analytic[static_cast<std::size_t>(j)];
      if (std::abs(a - numeric) > opt.atol + opt.rtol * std::abs(numeric)) {
        return {false, fmt::format("input {} {} element {}: analytic {:.6g} vs numeric {:.6g}", k,
                                   x.shape(), j, a, numeric)};
      }
    }
  }
  return {};
}

Tensor uniform(const Shape& shape, float lo, float hi, std::uint64_t seed, bool requires_grad) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (float& x : v) x = dist(gen);
  Tensor t = Tensor::from_vector(v, shape);
  t.set_requires_grad(requires_grad);
  return t;
}

double max_rel_error(const Tensor& a, const Tensor& b) {
  core::check(a.shape() == b.shape(), "max_rel_error: shapes {} and {} differ", a.shape(),
              b.shape());
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  double e = 0.0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    e = std::max(e, std::abs(double(va[i]) - vb[i]) / std::max(1.0, std::abs(double(vb[i]))));
  }
  return e;
}

double max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  core::check(a.size() == b.size(), "max_abs_error: sizes {} and {} differ", a.size(), b.size());
  double e = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(double(a[i]) - b[i]));
  return e;
}

}  // namespace lowbit::test
