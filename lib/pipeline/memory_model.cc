#include "pipeline/memory_model.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

int64_t CoreCount() { return std::max<int64_t>(1, std::thread::hardware_concurrency()); }

// Frame tables come from work files another worker wrote: sizes beyond any video FFmpeg
// decodes are clamped so that the products below cannot overflow (and are refused anyway).
constexpr int64_t kMaxPixels = int64_t{1} << 36;

int64_t Pixels(const VideoInfo& video) {
  return std::clamp<int64_t>(int64_t{video.width} * video.height, 0, kMaxPixels);
}

int64_t PaddedFrameBytes(const VideoInfo& video) {
  const int64_t bytes = std::clamp<int64_t>(DecodedFrameBytes(video), 0, 8 * kMaxPixels);
  return bytes * (100 + kDecodedFramePaddingPercent) / 100;
}

}  // namespace

int EffectiveDecoderThreads(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::min(CoreCount() + 1, kMaxAutoDecoderThreads));
}

int EffectivePackThreads(int requested) {
  return requested > 0 ? requested : static_cast<int>(CoreCount());
}

int64_t IngestTaskBytes(const VideoInfo& video, int decoder_threads) {
  const int64_t frames = kDecoderReferenceFrames + decoder_threads + 1;
  return frames * PaddedFrameBytes(video) + kIngestScratchBytesPerPixel * Pixels(video) +
         kTaskFixedBytes;
}

int64_t PackTaskBytes(const VideoInfo& hr, const VideoInfo* lr, int scale, int threads,
                      int decoder_threads, int window) {
  const int64_t hr_frame = PaddedFrameBytes(hr);
  const int64_t lr_frame = lr != nullptr ? PaddedFrameBytes(*lr) : 0;
  const int64_t lr_pixels =
      lr != nullptr ? Pixels(*lr) : Pixels(hr) / std::max<int64_t>(1, int64_t{scale} * scale);
  const int64_t pixels = Pixels(hr) + lr_pixels;
  const int64_t per_decoder = kDecoderReferenceFrames + decoder_threads + 1 + kPackFeedDepth + 1;
  const int64_t in_flight = kPackInFlightPerThread * threads + kPackInFlightPerThread;
  const int64_t windows = kPackLookaheadWindows + kPackExtraPngWindows;
  return per_decoder * (hr_frame + lr_frame) + in_flight * hr_frame +
         threads * kEncoderBytesPerPixel * pixels + windows * window * kPngBytesPerPixel * pixels +
         kTaskFixedBytes;
}

std::string FrameSizeText(const VideoInfo& video) {
  return absl::StrCat(video.width, "x", video.height, " ", video.pixel_format);
}

}  // namespace framepair
