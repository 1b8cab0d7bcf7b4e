#include "quant/ebp.hpp"

#include "core/error.hpp"
#include "core/kernels/dispatch.hpp"
#include "core/rng.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace lowbit::quant {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kHalfLog2Pi = 0.91893853320467274178;

double normal_cdf(double z) { return 0.5 * std::erfc(-z * kInvSqrt2); }
double normal_pdf(double z) { return kInvSqrt2Pi * std::exp(-0.5 * z * z); }

// log Phi(z), with the Mills-ratio asymptote where Phi underflows (z < -37 in double).
double log_normal_cdf(double z) {
  const double p = normal_cdf(z);
  if (p > 0.0) return std::log(p);
  return -0.5 * z * z - std::log(-z) - kHalfLog2Pi;
}

// exp(x) for -87 <= x <= 0: Cephes expf (range reduction by ln 2, degree-5 polynomial, |rel.
// error| < 2e-7), branch-free so that the loop of ebp_tanh_sech2 vectorizes. std::exp does not,
// and every field goes through it after each update: it dominated an epoch (16 ns per field).
inline float exp_nonpositive(float x) {
  // n = ceil(x log2(e) - 1/2) (truncation of a non-positive number), so |r| <= ln(2) / 2.
  const int n = static_cast<int>(x * 1.44269504088896341f - 0.5f);
  const float fn = static_cast<float>(n);
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  return e * std::bit_cast<float>(static_cast<std::uint32_t>(n + 127) << 23);
}

}  // namespace

void ebp_tanh_sech2(const float* h, float* t, float* s, std::int64_t n) {
  // With z = exp(-2|h|) in (0, 1]: tanh|h| = (1 - z) / (1 + z), 1 - tanh^2 h = 4z / (1 + z)^2. The
  // second form keeps the variance of a nearly certain weight positive where 1 - t*t rounds to 0.
  // |h| is clamped to 43.5 (exp(-87) keeps 2^n normal) on its bits: a float min is not
  // if-converted without -ffinite-math-only and would stop the vectorizer.
  constexpr std::int32_t kMaxAbsBits = std::bit_cast<std::int32_t>(43.5f);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t abs_bits = std::bit_cast<std::int32_t>(h[i]) & 0x7fffffff;
    const float a = std::bit_cast<float>(abs_bits < kMaxAbsBits ? abs_bits : kMaxAbsBits);
    const float z = exp_nonpositive(-2.0f * a);
    const float inv = 1.0f / (1.0f + z);
    t[i] = std::copysign((1.0f - z) * inv, h[i]);
    s[i] = 4.0f * z * inv * inv;
  }
}

double ebp_output_error(double y, double mu, double var, std::int64_t fan_in) {
  const double sigma = std::sqrt(var);
  const double z = mu / sigma;
  const double norm = std::sqrt(static_cast<double>(fan_in) + 1.0);
  const double e = y * 2.0 * normal_pdf(z) / (sigma * normal_cdf(y * z) * norm);
  if (std::isfinite(e)) return e;
  // phi(z) / Phi(y z) -> -y z as y z -> -inf, so e -> -2 mu / var / norm.
  return y * mu < 0.0 ? -2.0 * mu / var / norm : 0.0;
}

std::vector<std::int64_t> ebp_argmax(const float* scores, std::int64_t batch,
                                     std::int64_t classes) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(batch));
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* row = scores + b * classes;
    out[static_cast<std::size_t>(b)] = std::max_element(row, row + classes) - row;
  }
  return out;
}

EbpNetwork::EbpNetwork(const std::vector<std::int64_t>& sizes, std::uint64_t seed) {
  core::check(sizes.size() >= 2,
              "EBP network: needs at least an input and an output size, got {} sizes",
              sizes.size());
  const core::Rng root(seed);
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    core::check(sizes[l] > 0 && sizes[l + 1] > 0, "EBP network: layer sizes must be positive");
    EbpLayer layer;
    layer.in = sizes[l];
    layer.out = sizes[l + 1];
    layer.h.resize(static_cast<std::size_t>(layer.out * layer.in));
    layer.b.assign(static_cast<std::size_t>(layer.out), 0.0f);
    core::Rng rng = root.fork(l);
    const float scale = std::sqrt(12.0f / static_cast<float>(layer.in));
    for (float& v : layer.h) v = (rng.uniform() - 0.5f) * scale;
    layers_.push_back(std::move(layer));
  }
  for (std::size_t l = 0; l < layers_.size(); ++l) refresh_cache(l);
}

