// Plain pixel containers shared by every pipeline step. No FFmpeg types here so that
// domain code (dedup, align, scene, png) stays independent of libav*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace framepair {

// Packed 8-bit RGB (RGB24), row-major, rows tightly packed (stride = 3 * width).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  size_t stride() const { return static_cast<size_t>(width) * 3; }
  const uint8_t* row(int y) const { return pixels.data() + y * stride(); }
  uint8_t* row(int y) { return pixels.data() + y * stride(); }
  bool operator==(const RgbImage&) const = default;
};

// A read-only view of one 8-bit plane (for example the luma plane of a decoded frame).
// Does not own the memory; valid as long as the frame it came from.
struct PlaneView {
  const uint8_t* data = nullptr;
  int stride = 0;  // bytes between rows; may exceed width
  int width = 0;
  int height = 0;
};

// An 8-bit planar YUV picture: Y, then U and V (count 3), or Y alone (count 1, grey). A chroma
// plane is AV_CEIL_RSHIFT(luma size, log2_chroma_w/h) pixels, as in FFmpeg.
struct YuvView {
  PlaneView planes[3];
  int count = 0;
  int log2_chroma_w = 0;
  int log2_chroma_h = 0;
};

// A rectangle in a picture's pixels: columns [x, x + width), rows [y, y + height).
struct PixelRect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  bool operator==(const PixelRect&) const = default;
};

// Sets to `value` every pixel of an area-averaged thumbnail whose source area (in a
// source_width x source_height picture) overlaps one of `regions` (source pixels). Exact
// integer arithmetic, so the LR thumbnail with region r and the HR thumbnail with r * scale
// mask the same thumbnail pixels.
void MaskThumbnail(RgbImage* thumb, int source_width, int source_height,
                   const std::vector<PixelRect>& regions, uint8_t value = 0);

// Nearest-neighbour downscale by an integer factor: out(x, y) = in(s*x, s*y), the
// JoshUpscale convention (HR[::s, ::s]). Requires in.width and in.height divisible by s.
RgbImage DownscaleNearest(const RgbImage& in, int scale);

}  // namespace framepair
