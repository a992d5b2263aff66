// Duplicate-frame detection: exact duplicates and codec-noise duplicates.
//
// A frame is compared with the last *kept* frame (not the previous frame, so a slow drift
// cannot hide behind many tiny steps) in 8x8 blocks of full-resolution luma, in the spirit of
// ffmpeg's mpdecimate: the frame is a duplicate unless some block's sum of absolute
// differences exceeds `hi`, or more than `frac` of the blocks exceed `lo`. Because one block
// over `hi` is enough, a small moving sprite (one 8x8 block changing by 12 levels on average)
// always counts as a change.
#pragma once

#include <cstdint>
#include <vector>

#include "util/image.h"

namespace framepair {

struct DedupOptions {
  // Per-8x8-block SAD above which a block alone makes the frame distinct.
  // Default 768 = 64 * 12 (mpdecimate's hi).
  int hi = 64 * 12;
  // Per-block SAD counted as "changed" for the fraction test. Default 320 = 64 * 5.
  int lo = 64 * 5;
  // Fraction of blocks over `lo` that makes the frame distinct. Default 0.33.
  double frac = 0.33;
};

enum class DupKind { kKept, kExact, kNoise };

// Stateful detector over one stream, fed frames in decode order. Not thread-safe.
class DuplicateDetector {
 public:
  explicit DuplicateDetector(const DedupOptions& options = {});

  // Classifies `luma` against the last kept frame (the first frame is always kept) and, if
  // kept, remembers it. `content_hash` identifies exact content (equal hashes and equal planes
  // -> kExact).
  DupKind Classify(const PlaneView& luma, uint64_t content_hash);

  int64_t blocks_compared() const { return blocks_compared_; }

 private:
  DedupOptions options_;
  std::vector<uint8_t> kept_;  // tightly packed copy of the last kept luma plane
  int width_ = 0;
  int height_ = 0;
  uint64_t kept_hash_ = 0;
  bool have_kept_ = false;
  int64_t blocks_compared_ = 0;
};

// Sum of absolute differences of an 8x8 block (exposed for tests and benchmarks).
int BlockSad8x8(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride);

}  // namespace framepair
