#include "quant/relaxed_kernels.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>

namespace lowbit::quant::rq_kernels {

bool forward_scalar(const ForwardArgs& a, std::int64_t begin, std::int64_t end) {
  const UniformGrid& grid = a.grid;
  const std::int64_t levels = grid.levels(), mw = a.max_window;
  bool finite = true;
  for (std::int64_t e = begin; e < end; ++e) {
    const float xv = a.x[e];
    if (!std::isfinite(xv)) {
      finite = false;
      continue;
    }
    const Window w = element_window(xv, a);
    const std::int64_t m = w.hi - w.lo + 1;
    float* ze = a.z + e * mw;
    window_log_probs(xv, a.alpha, a.sigma, grid.offset, w, a.log1m_exp_r, ze);
    float top = -std::numeric_limits<float>::infinity();
    std::int64_t arg = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      const auto counter = static_cast<std::uint64_t>(e * levels + (w.lo + j - grid.lo));
      ze[j] = (ze[j] + gumbel_of_bits23(gumbel_bits(a.noise_key, counter))) * a.inv_lambda;
      if (ze[j] > top) {
        top = ze[j];
        arg = j;
      }
    }
    float sum = 0.0f, level_sum = 0.0f;
    for (std::int64_t j = 0; j < m; ++j) {
      ze[j] = fast_exp(ze[j] - top);
      sum += ze[j];
    }
    for (std::int64_t j = 0; j < m; ++j) {
      ze[j] /= sum;
      level_sum += ze[j] * (static_cast<float>(w.lo + j) + grid.offset);
    }
    a.y[e] = a.straight_through ? (static_cast<float>(w.lo + arg) + grid.offset) * a.alpha
                                : level_sum * a.alpha;
    a.windows[2 * e] = w.lo;
    a.windows[2 * e + 1] = w.hi;
  }
  return finite;
}

bool avx2_supported() {
  static const bool ok = [] {
    const char* v = std::getenv("LOWBIT_RQ_KERNEL");
    if (v != nullptr && std::strcmp(v, "scalar") == 0) return false;
    return static_cast<bool>(__builtin_cpu_supports("avx2"));
  }();
  return ok;
}

}  // namespace lowbit::quant::rq_kernels
