// PNG row filters (PNG spec 9) for 8-bit RGB, as loops GCC vectorises: the encoder's hot path
// besides deflate. Separate from png.h so the micro-benchmark can time them alone.
#pragma once

#include <cstddef>
#include <cstdint>

#include "png/png.h"

namespace framepair {

// Writes the filtered image PNG's IDAT compresses: for each row, one filter-type byte and then
// the stride filtered bytes, height * (1 + stride) bytes in all. kAdaptive picks, per row, the
// filter whose output has the smallest sum of absolute signed bytes (the heuristic of the PNG
// spec and of libpng). Deterministic: depends on the pixels only.
void FilterImage(const RgbImage& image, PngFilter filter, uint8_t* out);

}  // namespace framepair
