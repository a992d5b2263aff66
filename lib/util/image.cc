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

}  // namespace framepair
