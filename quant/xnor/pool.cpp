// Binary max-pool on packed bits, the fast twin: max over +/-1 values is +1 unless every tap is
// -1, i.e. the AND of the taps' words (bit 1 = -1). Padded taps are skipped; 2*pad <= kernel
// leaves every window at least one in-bounds tap, so padding bits stay 0.

#include <algorithm>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor::detail {

void bmaxpool2d_fast(const std::uint64_t* in, const BPoolShape& s, std::uint64_t* out) {
  const i64 words = words_for(s.channels), OH = s.out_h(), OW = s.out_w();
  const i64 rows = s.batch * OH;
#pragma omp parallel for schedule(static) if (rows * OW * words * s.kernel * s.kernel >= (1 << 16))
  for (i64 row = 0; row < rows; ++row) {
    const i64 n = row / OH, oh = row % OH;
    const i64 h0 = std::max<i64>(0, oh * s.stride - s.pad);
    const i64 h1 = std::min(s.in_h, oh * s.stride - s.pad + s.kernel);
    for (i64 ow = 0; ow < OW; ++ow) {
      const i64 w0 = std::max<i64>(0, ow * s.stride - s.pad);
      const i64 w1 = std::min(s.in_w, ow * s.stride - s.pad + s.kernel);
      std::uint64_t* o = out + (row * OW + ow) * words;
      std::fill(o, o + words, ~std::uint64_t{0});
      for (i64 ih = h0; ih < h1; ++ih) {
        for (i64 iw = w0; iw < w1; ++iw) {
          const std::uint64_t* x = in + ((n * s.in_h + ih) * s.in_w + iw) * words;
          for (i64 i = 0; i < words; ++i) o[i] &= x[i];
        }
      }
    }
  }
}

}  // namespace lowbit::quant::xnor::detail
