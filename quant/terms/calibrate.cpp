#include "quant/terms/calibrate.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cmath>

namespace lowbit::quant::terms {

DataHistogram::DataHistogram(int bins, float min, float max) : min_(min), max_(max) {
  core::check(bins >= 2, "DataHistogram: needs at least 2 bins, got {}", bins);
  core::check(min < max, "DataHistogram: range [{}, {}] is empty", min, max);
  counts_.assign(static_cast<std::size_t>(bins), 0.0);
}

void DataHistogram::add(const float* x, std::int64_t n) {
  const double lo = min_;
  const double width = static_cast<double>(max_) - lo;
  const int nb = bins();
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!(v >= min_ && v <= max_)) continue;  // also drops NaN
    int b = static_cast<int>((static_cast<double>(v) - lo) / width * nb);
    if (b >= nb) b = nb - 1;
    counts_[static_cast<std::size_t>(b)] += 1.0;
  }
}

void DataHistogram::add(const core::Tensor& x) {
  core::check(x.defined() && x.dtype() == core::DType::f32,
              "DataHistogram::add: input must be a defined f32 tensor");
  const core::Tensor xc = x.contiguous();
  add(xc.data<float>(), xc.numel());
}

void DataHistogram::clear() { std::fill(counts_.begin(), counts_.end(), 0.0); }

double DataHistogram::total() const {
  double t = 0.0;
  for (double c : counts_) t += c;
  return t;
}

double DataHistogram::bin_value(int i) const {
  return min_ + static_cast<double>(i) * (static_cast<double>(max_) - min_) / (bins() - 1);
}

double data_scale_error(const DataHistogram& hist, float scale, const TermLimitTable& table) {
  double err = 0.0;
  const std::vector<double>& counts = hist.counts();
  for (int i = 0; i < hist.bins(); ++i) {
    const double c = counts[static_cast<std::size_t>(i)];
    if (c == 0.0) continue;
    const auto x = static_cast<float>(hist.bin_value(i));
    const std::int32_t q = quantize_code(x, scale, table.bits());
    const float xh = static_cast<float>(table.kept_code(q)) * scale;
    const double d = static_cast<double>(x) - xh;
    err += c * d * d;
  }
  return err;
}

float choose_data_scale(const DataHistogram& hist, const DataTermOptions& options,
                        const ScaleSearch& search) {
  core::check(hist.total() > 0.0,
              "choose_data_scale: the histogram is empty. HINT: add calibration inputs first");
  core::check(search.candidates >= 2, "choose_data_scale: needs at least 2 candidates, got {}",
              search.candidates);
  const double lo = 1e-8;
  const double hi = search.max_scale > 0.0f ? search.max_scale : hist.max();
  core::check(hi > lo, "choose_data_scale: max_scale {} is not above 1e-8", hi);
  const TermLimitTable table(options.bits, options.terms, options.encoding);
  float best = 0.0f;
  double best_err = 0.0;
  for (int k = 0; k < search.candidates; ++k) {
    const auto sf = static_cast<float>(lo + (hi - lo) * k / (search.candidates - 1));
    const double err = data_scale_error(hist, sf, table);
    if (k == 0 || err < best_err) {  // strict: the first minimum wins, as torch.argmin
      best = sf;
      best_err = err;
    }
  }
  return best;
}

}  // namespace lowbit::quant::terms
