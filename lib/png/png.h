// PNG encode/decode, 8-bit RGB only (what JoshUpscale's parser accepts). Encoding is our own:
// row filters (png_filter.h), deflate, and IHDR/IDAT/IEND framing. Level 1, the default, is
// fast_deflate.h's run-only encoder (4x libdeflate's level 1 on the benchmark footage, and
// smaller there); levels 2-12 are libdeflate's. Decoding is libpng's, so every test that
// decodes checks the encoder against an independent implementation.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "util/image.h"

namespace framepair {

// Row filter applied before deflate (PNG spec 9.2). kAdaptive picks one per row: the filter
// whose output bytes have the smallest sum of absolute values (as libpng does).
enum class PngFilter { kNone, kSub, kUp, kAverage, kPaeth, kAdaptive };

// Level 0 stores, 1 is the fastest (fast_deflate.h), 2..12 are libdeflate's levels (12 is
// smallest, near-optimal parsing).
inline constexpr int kMaxPngLevel = 12;

// Defaults: level 1 with the Up filter. Thread CPU time per frame, Up filter, on frames that
// went through libx264 (the bench/run.sh footage, testsrc2 crf 18; a Doom capture at crf 23)
// and one lossless Doom render, loaded 2-core machine (docs/benchmarks.md has the command):
//   encoder               720p testsrc2    1080p testsrc2   640x480 Doom     Doom lossless
//   libdeflate 1 (before) 165 KB  9.6 ms   339 KB  20.0 ms  364 KB  5.2 ms   171 KB
//   libdeflate 2          161 KB           332 KB
//   level 1 (runs only)   151 KB  2.4 ms   317 KB   4.7 ms  382 KB  4.5 ms   177 KB
// Level 1 is 4x faster than libdeflate's level 1 on the footage and 5-8 % smaller; on the Doom
// frames, whose textures repeat at distances a run cannot reach, it is 3-5 % larger (issue
// 12 allows 10 %).
struct PngOptions {
  // 0..kMaxPngLevel, see above.
  int compression_level = 1;
  PngFilter filter = PngFilter::kUp;
};

// Deterministic: same image + options => same bytes (no timestamps or text chunks).
absl::StatusOr<std::string> EncodePng(const RgbImage& image, const PngOptions& options = {});

// Decodes a PNG. INVALID_ARGUMENT unless it is a valid 8-bit RGB PNG (no alpha, no palette,
// not grey): those are what training accepts.
absl::StatusOr<RgbImage> DecodePng(std::string_view bytes);

}  // namespace framepair
