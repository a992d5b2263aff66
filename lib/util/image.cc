#include "util/image.h"

#include <cstring>

namespace framepair {

RgbImage DownscaleNearest(const RgbImage& in, int scale) {
  RgbImage out;
  out.width = in.width / scale;
  out.height = in.height / scale;
  out.pixels.resize(out.stride() * out.height);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = in.row(y * scale);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      std::memcpy(dst + 3 * x, src + 3 * x * scale, 3);
    }
  }
  return out;
}

void MaskThumbnail(RgbImage* thumb, int source_width, int source_height,
                   const std::vector<PixelRect>& regions, uint8_t value) {
  const int64_t tw = thumb->width;
  const int64_t th = thumb->height;
  for (const PixelRect& r : regions) {
    // Thumbnail column tx covers source columns [tx * W / tw, (tx + 1) * W / tw); it overlaps
    // [r.x, r.x + r.width) iff tx * W < (r.x + r.width) * tw and (tx + 1) * W > r.x * tw.
    for (int64_t ty = 0; ty < th; ++ty) {
      if (ty * source_height >= (int64_t{r.y} + r.height) * th ||
          (ty + 1) * source_height <= int64_t{r.y} * th) {
        continue;
      }
      for (int64_t tx = 0; tx < tw; ++tx) {
        if (tx * source_width >= (int64_t{r.x} + r.width) * tw ||
            (tx + 1) * source_width <= int64_t{r.x} * tw) {
          continue;
        }
        std::memset(thumb->row(static_cast<int>(ty)) + 3 * tx, value, 3);
      }
    }
  }
}

}  // namespace framepair
