#pragma once
// Expectation BackPropagation (EBP; Soudry, Hubara, Meir, NeurIPS 2014; methods.md 3a) for fully
// connected networks with binary weights and binary neurons.
//
// Each weight has a real field h: P(W = +-1) is proportional to exp(+-h), so <W> = tanh h and
// Var W = 1 - tanh^2 h.
// Biases are deterministic reals, hidden neurons are v = sign(u) (sign(0) = +1) and the V_L outputs
// are one-vs-rest with targets y_k = +-1. Training is an analytic, parameter-free (eta = 1, no
// learning rate) assumed-density update of h and b, one per mini-batch (the original is online,
// batch = 1; the authors' MATLAB uses 10). No autograd: plain float buffers, sgemm through the
// core kernel dispatch.
//
// Mean field of layer l over inputs with means m (B, V) and variances r = 1 - m^2 (r = 0 for the
// real input of layer 1), with t = tanh h and s = 1 - t^2:
//   mu  = (t m + b) / sqrt(V + 1)
//   var = (sum_j r_j + s m^2 + 1) / (V + 1)        (s m^2 = s (1 - r): the two formulas of 3a in
//   one) P(v = +1) = Phi(mu / sigma);  m_out = 2P - 1;  r_out = 4P(1 - P)
// The "+1" in var is a unit of Gaussian noise in the bias slot: a Monte-Carlo check must sample it
// too (tests/quant/test_ebp.cpp).

#include <cstdint>
#include <vector>

namespace lowbit::quant {

// One fully connected layer under the mean-field posterior.
struct EbpLayer {
  std::int64_t in = 0, out = 0;
  std::vector<float> h;  // (out, in) row-major: the fields
  std::vector<float> b;  // (out): deterministic biases
};

// Pre-activation moments of one mean-field pass: per layer l = 0..L-1 its input means (B, V_l)
// (input[0] is the batch itself) and its mu, var (B, V_{l+1}).
struct EbpMeanField {
  std::int64_t batch = 0;
  std::vector<std::vector<float>> input, mu, var;
};

// What one update saw before it changed anything (the "online" train metrics).
struct EbpStepStats {
  double nll = 0.0;          // sum over the batch of -sum_k log Phi(y_k mu_k / sigma_k)
  std::int64_t correct = 0;  // EBP-P argmax hits
};

class EbpNetwork {
 public:
  // sizes = {V_0, V_1, ..., V_L}, L >= 1. h ~ U(-1/2, 1/2) * sqrt(12 / V_{l-1}) (the authors'
  // init, sigma_w = 1), b = 0; reproducible from `seed`.
  EbpNetwork(const std::vector<std::int64_t>& sizes, std::uint64_t seed);
  // Stored fields (a checkpoint). Shapes are checked: each layer's `in` is the previous `out`.
  explicit EbpNetwork(std::vector<EbpLayer> layers);

  const std::vector<EbpLayer>& layers() const { return layers_; }
  std::int64_t inputs() const { return layers_.front().in; }
  std::int64_t outputs() const { return layers_.back().out; }
  std::vector<std::int64_t> sizes() const;

  // Mean-field forward pass. x: (B, V_0).
  void mean_field(const float* x, std::int64_t batch, EbpMeanField& out) const;

  // One EBP update from a batch (x: (B, V_0), labels: (B) in [0, V_L)): the output error with the
  // asymptote where Phi underflows, hidden errors through tanh(h) of the layer above (before it is
  // updated), then h += 1/2 e m^T and b += 1/2 sum_batch e per layer, top to bottom.
  EbpStepStats update(const float* x, const std::int64_t* labels, std::int64_t batch);

  // EBP-P scores (B, V_L): z = mu_L / sigma_L. The EBP-P output, the posterior average
  // 2 Phi(z) - 1, is a strictly increasing function of z, so it has the same argmax; z itself is
  // returned because 2 Phi(z) - 1 rounds to 1 in float from z ~ 4 on, and ties there would decide
  // the class by index.
  void predict_probabilistic(const float* x, std::int64_t batch, float* scores) const;
  // EBP-D scores (B, V_L): W = sign(h), v_l = sign(W v_{l-1} + b), the final affine output.
  void predict_deterministic(const float* x, std::int64_t batch, float* scores) const;

 private:
  void refresh_cache(std::size_t layer);

  std::vector<EbpLayer> layers_;
  std::vector<std::vector<float>> tanh_h_;  // per layer (out, in): tanh h
  std::vector<std::vector<float>>
      sech2_h_;           // per layer (out, in): 1 - tanh^2 h, computed without cancellation
  EbpMeanField scratch_;  // reused by update()
};

// The output-layer error of 3a for one unit: y * 2 phi(z) / (sigma Phi(y z) sqrt(V + 1)) with
// z = mu / sigma, and where that is not finite (Phi(y z) underflows) its limit
// -2 * 1[y mu < 0] * mu / var / sqrt(V + 1). Note: methods.md and the authors' code write the limit
// with an extra factor y, which flips its sign for y = -1; the limit of the exact formula has none.
double ebp_output_error(double y, double mu, double var, std::int64_t fan_in);

// t = tanh h and s = 1 - tanh^2 h over n values (a vectorizable exp; |error| < 1e-6).
void ebp_tanh_sech2(const float* h, float* t, float* s, std::int64_t n);

// Index of the largest score in each row of (B, K) scores (ties: the lowest index).
std::vector<std::int64_t> ebp_argmax(const float* scores, std::int64_t batch, std::int64_t classes);

}  // namespace lowbit::quant
