// PNG encode/decode with libpng: 8-bit RGB only (what JoshUpscale's parser accepts).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "util/image.h"

namespace framepair {

// Row filter applied before zlib. kAdaptive lets libpng pick one per row (all five tried).
enum class PngFilter { kNone, kSub, kUp, kAverage, kPaeth, kAdaptive };

struct PngOptions {
  // zlib level 0..9. Default 1: see the measurement below.
  int compression_level = 1;
  PngFilter filter = PngFilter::kAdaptive;
};

// Deterministic: same image + options => same bytes (no timestamps or text chunks).
absl::StatusOr<std::string> EncodePng(const RgbImage& image, const PngOptions& options = {});

// Decodes a PNG. INVALID_ARGUMENT unless it is a valid 8-bit RGB PNG (no alpha, no palette,
// not grey): those are what training accepts.
absl::StatusOr<RgbImage> DecodePng(std::string_view bytes);

}  // namespace framepair
