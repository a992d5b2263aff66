// Duplicate-frame detection: exact duplicates and codec-noise duplicates.
//
// A frame is compared with the last *kept* frame (not the previous frame, so a slow drift
// cannot hide behind many tiny steps). The rule is ffmpeg's mpdecimate filter as libavfilter
// implements it (vf_mpdecimate.c), made a little more sensitive so that whenever mpdecimate
// would keep a frame, this detector keeps it too:
//  - Every plane (Y, U, V at their own subsampled size, w = AV_CEIL_RSHIFT(width, log2)) is
//    cut into 8x8 blocks every 4 pixels, so blocks overlap by half in both directions.
//  - A block whose sum of absolute differences (SAD) exceeds `hi` makes the frame distinct.
//  - More than t = (w/16)*(h/16)*frac blocks over `lo` in one plane make it distinct (t is
//    mpdecimate's, computed the same way; it counts overlapping blocks, so in effect ~2% of
//    the blocks over `lo` are enough, not 33%).
// mpdecimate skips the first 8 columns and blocks that do not fit; here blocks start at x = 0
// and partial blocks along the right and bottom edges are judged too, against the thresholds
// scaled by their pixel count n (SAD * 64 > hi * n, the same mean difference per pixel). So
// the blocks are a superset of mpdecimate's with the same thresholds and per-plane counts:
// every full block it judges is judged here with the same SAD, and a count can only be
// higher. lib/dedup/dedup_test.cc checks this against a plain transcription of the C code.
//
// Why this rule. The thresholds are mpdecimate's defaults (hi=64*12, lo=64*5, frac=0.33):
//  - Codec noise is small and spread out: a re-encoded duplicate differs by ~1-3 levels per
//    pixel, a block SAD of ~64-200, below `lo`.
//  - Game motion is often tiny and local (an 8x8 sprite moving 1 px, a small status area
//    changing). With blocks overlapping by half, any change that fits in 5x5 pixels lies
//    inside one block and any 8x8 area shares at least 6x6 with one; the earlier
//    non-overlapping tiles split a 1 px sprite step that straddled their grid in four and
//    missed it. One block over `hi` is enough, so no amount of static background can outvote
//    a sprite.
//  - Chroma planes catch changes of similar luma (a coloured box moving over bars), which
//    luma alone misses.
//  - A weak global change (a fade step, a brightness shift of 6 levels) stays below `hi`
//    everywhere but pushes many blocks over `lo`: the count rule keeps it.
//
// Ignore regions (in luma pixels; scaled down for chroma, rounded outwards) are left out: the
// 4x4 cells that overlap a region contribute neither SAD nor pixels, a block is judged on its
// remaining pixels with thresholds scaled as for edge blocks (a block entirely inside is not
// judged), and t shrinks with the visible share of the plane. Judging cells rather than
// skipping whole blocks leaves no blind band of up to 7 px around a region.
//
// Thumbnail colour. Optionally, a frame is also distinct when some byte of its small RGB
// analysis thumbnail (ingest's area-averaged one) differs from the last kept frame's by more
// than `colour_hi`. It still adds sensitivity: on 56 libx264 clips (crf 18 and 28, 4:2:0) of a
// coloured 16x12 box moving 2 px per frame over smptebars, smptehdbars, rgbtestsrc and
// gradients at 160x96, the plane rule alone dropped 24 of 3360 real frames (all over bars,
// whose colours the box nearly matches; 4:2:0 halves its chroma step), with the colour rule 1.
// Re-encoded duplicates stay duplicates: they peak at 12-14 levels in the thumbnail (crf 18
// to 35, including ingest_test's static noisy clip).
//
// Speed. SADs are computed once per 4x4 cell of each plane (SSE2), and a block's SAD is the
// sum of its 2x2 cells, so overlapping blocks cost a few additions each. Planes and rows of
// cells are scanned in order and the scan stops at the first block row that decides.
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
  // Per-block SAD counted as "changed" for the count rule. Default 320 = 64 * 5.
  int lo = 64 * 5;
  // Count rule: more than (w/16)*(h/16)*frac blocks of a plane over `lo`. Default 0.33.
  double frac = 0.33;
  // Largest difference of one RGB thumbnail byte from the last kept frame's that is still
  // codec noise (only used when thumbnails are passed to Classify). <= 0 disables.
  int colour_hi = 32;
};

enum class DupKind { kKept, kExact, kNoise };

// Stateful detector over one stream, fed frames in decode order. Not thread-safe.
class DuplicateDetector {
 public:
  // `ignore`: rectangles in luma pixels left out of every decision (see above). Regions
  // outside the frame are clipped; the caller validates them.
  explicit DuplicateDetector(const DedupOptions& options = {}, std::vector<PixelRect> ignore = {});

  // Classifies `frame` against the last kept frame (the first frame is always kept) and, if
  // kept, remembers it. `content_hash` identifies exact content (equal hashes and equal
  // planes -> kExact). A frame whose plane layout differs from the kept one's is kept.
  // `thumb` (optional) is the frame's RGB24 analysis thumbnail, always of the same size for
  // one stream.
  DupKind Classify(const YuvView& frame, uint64_t content_hash,
                   std::span<const uint8_t> thumb = {});
  // Luma only (a grey picture).
  DupKind Classify(const PlaneView& luma, uint64_t content_hash,
                   std::span<const uint8_t> thumb = {});

  // Blocks judged so far (a whole row of blocks is judged before the scan may stop).
  int64_t blocks_compared() const { return blocks_compared_; }

 private:
  struct Plane {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> kept;       // tightly packed copy of the last kept plane
    std::vector<uint8_t> cell_size;  // pixels per 4x4 cell, 0 when ignored; (cols + 1) * rows
    std::vector<int> full_cells;     // per cell row: leading cells of 16 pixels
    int cols = 0;                    // cells per row: ceil(width / 4)
    int rows = 0;                    // cell rows: ceil(height / 4)
    int max_over_lo = 0;             // t
  };

  bool SameLayout(const YuvView& frame) const;
  bool IsDistinct(const YuvView& frame);
  bool PlaneDiffers(const PlaneView& cur, const Plane& p);
  bool ColourDiffers(std::span<const uint8_t> thumb) const;
  void Keep(const YuvView& frame, uint64_t content_hash, std::span<const uint8_t> thumb);

  DedupOptions options_;
  std::vector<PixelRect> ignore_;
  Plane planes_[3];
  int count_ = 0;
  int log2_chroma_w_ = 0;
  int log2_chroma_h_ = 0;
  std::vector<uint8_t> kept_thumb_;   // the kept frame's thumbnail, empty if none was passed
  std::vector<int32_t> cell_sad_[2];  // two rows of cell SADs, cols + 1 each (last is 0)
  uint64_t kept_hash_ = 0;
  bool have_kept_ = false;
  int64_t blocks_compared_ = 0;
};

// Sum of absolute differences of an 8x8 block. The detector sums 4x4 cells instead
// (CellRowSad); this per-block kernel stays as the benchmarks' point of comparison. Uses SSE2
// when the target has it.
int BlockSad8x8(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride);

// SADs of the 4x4 cells of one row of cells: out[i] = SAD of columns [4i, 4i + 4) (clipped
// to `width`) over `rows` (1..4) rows. Exposed for tests. Uses AVX2 (when the CPU has it) and
// SSE2; the sums are exact, so the result does not depend on the CPU.
void CellRowSad(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride, int width, int rows,
                int32_t* out);

}  // namespace framepair
