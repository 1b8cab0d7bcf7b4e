#include "data/resize.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowbit::data {

namespace {

// Source taps and weight of one output coordinate.
struct Tap {
  std::int64_t i0, i1;
  float f;  // weight of i1; i0 gets 1 - f
};

// Taps for output positions [origin, origin + n) of an axis scaled from `in` to `scaled`.
std::vector<Tap> axis_taps(std::int64_t in, std::int64_t scaled, std::int64_t origin,
                           std::int64_t n) {
  std::vector<Tap> taps(static_cast<std::size_t>(n));
  const double ratio = static_cast<double>(in) / static_cast<double>(scaled);
  for (std::int64_t k = 0; k < n; ++k) {
    double s = (static_cast<double>(origin + k) + 0.5) * ratio - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(in - 1));
    const auto i0 = static_cast<std::int64_t>(std::floor(s));
    const std::int64_t i1 = std::min(i0 + 1, in - 1);
    taps[static_cast<std::size_t>(k)] =
        Tap{i0, i1, static_cast<float>(s - static_cast<double>(i0))};
  }
  return taps;
}

}  // namespace

ResizeCrop resize_crop_geometry(std::int64_t in_h, std::int64_t in_w, std::int64_t resize,
                                std::int64_t crop, const std::string& what) {
  core::check(in_h > 0 && in_w > 0, "{}: empty image ({}x{})", what, in_w, in_h);
  core::check(resize >= 0 && crop >= 0, "{}: resize ({}) and crop ({}) must be >= 0", what, resize,
              crop);
  ResizeCrop g;
  g.scaled_h = in_h;
  g.scaled_w = in_w;
  if (resize > 0) {
    if (in_h <= in_w) {
      g.scaled_h = resize;
      g.scaled_w = std::max<std::int64_t>(1, resize * in_w / in_h);
    } else {
      g.scaled_w = resize;
      g.scaled_h = std::max<std::int64_t>(1, resize * in_h / in_w);
    }
  }
  if (crop > 0) {
    core::check(crop <= g.scaled_h && crop <= g.scaled_w,
                "{}: crop {} is larger than the image after resizing ({}x{}). HINT: set resize "
                ">= crop",
                what, crop, g.scaled_w, g.scaled_h);
    g.out_h = g.out_w = crop;
    g.top = (g.scaled_h - crop) / 2;
    g.left = (g.scaled_w - crop) / 2;
  } else {
    g.out_h = g.scaled_h;
    g.out_w = g.scaled_w;
  }
  return g;
}

void resize_crop_bilinear(const std::uint8_t* in, std::int64_t in_h, std::int64_t in_w,
                          std::int64_t channels, const ResizeCrop& g, float* out) {
  const std::vector<Tap> ty = axis_taps(in_h, g.scaled_h, g.top, g.out_h);
  const std::vector<Tap> tx = axis_taps(in_w, g.scaled_w, g.left, g.out_w);
  const std::int64_t plane = g.out_h * g.out_w;
  const std::int64_t row_stride = in_w * channels;
  for (std::int64_t y = 0; y < g.out_h; ++y) {
    const Tap& a = ty[static_cast<std::size_t>(y)];
    const std::uint8_t* r0 = in + a.i0 * row_stride;
    const std::uint8_t* r1 = in + a.i1 * row_stride;
    for (std::int64_t x = 0; x < g.out_w; ++x) {
      const Tap& b = tx[static_cast<std::size_t>(x)];
      for (std::int64_t c = 0; c < channels; ++c) {
        const float p00 = r0[b.i0 * channels + c], p01 = r0[b.i1 * channels + c];
        const float p10 = r1[b.i0 * channels + c], p11 = r1[b.i1 * channels + c];
        const float top = p00 + (p01 - p00) * b.f;
        const float bottom = p10 + (p11 - p10) * b.f;
        out[c * plane + y * g.out_w + x] = (top + (bottom - top) * a.f) / 255.0f;
      }
    }
  }
}

}  // namespace lowbit::data
