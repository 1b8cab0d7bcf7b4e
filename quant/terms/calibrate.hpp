#pragma once
// Activation-scale calibration for term revealing, as the reference does it (Kung et al.,
// tr_layer.py LinearQuantize / mse_profile; methods.md §6.2):
//
// 1. Accumulate a histogram of a layer's inputs (8192 bins over [-50, 50], torch.histc rules:
//    values outside the range are dropped, the range max falls in the last bin) on a small
//    calibration set (the paper: 5 % of the validation set).
// 2. Bin i stands for x_i = linspace(min, max, bins)[i]. Among the candidate scales
//    linspace(1e-8, max_scale, candidates) (reference: 2048 candidates, max_scale = the
//    histogram's max), pick the first one minimising Σ_i count_i · (x_i - TQ(x_i; sf))², where TQ
//    is the data-term-limited quantizer (quant/terms/reveal.hpp).

#include "core/tensor.hpp"
#include "quant/terms/reveal.hpp"

#include <cstdint>
#include <vector>

namespace lowbit::quant::terms {

class DataHistogram {
 public:
  explicit DataHistogram(int bins = 8192, float min = -50.0f, float max = 50.0f);

  void add(const float* x, std::int64_t n);  // NaN and out-of-range values are ignored
  void add(const core::Tensor& x);           // f32, any shape
  void clear();

  int bins() const { return static_cast<int>(counts_.size()); }
  float min() const { return min_; }
  float max() const { return max_; }
  const std::vector<double>& counts() const { return counts_; }
  double total() const;
  // The value the reference attaches to bin i: min + i · (max - min) / (bins - 1).
  double bin_value(int i) const;

 private:
  float min_;
  float max_;
  std::vector<double> counts_;
};

struct ScaleSearch {
  int candidates = 2048;
  float max_scale = 0.0f;  // 0: the histogram's max (the reference)
};

// The scale for reveal_data(..., options). An empty histogram is an error.
float choose_data_scale(const DataHistogram& hist, const DataTermOptions& options,
                        const ScaleSearch& search = {});

// Σ_i count_i · (x_i - TQ(x_i; scale))² (the quantity choose_data_scale minimises).
double data_scale_error(const DataHistogram& hist, float scale, const TermLimitTable& table);

}  // namespace lowbit::quant::terms
