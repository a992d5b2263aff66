// Pipeline step 1: ingest one video. Decodes it straight through once and records, for every
// frame, its position (pts, keyframe), an exact-content hash, whether it duplicates the last
// kept frame, and for kept frames an analysis thumbnail (area-averaged to a size that only
// depends on the aspect ratio, so LR and HR thumbnails are directly comparable).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dedup/dedup.h"
#include "ingest/thumb_store.h"
#include "media/video.h"
#include "scene/scene.h"

namespace framepair {

struct FrameRecord {
  int64_t index = 0;
  int64_t pts = 0;
  bool keyframe = false;
  uint64_t content_hash = 0;
  DupKind dup = DupKind::kKept;
};

// A run of source frames the decoder could not decode (damaged data in the middle).
struct DamagedRange {
  int64_t first_index = 0;  // first frame index after the damage
  int64_t corrupt_frames = 0;
};

struct FrameTable {
  VideoInfo video;
  std::vector<FrameRecord> frames;  // every decoded frame, in decode order
  // Kept (non-duplicate) frames: their frame indexes and thumbnails, in the same order.
  std::vector<int64_t> kept;
  int thumb_width = 0;
  int thumb_height = 0;
  ThumbStore thumbs;  // kept.size() RGB24 thumbnails of thumb_width x thumb_height, on disk
  // With IngestOptions::scene_scores: per kept frame, its content score against the previous
  // kept frame at PySceneDetect's scale (ContentScorer); empty otherwise.
  std::vector<float> scene_scores;
  std::vector<DamagedRange> damaged;

  int64_t exact_duplicates() const;
  int64_t noise_duplicates() const;
  const uint8_t* thumb(size_t kept_pos) const { return thumbs.record(kept_pos); }
  // Presentation time of source frame `frame` in seconds; nullopt when the table has no such
  // frame or the stream no usable time base.
  std::optional<double> seconds(int64_t frame) const;
  std::vector<FramePosition> positions() const;
};

struct IngestOptions {
  DedupOptions dedup;
  bool dedup_enabled = true;
  // Analysis thumbnail width in pixels; height follows the aspect ratio (rounded, >= 1).
  // 64 keeps a 10-minute 60 fps recording's thumbnails near 250 MB of disk (ThumbStore) while
  // consecutive game frames still differ measurably.
  int thumb_width = 64;
  // Directory of the unnamed file that holds the thumbnails (ThumbStore); empty: $TMPDIR.
  std::string spill_dir;
  DecoderOptions decoder;
  // Rectangles in this recording's pixels left out of duplicate decisions (dedup.h) and out
  // of the analysis thumbnails (their thumbnail pixels are set to 0 on every frame), e.g. a
  // clock or a counter that changes while the game picture does not. The caller scales them
  // per recording (LR region r, HR region r * scale) so both mask the same thumbnail pixels.
  // Never applied to the packed PNGs. A region not inside the frame is INVALID_ARGUMENT.
  std::vector<PixelRect> ignore_regions;
  // Score each kept frame for scene detection as PySceneDetect would (FrameTable::
  // scene_scores): set for the recording scene detection reads (LR; HR without LR).
  bool scene_scores = false;
};

// Progress callback: frames decoded so far, estimated total (0 if unknown).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// Decodes `path` and builds its frame table. Errors name the file: INVALID_ARGUMENT for
// undecodable / empty / audio-only input, NOT_FOUND for a missing file, CANCELLED if
// `cancel` becomes true.
absl::StatusOr<FrameTable> IngestVideo(const std::string& path, const IngestOptions& options,
                                       const ProgressFn& progress = nullptr,
                                       const std::atomic<bool>* cancel = nullptr);

// Thumbnail height for a given frame size and thumbnail width.
int ThumbHeightFor(int width, int height, int thumb_width);

}  // namespace framepair