EbpNetwork::EbpNetwork(std::vector<EbpLayer> layers) : layers_(std::move(layers)) {
  core::check(!layers_.empty(), "EBP network: no layers");
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const EbpLayer& layer = layers_[l];
    core::check(layer.in > 0 && layer.out > 0, "EBP network: layer {} has size {}x{}", l, layer.out,
                layer.in);
    core::check(layer.h.size() == static_cast<std::size_t>(layer.in * layer.out) &&
                    layer.b.size() == static_cast<std::size_t>(layer.out),
                "EBP network: layer {} holds {} fields and {} biases for {}x{}", l, layer.h.size(),
                layer.b.size(), layer.out, layer.in);
    core::check(l == 0 || layers_[l - 1].out == layer.in,
                "EBP network: layer {} takes {} inputs, the layer below gives {}", l, layer.in,
                layers_[l - 1].out);
    refresh_cache(l);
  }
}

std::vector<std::int64_t> EbpNetwork::sizes() const {
  std::vector<std::int64_t> out{inputs()};
  for (const auto& layer : layers_) out.push_back(layer.out);
  return out;
}

void EbpNetwork::refresh_cache(std::size_t l) {
  tanh_h_.resize(layers_.size());
  sech2_h_.resize(layers_.size());
  const auto& h = layers_[l].h;
  tanh_h_[l].resize(h.size());
  sech2_h_[l].resize(h.size());
  ebp_tanh_sech2(h.data(), tanh_h_[l].data(), sech2_h_[l].data(),
                 static_cast<std::int64_t>(h.size()));
}

void EbpNetwork::mean_field(const float* x, std::int64_t batch, EbpMeanField& f) const {
  const auto& k = core::kernels::kernels();
  const std::size_t L = layers_.size();
  f.batch = batch;
  f.input.resize(L);
  f.mu.resize(L);
  f.var.resize(L);
  f.input[0].assign(x, x + batch * inputs());
  std::vector<float> sq;  // (B, V): m^2
  for (std::size_t l = 0; l < L; ++l) {
    const EbpLayer& layer = layers_[l];
    const std::int64_t in = layer.in, out = layer.out;
    const std::vector<float>& m = f.input[l];
    sq.resize(m.size());
    for (std::size_t i = 0; i < m.size(); ++i) sq[i] = m[i] * m[i];
    std::vector<float>& mu = f.mu[l];
    std::vector<float>& var = f.var[l];
    mu.resize(static_cast<std::size_t>(batch * out));
    var.resize(mu.size());
    // mu: (B, out) = m (B, in) t^T;  var: (B, out) = m^2 (B, in) s^T
    k.sgemm(false, true, batch, out, in, 1.0f, m.data(), in, tanh_h_[l].data(), in, 0.0f, mu.data(),
            out);
    k.sgemm(false, true, batch, out, in, 1.0f, sq.data(), in, sech2_h_[l].data(), in, 0.0f,
            var.data(), out);
    const float scale = 1.0f / std::sqrt(static_cast<float>(in) + 1.0f);
    const float inv = 1.0f / (static_cast<float>(in) + 1.0f);
    for (std::int64_t b = 0; b < batch; ++b) {
      double r_sum = 0.0;  // sum_j r_j: the inputs of layer 1 are real (r = 0), later ones +-1
      if (l > 0) {
        for (std::int64_t j = 0; j < in; ++j)
          r_sum += 1.0 - sq[static_cast<std::size_t>(b * in + j)];
      }
      const float rs = static_cast<float>(r_sum);
      for (std::int64_t o = 0; o < out; ++o) {
        const auto i = static_cast<std::size_t>(b * out + o);
        mu[i] = (mu[i] + layer.b[static_cast<std::size_t>(o)]) * scale;
        var[i] = (var[i] + rs + 1.0f) * inv;
      }
    }
    if (l + 1 < L) {
      // m = 2 Phi(mu / sigma) - 1 = erf(mu / (sigma sqrt 2))
      std::vector<float>& next = f.input[l + 1];
      next.resize(mu.size());
      for (std::size_t i = 0; i < mu.size(); ++i) {
        next[i] = std::erf(mu[i] / std::sqrt(var[i]) * static_cast<float>(kInvSqrt2));
      }
    }
  }
}

