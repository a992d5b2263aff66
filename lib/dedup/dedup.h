// Duplicate-frame detection: exact duplicates and codec-noise duplicates.
//
// A frame is compared with the last *kept* frame (not the previous frame, so a slow drift
// cannot hide behind many tiny steps) in 8x8 blocks of full-resolution luma, in the spirit of
// ffmpeg's mpdecimate: the frame is a duplicate unless some block's sum of absolute
// differences exceeds `hi`, or more than `frac` of the blocks exceed `lo`. Because one block
// over `hi` is enough, a small moving sprite (one 8x8 block changing by 12 levels on average)
// always counts as a change.
//
// How the thresholds were chosen. They are mpdecimate's defaults (hi=64*12, lo=64*5,
// frac=0.33), which ffmpeg users have tuned against real codec noise for years:
//  - Codec noise is small and spread out: a re-encoded duplicate differs by ~1-3 levels per
//    pixel, i.e. a block SAD of ~64-200, below `lo`, so it never reaches either rule.
//  - A moving sprite's change is strong and local: a 6x6 sprite moving by 3 px changes ~36
//    pixels by the sprite/background contrast. One tile over `hi` is enough, so no amount of
//    static background can outvote it (a global average or PSNR test would: 36 pixels of
//    640x360 is 0.016% of the frame). Limit: the tiles do not overlap, so the worst case is
//    a change split evenly over 4 tiles (~9 pixels each), caught when the contrast exceeds
//    ~85 levels; a change inside one tile is caught from ~22 levels (768 / 36).
//  - A global change that is weak everywhere (a fade step, a brightness shift of 6 levels
//    or more) stays below `hi` in every block but pushes most blocks over `lo`: the `frac`
//    rule keeps it.
// Blocks are the non-overlapping 8x8 tiles of the frame, plus partial tiles along the right
// and bottom edges when the size is not a multiple of 8 (so a sprite in the last columns is
// seen). A partial tile of n pixels is judged against the thresholds scaled by n/64, i.e. by
// the same mean difference per pixel.
//
// Colour. Luma alone misses changes that are mostly chroma: measured on encoded footage
// (tests/support/footage.h), a coloured box moving over colour bars or a gradient of similar
// luma peaks at a block SAD of 377-765, just under `hi`, and 14-17 real frames per recording
// were dropped as noise (a third of them in a row in one scene), which the alignment can
// never match. So when the caller also passes the frame's small RGB analysis thumbnail
// (ingest's area-averaged one), a frame is distinct as well when some thumbnail byte differs
// from the last kept frame's by more than `colour_hi`. Averaging over whole thumbnail pixels
// removes most codec noise: re-encoded duplicates peaked at 12-14 levels (libx264 crf 18 to
// 35, including ingest_test's static noisy clip), the chroma-only moving boxes at 43-255.
//
// Differences from mpdecimate: tiles do not overlap (mpdecimate steps by 4 and skips the
// first column), and chroma is only seen through the optional thumbnail.
#pragma once

#include <cstdint>
#include <span>
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
  // Largest difference of one RGB thumbnail byte from the last kept frame's that is still
  // codec noise (only used when thumbnails are passed to Classify). <= 0 disables.
  int colour_hi = 32;
};

enum class DupKind { kKept, kExact, kNoise };

// Stateful detector over one stream, fed frames in decode order. Not thread-safe.
class DuplicateDetector {
 public:
  explicit DuplicateDetector(const DedupOptions& options = {});

  // Classifies `luma` against the last kept frame (the first frame is always kept) and, if
  // kept, remembers it. `content_hash` identifies exact content (equal hashes and equal planes
  // -> kExact). `thumb` (optional) is the frame's RGB24 analysis thumbnail, always of the same
  // size for one stream; it lets colour changes that luma misses keep the frame.
  DupKind Classify(const PlaneView& luma, uint64_t content_hash,
                   std::span<const uint8_t> thumb = {});

  int64_t blocks_compared() const { return blocks_compared_; }

 private:
  bool IsDistinct(const PlaneView& luma);
  bool ColourDiffers(std::span<const uint8_t> thumb) const;
  void Keep(const PlaneView& luma, uint64_t content_hash, std::span<const uint8_t> thumb);

  DedupOptions options_;
  std::vector<uint8_t> kept_;        // tightly packed copy of the last kept luma plane
  std::vector<uint8_t> kept_thumb_;  // its thumbnail, empty if none was passed
  int width_ = 0;
  int height_ = 0;
  uint64_t kept_hash_ = 0;
  bool have_kept_ = false;
  int64_t blocks_compared_ = 0;
};

// Sum of absolute differences of an 8x8 block (exposed for tests and benchmarks). Uses SSE2
// when the target has it.
int BlockSad8x8(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride);

}  // namespace framepair
