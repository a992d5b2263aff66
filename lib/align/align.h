// Pipeline step 2: synchronise two deduplicated sequences (LR and HR) of analysis thumbnails.
// Frames that exist in only one of them are dropped; the result is an ordered list of
// matching pairs with the distance between their thumbnails.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace framepair {

// A sequence of equally sized RGB24 thumbnails (borrowed, not owned), one per kept frame.
struct ThumbSequence {
  int width = 0;
  int height = 0;
  const int64_t* frame_index = nullptr;  // source frame index of each thumbnail
  const uint8_t* pixels = nullptr;       // size * width * height * 3 bytes
  size_t size = 0;

  const uint8_t* thumb(size_t i) const {
    return pixels + i * static_cast<size_t>(width) * height * 3;
  }
};

// FrameSync's norm scaled to be size independent: mean absolute difference per byte
// (sum |a - b| / number of bytes), in 0..255.
double ThumbDistance(const uint8_t* a, const uint8_t* b, size_t bytes);

struct AlignedPair {
  int64_t lr_frame = 0;  // source frame index in the LR video
  int64_t hr_frame = 0;  // source frame index in the HR video
  double residual = 0;   // ThumbDistance of the two thumbnails
};

enum class AlignMode {
  kSequence,  // default: coarse global offset search + banded sequence alignment (DP)
  kGreedy,    // the seed's FrameSync one-frame look-ahead walk (baseline)
};

struct AlignOptions {
  AlignMode mode = AlignMode::kSequence;
  // Largest start offset (in kept frames, either direction) the coarse search considers.
  int max_offset = 1500;
  // clean_sync spike filter: drop a pair whose residual / mean(residual of it and the 2
  // before it) exceeds this (zeros treated as 1). <= 0 disables.
  double spike_ratio = 1.2;
  // Absolute residual gate: pairs whose residual exceeds this are rejected (mean absolute
  // difference per byte, 0..255). <= 0 disables.
  double max_residual = 12.0;
};

struct AlignStats {
  int64_t lr_frames = 0;  // input sizes
  int64_t hr_frames = 0;
  int64_t matched = 0;          // pairs produced by the matcher before filtering
  int64_t rejected_spike = 0;   // removed by the spike filter
  int64_t rejected_residual = 0;  // removed by the absolute gate
  int64_t pairs = 0;            // final pairs
  int64_t start_offset = 0;     // coarse offset found (hr position - lr position), kSequence only
  double mean_residual = 0;     // over final pairs
};

struct AlignResult {
  std::vector<AlignedPair> pairs;  // strictly increasing in both lr_frame and hr_frame
  AlignStats stats;
};

// INVALID_ARGUMENT if thumbnail sizes differ, or if the two sequences have nothing in common
// (no plausible match; the message says so: likely unrelated recordings).
absl::StatusOr<AlignResult> Align(const ThumbSequence& lr, const ThumbSequence& hr,
                                  const AlignOptions& options);

// The seed's clean_sync.py filter on its own (exposed for tests): returns keep flags.
std::vector<bool> SpikeFilter(const std::vector<double>& residuals, double ratio);

}  // namespace framepair
