// Pipeline step 3: split the aligned sequence into segments that a training window may not
// cross: scene cuts (PySceneDetect content and adaptive detectors) and breaks in continuity.
//
// Continuity is counted in moments, not source frames: the unit is a *kept* frame (one that
// deduplication left), so a frame held for many capture frames is one moment. Between two
// consecutive pairs, each recording may have kept frames that no pair uses:
//  - on both sides: some moment both recordings show may have been lost (gated, filtered or
//    unmatched pairs), so the segment breaks, whatever the distance in source frames;
//  - on one side only: moments the other capture missed, or the in-between frames of a
//    recording rendered at a higher rate. A window may step over them on that side, as long
//    as the run is no longer than the recordings' rate ratio explains (SceneOptions::max_jump);
//    a longer run is a stall of the other recording and breaks the segment like a cut.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
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
  // Longest run of kept frames (moments) that only one recording shows which a window may
  // step over between two consecutive pairs. -1 (default): from the rate ratio of the two
  // recordings, the usual run for the faster one plus one missed frame (1 for equal rates, 3
  // when one renders twice as many frames). Moments both recordings lose always break.
  int max_jump = -1;
};

// The kept (deduplicated) frames of each recording, ascending source frame indexes. Pair
// frames must be among them. For HR-only footage both are the HR frames.
struct KeptFrames {
  std::span<const int64_t> lr;
  std::span<const int64_t> hr;
  // Optional: for each kept frame of the recording scene detection reads (LR; HR without
  // LR), its ContentScorer score against the previous kept frame, computed at ingest at
  // PySceneDetect's scale. A pair's score is then the largest over the kept frames since the
  // previous pair, so the thresholds mean what they mean in PySceneDetect. Empty: scores of
  // the pairs' analysis thumbnails.
  std::span<const float> scene_scores;
  bool scene_side_is_hr = false;
};

// A half-open range of aligned pair positions [begin, end).
struct Segment {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

struct SceneStats {
  int64_t cuts = 0;          // scene cuts detected
  int64_t jumps = 0;         // continuity breaks: lost_moments + stalls
  int64_t lost_moments = 0;  // breaks where both recordings have unpaired kept frames
  int64_t stalls = 0;        // breaks where one recording has a run longer than max_jump
  int64_t flashes_suppressed = 0;
  int max_jump_lr = 0;  // the limits used (max_jump, or what -1 resolved to) per recording
  int max_jump_hr = 0;
};

struct SceneResult {
  std::vector<Segment> segments;       // ordered, disjoint, covering all pairs
  std::vector<int64_t> cut_positions;  // pair positions where a scene cut starts a segment
  SceneStats stats;
};

// `thumbs` holds one RGB24 thumbnail per aligned pair (the LR frame's), in pair order.
// Cuts are never placed at a continuity break (that break exists anyway) nor in the first
// min_scene_len pairs. INVALID_ARGUMENT when thumbs and pairs differ in count, pairs are not
// strictly increasing, a pair's frame is not a kept frame, or options are out of range.
// Pure function; thread-safe.
absl::StatusOr<SceneResult> DetectScenes(const ThumbSequence& thumbs,
                                         const std::vector<AlignedPair>& pairs,
                                         const KeptFrames& kept, const SceneOptions& options);

// Kept frames that no pair uses, between pair k-1 and pair k (index 0: before the first
// pair), per recording. INVALID_ARGUMENT if a pair's frame is not kept.
struct UnpairedRun {
  int64_t lr = 0;
  int64_t hr = 0;
};
absl::StatusOr<std::vector<UnpairedRun>> UnpairedBetweenPairs(const std::vector<AlignedPair>& pairs,
                                                              const KeptFrames& kept);

// The max_jump that -1 stands for, per recording: the usual one-sided run of the recording
// (its kept frames per pair, from the one-sided runs of `runs`) rounded, plus one.
struct JumpLimits {
  int lr = 1;
  int hr = 1;
};
JumpLimits AutoJumpLimits(const std::vector<UnpairedRun>& runs);

// PySceneDetect's content score between two RGB24 images: mean over H, S, V of the mean
// absolute per-pixel difference (OpenCV 8-bit HSV: H in 0..179).
double ContentScore(const uint8_t* a, const uint8_t* b, int width, int height);

// The frame size PySceneDetect scores at: it divides the width by width // 256 (when the
// frame is at least 256 wide) and resizes with OpenCV's INTER_LINEAR to
// (round(w / f), round(h / f)).
struct ScoreSize {
  int width = 0;
  int height = 0;
};
ScoreSize PySceneDetectScoreSize(int width, int height);

// OpenCV INTER_LINEAR resize of an RGB24 image (11-bit fixed-point weights, as cv::resize
// computes 8-bit images), for downscaling to PySceneDetect's scoring size.
void ResizeLinear(const uint8_t* src, int width, int height, int out_width, int out_height,
                  std::vector<uint8_t>* out);

// Content scores of consecutive frames as PySceneDetect computes them on a video: each frame
// is brought to PySceneDetect's scoring size and compared with the previous one. Ingest
// feeds the kept frames of the recording scene detection reads. Not thread-safe.
class ContentScorer {
 public:
  ContentScorer();
  ~ContentScorer();
  // Score against the previous frame (0 for the first). `rgb` is width x height RGB24.
  double Next(const uint8_t* rgb, int width, int height);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace framepair
