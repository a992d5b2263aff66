// PNG encode/decode, 8-bit RGB only (what JoshUpscale's parser accepts). Encoding is our own:
// row filters (png_filter.h), deflate, and IHDR/IDAT/IEND framing. Level 1, the default, is
// fast_deflate.h's run-only encoder (2-3x faster than libdeflate on the benchmark footage, and
// smaller there) where a probe of the frame says runs suffice, libdeflate's level 1 elsewhere
// (textured content: png.cc RunsSuffice); levels 2-12 are libdeflate's. Decoding is libpng's, so every test that
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

// Defaults: level 1 with the Up filter. Thread CPU time per frame on frames that went through
// libx264 (the bench/run.sh footage, testsrc2 crf 18; the scripts/capture-game.sh Doom capture,
// crf 23) and one lossless Doom render, loaded 2-core machine (docs/benchmarks.md, fourth round
// of issue 12, has the command and every level):
//   encoder (Up filter)        720p testsrc2    1080p testsrc2   640x480 Doom    Doom lossless
//   libdeflate 1 (before; 2 on 157 KB  6.1 ms   324 KB  15.0 ms  305 KB  5.0 ms  167 KB
//     frames >= 85 % zeros)
//   level 1 (runs only)        148 KB  2.6 ms   310 KB   5.3 ms  344 KB  4.9 ms  173 KB
//   level 2 (libdeflate 2)     157 KB  6.5 ms   324 KB  13.3 ms  280 KB  6.8 ms  149 KB
// Level 1 costs 2.3-2.8x less CPU on the footage and is 4-6 % smaller there; on the Doom frames,
// whose textures repeat further away than a run reaches, runs alone were 3 % (lossless) and 13 %
// (H.264) larger, and no faster. So level 1 first compresses a 64 KiB slice from the middle of
// the frame with runs alone, and where that does not shrink it to a fifth (the Doom frames: over
// a third), encodes the frame with libdeflate's level 1 instead: the old size, for the probe's
// few percent of extra time. Level 2 is smaller still on such content.
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
