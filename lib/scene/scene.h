// Pipeline step 3: split the aligned sequence into segments that a training window may not
// cross: scene cuts (PySceneDetect content and adaptive detectors) and alignment jumps.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "align/align.h"

namespace framepair {

enum class SceneDetector { kContent, kAdaptive };

struct SceneOptions {
  SceneDetector detector = SceneDetector::kAdaptive;
  // ContentDetector: cut when the mean HSV delta >= threshold (PySceneDetect default 27).
  double content_threshold = 27.0;
  // AdaptiveDetector: cut when score / mean score of `adaptive_window` frames on each side
  // >= adaptive_threshold (default 3.0) and the score >= adaptive_min_content (15).
  double adaptive_threshold = 3.0;
  double adaptive_min_content = 15.0;
  int adaptive_window = 2;
  // Minimum scene length in frames between cuts (PySceneDetect default 15).
  int min_scene_len = 15;
  // Flash suppression: a score spike that returns to the pre-spike picture within this many
  // frames (the frame after the flash matches the frame before it) is not a cut. 0 disables.
  // "Matches" means a content score below content_threshold / 3.
  int flash_max_len = 3;
  // Segments also break where alignment skipped more than this many source frames on
  // either side between consecutive pairs (drops in the recordings, or damaged ranges):
  // frame indexes differing by more than max_jump + 1. Negative disables.
  int max_jump = 3;
};

// A half-open range of aligned pair positions [begin, end).
struct Segment {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

struct SceneStats {
  int64_t cuts = 0;   // scene cuts detected
  int64_t jumps = 0;  // breaks caused by alignment jumps
  int64_t flashes_suppressed = 0;
};

struct SceneResult {
  std::vector<Segment> segments;       // ordered, disjoint, covering all pairs
  std::vector<int64_t> cut_positions;  // pair positions where a scene cut starts a segment
  SceneStats stats;
};

// `thumbs` holds one RGB24 thumbnail per aligned pair (the LR frame's), in pair order.
// Cuts are never placed at a jump (that break exists anyway) nor in the first min_scene_len
// pairs. INVALID_ARGUMENT when thumbs and pairs differ in count, pairs are not strictly
// increasing, or options are out of range. Pure function; thread-safe.
absl::StatusOr<SceneResult> DetectScenes(const ThumbSequence& thumbs,
                                         const std::vector<AlignedPair>& pairs,
                                         const SceneOptions& options);

// PySceneDetect's content score between two RGB24 images: mean over H, S, V of the mean
// absolute per-pixel difference (OpenCV 8-bit HSV: H in 0..179).
double ContentScore(const uint8_t* a, const uint8_t* b, int width, int height);

}  // namespace framepair