EbpStepStats EbpNetwork::update(const float* x, const std::int64_t* labels, std::int64_t batch) {
  const auto& k = core::kernels::kernels();
  const std::int64_t classes = outputs();
  for (std::int64_t b = 0; b < batch; ++b) {
    core::check(
        labels[b] >= 0 && labels[b] < classes,
        "EBP: label {} is outside the {} outputs. HINT: the last hidden size must be followed by "
        "one output per class",
        labels[b], classes);
  }
  EbpMeanField& f = scratch_;
  mean_field(x, batch, f);

  // Output errors e_L (B, V_L) and the online metrics of the mean field before the update.
  const std::size_t L = layers_.size();
  const std::int64_t fan_in_last = layers_.back().in;
  std::vector<float> e(static_cast<std::size_t>(batch * classes));
  EbpStepStats stats;
  for (std::int64_t b = 0; b < batch; ++b) {
    std::int64_t best = 0;
    double best_z = -std::numeric_limits<double>::infinity();
    for (std::int64_t c = 0; c < classes; ++c) {
      const auto i = static_cast<std::size_t>(b * classes + c);
      const double y = c == labels[b] ? 1.0 : -1.0;
      const double mu = f.mu.back()[i], var = f.var.back()[i];
      const double z = mu / std::sqrt(var);
      e[i] = static_cast<float>(ebp_output_error(y, mu, var, fan_in_last));
      stats.nll -= log_normal_cdf(y * z);
      if (z > best_z) {
        best_z = z;
        best = c;
      }
    }
    stats.correct += best == labels[b];
  }

  std::vector<float> delta;
  for (std::size_t l = L; l-- > 0;) {
    EbpLayer& layer = layers_[l];
    const std::int64_t in = layer.in, out = layer.out;
    // delta (B, in) = e (B, out) tanh(h) (out, in), with this layer's fields before its update.
    if (l > 0) {
      delta.resize(static_cast<std::size_t>(batch * in));
      k.sgemm(false, false, batch, in, out, 1.0f, e.data(), out, tanh_h_[l].data(), in, 0.0f,
              delta.data(), in);
    }
    // h += 1/2 e^T m_{l-1}: (out, in) += (out, B) (B, in);  b += 1/2 sum_batch e.
    k.sgemm(true, false, out, in, batch, 0.5f, e.data(), out, f.input[l].data(), in, 1.0f,
            layer.h.data(), in);
    for (std::int64_t b = 0; b < batch; ++b) {
      for (std::int64_t o = 0; o < out; ++o) {
        layer.b[static_cast<std::size_t>(o)] += 0.5f * e[static_cast<std::size_t>(b * out + o)];
      }
    }
    refresh_cache(l);
    if (l == 0) break;
    // e_{l-1} = delta * 2 phi(mu / sigma) / (sigma sqrt(V + 1)) over the layer below's moments.
    const std::vector<float>& mu = f.mu[l - 1];
    const std::vector<float>& var = f.var[l - 1];
    const double norm = std::sqrt(static_cast<double>(layers_[l - 1].in) + 1.0);
    e.resize(delta.size());
    for (std::size_t i = 0; i < delta.size(); ++i) {
      const double sigma = std::sqrt(static_cast<double>(var[i]));
      e[i] = static_cast<float>(delta[i] * 2.0 * normal_pdf(mu[i] / sigma) / (sigma * norm));
    }
  }
  return stats;
}

void EbpNetwork::predict_probabilistic(const float* x, std::int64_t batch, float* scores) const {
  EbpMeanField f;
  mean_field(x, batch, f);
  const auto& mu = f.mu.back();
  const auto& var = f.var.back();
  for (std::size_t i = 0; i < mu.size(); ++i) {
    scores[i] = mu[i] / std::sqrt(var[i]);
  }
}

void EbpNetwork::predict_deterministic(const float* x, std::int64_t batch, float* scores) const {
  const auto& k = core::kernels::kernels();
  std::vector<float> v(x, x + batch * inputs()), a, w;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const EbpLayer& layer = layers_[l];
    w.resize(layer.h.size());
    for (std::size_t i = 0; i < w.size(); ++i)
      w[i] = layer.h[i] >= 0.0f ? 1.0f : -1.0f;  // sign(0) = +1
    // a (B, out) = v (B, in) sign(h)^T + b
    const bool last = l + 1 == layers_.size();
    if (!last) a.resize(static_cast<std::size_t>(batch * layer.out));
    float* dst = last ? scores : a.data();
    k.sgemm(false, true, batch, layer.out, layer.in, 1.0f, v.data(), layer.in, w.data(), layer.in,
            0.0f, dst, layer.out);
    for (std::int64_t b = 0; b < batch; ++b) {
      for (std::int64_t o = 0; o < layer.out; ++o)
        dst[b * layer.out + o] += layer.b[static_cast<std::size_t>(o)];
    }
    if (!last) {
      v.resize(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) v[i] = a[i] >= 0.0f ? 1.0f : -1.0f;
    }
  }
}

}  // namespace lowbit::quant
