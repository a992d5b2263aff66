// PNG encode/decode, 8-bit RGB only (what JoshUpscale's parser accepts). Encoding is our own:
// row filters (png_filter.h), deflate from libdeflate (2-4x zlib's speed at equal size), and
// IHDR/IDAT/IEND framing. Decoding is libpng's, so every test that decodes checks the encoder
// against an independent implementation.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "util/image.h"

namespace framepair {

// Row filter applied before deflate (PNG spec 9.2). kAdaptive picks one per row: the filter
// whose output bytes have the smallest sum of absolute values (as libpng does).
enum class PngFilter { kNone, kSub, kUp, kAverage, kPaeth, kAdaptive };

// Levels are libdeflate's: 0 stores, 1 is fastest, 12 is smallest (near-optimal parsing).
inline constexpr int kMaxPngLevel = 12;

// DEFAULTS_TABLE
struct PngOptions {
  // libdeflate level 0..kMaxPngLevel.
  int compression_level = 1;
  PngFilter filter = PngFilter::kUp;
};

// Deterministic: same image + options => same bytes (no timestamps or text chunks).
absl::StatusOr<std::string> EncodePng(const RgbImage& image, const PngOptions& options = {});

// Decodes a PNG. INVALID_ARGUMENT unless it is a valid 8-bit RGB PNG (no alpha, no palette,
// not grey): those are what training accepts.
absl::StatusOr<RgbImage> DecodePng(std::string_view bytes);

}  // namespace framepair
