// Uploaded footage as the ingest worker opens it: ProbeVideo (container identification, the
// demuxer whitelist, the declared frame sizes), then a straight decode of the first frames
// with the per-frame size limit, and our own per-frame work on them (luma, planes, content
// hash, RGB conversion, thumbnail). The bytes go to a file in tmpfs and through the
// production path unchanged, whitelist included: a memory AVIOContext would bypass the very
// checks (regular file, container probe) that decide what reaches a demuxer.
//
// FFmpeg itself is Debian's, not instrumented: ASan still sees its heap through malloc, but
// coverage guidance comes only from our code, so this mostly explores the whitelisted
// demuxers through the seeds (make-corpus.sh) and their mutations.
#include <chrono>
#include <string>

extern "C" {
#include <libavutil/log.h>
}

#include "fuzz/fuzz_util.h"
#include "media/video.h"

namespace {

// Small enough that a mutated header cannot make a frame cost much, large enough for the seeds.
constexpr int64_t kMaxFramePixels = 256 * 256;
constexpr int kMaxFrames = 8;
constexpr int kThumbWidth = 16, kThumbHeight = 9;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  av_log_set_level(AV_LOG_QUIET);  // damaged input is the point; FFmpeg's complaints are noise
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace framepair;
  const std::string path = fuzz::ScratchDir() + "/footage";
  fuzz::WriteScratchFile(path, data, size);
  DecoderOptions options;
  options.threads = 1;
  options.max_frame_pixels = kMaxFramePixels;
  // Under libFuzzer's -timeout, so a stream that makes FFmpeg spin is stopped by our own
  // deadline (the production defence) before it is reported as a hang.
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);

  absl::StatusOr<VideoInfo> info = ProbeVideo(path, options);
  if (!info.ok()) return 0;
  FP_FUZZ_CHECK(int64_t{info->width} * info->height <= kMaxFramePixels,
                "probe accepted a %dx%d stream", info->width, info->height);
  absl::StatusOr<std::unique_ptr<VideoDecoder>> decoder = VideoDecoder::Open(path, options);
  if (!decoder.ok()) return 0;
  RgbConverter rgb;
  RgbImage image;
  for (int i = 0; i < kMaxFrames; ++i) {
    absl::StatusOr<const DecodedFrame*> frame = (*decoder)->Next();
    if (!frame.ok() || *frame == nullptr) break;
    const DecodedFrame& f = **frame;
    (void)f.ContentHash();
    (void)f.Planes();
    (void)f.Luma();
    if (rgb.ToRgb(f.frame, &image).ok()) {
      FP_FUZZ_CHECK(int64_t{image.width} * image.height <= kMaxFramePixels, "decoded a %dx%d frame",
                    image.width, image.height);
    }
    (void)rgb.Thumbnail(f.frame, kThumbWidth, kThumbHeight, &image);
  }
  return 0;
}
