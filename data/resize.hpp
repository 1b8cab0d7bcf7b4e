#pragma once
// Bilinear resize + crop kernel for decoded images (raw pointers, no Tensor).
//
// Sampling convention: half-pixel centres, no antialiasing (OpenCV INTER_LINEAR, PyTorch
// interpolate(mode="bilinear", align_corners=False)). The pixel (y, x) of the scaled image
// (scaled_h, scaled_w) samples the source at
//   sy = (y + 0.5) * in_h / scaled_h - 0.5,  sx = (x + 0.5) * in_w / scaled_w - 0.5,
// clamped to [0, in - 1], interpolating the 2x2 neighbourhood. When scaled == in the result is the
// source exactly.

#include <cstdint>
#include <string>

namespace lowbit::data {

// Where the output window lies in the scaled image.
struct ResizeCrop {
  std::int64_t scaled_h = 0, scaled_w = 0;  // the image after resizing
  std::int64_t top = 0, left = 0;           // crop window origin in the scaled image
  std::int64_t out_h = 0, out_w = 0;        // crop window size
};

// Geometry of "resize the short side to `resize` (0 = keep the size), then center-crop a
// `crop` x `crop` window (0 = no crop)". The long side scales to floor(resize * long / short)
// (as torchvision's Resize(int)); the window starts at floor((scaled - crop) / 2). A crop larger
// than the scaled image throws an Error mentioning `what` (the file).
ResizeCrop resize_crop_geometry(std::int64_t in_h, std::int64_t in_w, std::int64_t resize,
                                std::int64_t crop, const std::string& what);

// in:  (in_h, in_w, channels) u8, interleaved as decoders produce it
// out: (channels, g.out_h, g.out_w) f32 in [0, 1] (value / 255), planar
void resize_crop_bilinear(const std::uint8_t* in, std::int64_t in_h, std::int64_t in_w,
                          std::int64_t channels, const ResizeCrop& g, float* out);

}  // namespace lowbit::data
