// PNG encode/decode with libpng: 8-bit RGB only (what JoshUpscale's parser accepts).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "util/image.h"

namespace framepair {

// Row filter applied before zlib. kAdaptive lets libpng try all five on every row.
enum class PngFilter { kNone, kSub, kUp, kAverage, kPaeth, kAdaptive };

// Defaults: level 1 with the Up filter. Measured on three 1280x720 frames that went through
// libx264 (mandelbrot; testsrc2 with grain; blurred cellauto texture), libpng 1.6.39, thread
// CPU time, best of 8:
//   level/filter      mandelbrot        testsrc2+grain     cellauto
//   1 up              538 KB  17 ms     885 KB  27 ms      1091 KB  28 ms
//   1 paeth           560 KB  24 ms     852 KB  37 ms      1061 KB  44 ms
//   1 adaptive        564 KB  34 ms     852 KB  50 ms      1061 KB  62 ms
//   3 adaptive        538 KB  43 ms     784 KB  76 ms       950 KB  78 ms
//   6 adaptive        505 KB  80 ms     688 KB 202 ms       974 KB 224 ms
//   6 up              497 KB  50 ms     725 KB 151 ms       977 KB 242 ms
// At level 1 Up is the fastest filter (None is slower and 10-25% larger) and within 5% of the
// smallest output; level 6 saves 10-20% of bytes for 3-7x the time, and PNG encoding is what
// dominates the packer's run time.
struct PngOptions {
  // zlib level 0..9.
  int compression_level = 1;
  PngFilter filter = PngFilter::kUp;
};

// Deterministic: same image + options => same bytes (no timestamps or text chunks).
absl::StatusOr<std::string> EncodePng(const RgbImage& image, const PngOptions& options = {});

// Decodes a PNG. INVALID_ARGUMENT unless it is a valid 8-bit RGB PNG (no alpha, no palette,
// not grey): those are what training accepts.
absl::StatusOr<RgbImage> DecodePng(std::string_view bytes);

}  // namespace framepair
