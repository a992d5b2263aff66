#include "client/pair_check.h"

#include "absl/strings/str_cat.h"
#include "media/video.h"
#include "util/quote.h"
#include "util/status_macros.h"

namespace framepair::cli {
namespace {

std::string Size(const VideoInfo& v) { return absl::StrCat(v.width, "x", v.height); }

// k when `big` is exactly k times `small` on both sides (k >= 2), else 0.
int Multiple(const VideoInfo& big, const VideoInfo& small) {
  if (small.width <= 0 || small.height <= 0 || big.width % small.width != 0 ||
      big.height % small.height != 0) {
    return 0;
  }
  const int k = big.width / small.width;
  return k >= 2 && big.height / small.height == k ? k : 0;
}

}  // namespace

absl::Status CheckPairLocally(const std::string& lr_path, const std::string& hr_path, int scale,
                              int64_t max_frame_pixels) {
  DecoderOptions options;
  options.max_frame_pixels = max_frame_pixels;
  FP_ASSIGN_OR_RETURN(VideoInfo hr, ProbeVideo(hr_path, options));
  const std::string hr_name = QuoteUserText(hr_path, 1024);
  if (lr_path.empty()) {
    if (hr.width % scale != 0 || hr.height % scale != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--hr ", hr_name, " is ", Size(hr), ", which is not divisible by --scale ",
                       scale, "; crop the recording or choose another --scale"));
    }
    return absl::OkStatus();
  }
  FP_ASSIGN_OR_RETURN(VideoInfo lr, ProbeVideo(lr_path, options));
  const std::string lr_name = QuoteUserText(lr_path, 1024);
  if (hr.width == lr.width * scale && hr.height == lr.height * scale) return absl::OkStatus();
  const std::string sizes =
      absl::StrCat("--lr ", lr_name, " is ", Size(lr), " and --hr ", hr_name, " is ", Size(hr));
  if (const int k = Multiple(lr, hr); k > 0 || (lr.width > hr.width && lr.height > hr.height)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--lr and --hr look swapped: ", sizes,
        "; --lr is the native (small) recording, --hr the one at --scale times its size"));
  }
  if (const int k = Multiple(hr, lr); k > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HR is ", k, "x LR: use --scale ", k, " (", sizes, "; with --scale ", scale,
                     " HR must be exactly ", lr.width * scale, "x", lr.height * scale, ")"));
  }
  if (hr.width == lr.width && hr.height == lr.height) {
    return absl::InvalidArgumentError(
        absl::StrCat(sizes, ": the same size; HR must be exactly --scale ", scale, " x LR (",
                     lr.width * scale, "x", lr.height * scale,
                     "). Without a native-resolution recording, "
                     "pass only --hr with --hr-only"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(sizes, "; with --scale ", scale, " HR must be exactly ", lr.width * scale, "x",
                   lr.height * scale, " (crop or rescale one of them)"));
}

}  // namespace framepair::cli
