// PNG encode/decode, 8-bit RGB only (what JoshUpscale's parser accepts). Encoding is our own:
// row filters (png_filter.h), deflate from libdeflate (at level 1, 1.3-2.3x the speed of zlib's
// level 1 and 5-13 % smaller; table below), and IHDR/IDAT/IEND framing. Decoding is libpng's, so every test that decodes checks the encoder
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

// Defaults: level 1 with the Up filter. Measured on 1280x720 frames that went through libx264
// crf 18 (mandelbrot; testsrc2 with grain; blurred cellauto texture) and one 1920x1080
// testsrc2 frame, libdeflate 1.14, thread CPU time on a loaded 2-core machine
// (build/bench/framepair_micro_bench with FRAMEPAIR_BENCH_PNG, docs/benchmarks.md):
//   level/filter        mandelbrot      testsrc2+grain    cellauto        1080p testsrc2
//   zlib 1 up (before)  577 KB  18 ms   1944 KB  65 ms    766 KB  24 ms   339 KB  19 ms
//   1 up                537 KB  11 ms   1848 KB  29 ms    666 KB  11 ms   315 KB  14 ms *
//   1 paeth             557 KB  13 ms   1870 KB  30 ms    650 KB  11 ms   306 KB  23 ms
//   1 adaptive          553 KB  18 ms   1759 KB  33 ms    650 KB  14 ms   300 KB  30 ms
//   2 up                520 KB  13 ms   1897 KB  41 ms    565 KB  14 ms   315 KB  14 ms
//   6 up                489 KB  25 ms   1880 KB  63 ms    528 KB  50 ms   307 KB  16 ms
//   12 up               443 KB  1.2 s   1755 KB 202 ms    462 KB 788 ms   289 KB 581 ms
// (* level 1 on a flat frame runs libdeflate's level 2, see EffectiveLevel in png.cc.) Level 1
// Up is the fastest setting or within 10 % of it, and smaller than the zlib output it
// replaced; Up filtering costs 0.1 ms per 720p frame, adaptive 4 ms.
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
