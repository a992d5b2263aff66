#include "ingest/ingest.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

// Often enough for a live progress bar, rarely enough to cost nothing (about 1 s of 30 fps
// footage between calls).
constexpr int64_t kProgressEvery = 30;

absl::Status CheckIgnoreRegions(const std::vector<PixelRect>& regions, const VideoInfo& video) {
  for (const PixelRect& r : regions) {
    const bool inside = r.x >= 0 && r.y >= 0 && r.width > 0 && r.height > 0 &&
                        int64_t{r.x} + r.width <= video.width &&
                        int64_t{r.y} + r.height <= video.height;
    if (!inside) {
      return absl::InvalidArgumentError(
          absl::StrCat(video.path, ": --ignore-region ", r.x, ",", r.y, ",", r.width, ",", r.height,
                       " (in this recording's pixels) is not inside its ", video.width, "x",
                       video.height, " frame"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<double> FrameTable::seconds(int64_t frame) const {
  if (frame < 0 || frame >= static_cast<int64_t>(frames.size()) || video.time_base_num <= 0 ||
      video.time_base_den <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(frames[static_cast<size_t>(frame)].pts) * video.time_base_num /
         video.time_base_den;
}

int64_t FrameTable::exact_duplicates() const {
  return std::count_if(frames.begin(), frames.end(),
                       [](const FrameRecord& f) { return f.dup == DupKind::kExact; });
}

int64_t FrameTable::noise_duplicates() const {
  return std::count_if(frames.begin(), frames.end(),
                       [](const FrameRecord& f) { return f.dup == DupKind::kNoise; });
}

std::vector<FramePosition> FrameTable::positions() const {
  std::vector<FramePosition> out;
  out.reserve(frames.size());
  for (const FrameRecord& f : frames) out.push_back({f.pts, f.keyframe});
  return out;
}

int ThumbHeightFor(int width, int height, int thumb_width) {
  if (width <= 0 || height <= 0 || thumb_width <= 0) return 1;
  const double h = static_cast<double>(thumb_width) * height / width;
  return std::max(1, static_cast<int>(std::lround(h)));
}

absl::StatusOr<FrameTable> IngestVideo(const std::string& path, const IngestOptions& options,
                                       const ProgressFn& progress,
                                       const std::atomic<bool>* cancel) {
  if (options.thumb_width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("thumb_width must be positive, got ", options.thumb_width));
  }
  DecoderOptions decoder_options = options.decoder;
  // Also interrupts FFmpeg inside a read, not only between frames.
  if (decoder_options.cancel == nullptr) decoder_options.cancel = cancel;
  FP_ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder,
                      VideoDecoder::Open(path, decoder_options));
  FrameTable table;
  table.video = decoder->info();
  FP_RETURN_IF_ERROR(CheckIgnoreRegions(options.ignore_regions, table.video));
  table.thumb_width = options.thumb_width;
  table.thumb_height = ThumbHeightFor(table.video.width, table.video.height, options.thumb_width);
  const size_t thumb_bytes = static_cast<size_t>(table.thumb_width) * table.thumb_height * 3;
  // The container's count is only a hint (and can be nonsense in a damaged file).
  table.frames.reserve(std::clamp<int64_t>(table.video.frame_count_estimate, 0, 1 << 20));
  FP_ASSIGN_OR_RETURN(table.thumbs, ThumbStore::Create(thumb_bytes, options.spill_dir));

  DuplicateDetector detector(options.dedup, options.ignore_regions);
  RgbConverter converter;
  RgbImage thumb, full;
  ContentScorer scorer;
  int64_t damage_seen = 0;
  auto damage_now = [&] {
    return decoder->counters().corrupt_frames + decoder->counters().read_errors;
  };
  while (true) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return absl::CancelledError(absl::StrCat(path, ": ingest cancelled"));
    }
    FP_ASSIGN_OR_RETURN(const DecodedFrame* frame, decoder->Next());
    if (frame == nullptr) break;

    if (damage_now() > damage_seen) {
      table.damaged.push_back({frame->index, damage_now() - damage_seen});
      damage_seen = damage_now();
    }
    FrameRecord record;
    record.index = frame->index;
    record.pts = frame->pts;
    record.keyframe = frame->keyframe;
    record.content_hash = frame->ContentHash();
    // The thumbnail is made before dedup because the detector also compares colour on it;
    // duplicates are a minority, so this costs little.
    FP_RETURN_IF_ERROR(
        converter.Thumbnail(frame->frame, table.thumb_width, table.thumb_height, &thumb));
    if (!options.ignore_regions.empty()) {
      MaskThumbnail(&thumb, table.video.width, table.video.height, options.ignore_regions);
    }
    if (options.dedup_enabled) {
      record.dup = detector.Classify(frame->Planes(), record.content_hash,
                                     std::span<const uint8_t>(thumb.pixels.data(), thumb_bytes));
    }
    if (record.dup == DupKind::kKept) {
      table.kept.push_back(record.index);
      FP_RETURN_IF_ERROR(table.thumbs.Append(thumb.pixels.data()));
      if (options.scene_scores) {
        FP_RETURN_IF_ERROR(converter.ToRgb(frame->frame, &full));
        table.scene_scores.push_back(
            static_cast<float>(scorer.Next(full.pixels.data(), full.width, full.height)));
      }
    }
    table.frames.push_back(record);
    if (progress && table.frames.size() % kProgressEvery == 0) {
      progress(static_cast<int64_t>(table.frames.size()), table.video.frame_count_estimate);
    }
  }
  if (damage_now() > damage_seen) {
    table.damaged.push_back(
        {static_cast<int64_t>(table.frames.size()), damage_now() - damage_seen});
  }
  if (table.frames.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no decodable video frames"));
  }
  FP_RETURN_IF_ERROR(table.thumbs.Finish());
  if (progress) {
    const auto done = static_cast<int64_t>(table.frames.size());
    progress(done, done);
  }
  return table;
}

}  // namespace framepair
