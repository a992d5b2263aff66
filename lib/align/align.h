// Pipeline step 2: synchronise two deduplicated sequences (LR and HR) of analysis thumbnails.
// Frames that exist in only one of them are dropped; the result is an ordered list of
// matching pairs with the distance between their thumbnails.
//
// Default algorithm (AlignMode::kSequence):
//  1. Coarse start offset. Every thumbnail near the start of both sequences is reduced to an
//     8x4 block-average signature (96 bytes for RGB). For each offset o in
//     [-max_offset, max_offset] (o = HR position - LR position), the first 800 overlapping LR
//     frames (every 2nd one) are compared with HR frame i + o; the offset whose 25th
//     percentile distance is lowest wins. A low percentile rather than the median keeps the
//     true offset on top when drop runs early in the window shift part of it.
//  2. Relatedness. The winning score is compared with the same percentile over pseudo-random
//     (LR, HR) frame pairs; unless it is below half of that, the recordings are reported as
//     unrelated (INVALID_ARGUMENT).
//  3. Match threshold T (per byte, on the DP signature below): m = median distance of a
//     start-window LR frame to its best HR frame within band_half_width of the offset line
//     (true matches; the offset drifts through the window with drop runs, so a narrower
//     search measures unrelated frames there), n = median distance between consecutive
//     frames of one sequence (a wrong neighbour costs about as much), T = max(1, 2m,
//     (m + n) / 2).
//  4. Banded monotone alignment, pass 1 (path tracking). Thumbnails are reduced to about
//     32x18 block averages (2x2 for the default 64x36: noise halves, motion survives). The
//     alignment maximises sum over matched pairs of (T - distance) with free skips on both
//     sides, each frame matched at most once, strictly increasing on both sides; this is
//     Needleman-Wunsch with skip cost T/2, so a pair is only kept when matching beats dropping
//     both frames, and leading/trailing frames of either side cost nothing. Only
//     2 * band_half_width + 1 HR frames per LR frame are scored. The band starts on the coarse
//     offset and follows the path: it is re-centred on the median offset of the best-scoring
//     match of the last 5 LR frames that had a match below T; it only moves towards later HR
//     frames (at most one diagonal left per row), which keeps the banded recurrence exact and
//     lets drop runs shorter than the half-width on either side be followed.
//  5. Pass 2 (refinement) in a band of +-16 HR frames around the pass-1 path, with a local
//     threshold T_i = L (1 + 0.1) + 0.05 + 2 sigma, where L is the median and sigma the robust
//     spread (1.4826 MAD) of the per-row best distances of the 31 nearest LR frames, capped by
//     T. Why: a generous global T pays so much for matching an unpartnered frame to its
//     near-identical neighbour that shifting a whole near-static stretch by one frame wins;
//     measured on the synthetic scenarios, precision was 89-97% with the global T alone and is
//     >= 99.5% with the local one. sigma keeps recall where codec quality varies per frame.
//     Time O(N * band * signature), memory O(N * band) bytes (traceback and pass-2 distances).
//  6. Filters (both modes): the clean_sync spike filter (SpikeFilter) and the absolute
//     residual gate, on full-resolution residuals (ThumbDistance).
//
// AlignMode::kGreedy is the seed's FrameSync walk (see DESIGN.md "Reference semantics"),
// kept as a baseline: it cannot recover a start offset longer than one frame.
//
// Thread-safety: all functions are pure and reentrant.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace framepair {

// A sequence of equally sized RGB24 thumbnails (borrowed, not owned), one per kept frame.
struct ThumbSequence {
  int width = 0;
  int height = 0;
  const int64_t* frame_index = nullptr;  // source frame index of each thumbnail; null = 0..size-1
  const uint8_t* pixels = nullptr;       // the thumbnails, width * height * 3 bytes each
  size_t size = 0;
  // Thumbnail i is the position[i]-th one in `pixels` (a subsequence without a copy); null = i.
  const size_t* position = nullptr;
  // Presentation time in seconds of each thumbnail's frame; null = unknown. A prior only: the
  // timing tie-break (Align) uses it where the pictures cannot tell adjacent moments apart.
  const double* time = nullptr;
  // For pixels in a file mapping (ThumbStore): drops the pages read so far from the process.
  // Passes over the whole sequence call ReleaseResident() every kReleaseEvery thumbnails, so
  // memory follows the work in flight rather than the length of the footage. Null: no-op.
  std::function<void()> release;
  // For pixels in a file: copies thumbnails [first, first + count) to `out` by reading the
  // file instead of the mapping. Scattered reads use CopyThumbs(): through the mapping each
  // would fault in (and keep resident) a whole page-cache folio, up to 2 MiB on Linux 6.x.
  // Null: copy from `pixels`.
  std::function<void(size_t first, size_t count, uint8_t* out)> copy;

  static constexpr size_t kReleaseEvery = 512;

  size_t thumb_bytes() const { return static_cast<size_t>(width) * height * 3; }
  const uint8_t* thumb(size_t i) const {
    return pixels + (position != nullptr ? position[i] : i) * thumb_bytes();
  }
  void CopyThumbs(size_t first, size_t count, uint8_t* out) const {
    if (copy && position == nullptr) return copy(first, count, out);
    for (size_t k = 0; k < count; ++k) {
      std::memcpy(out + k * thumb_bytes(), thumb(first + k), thumb_bytes());
    }
  }
  void ReleaseResident() const {
    if (release) release();
  }
  // For sequential loops: releases when step i completes a multiple of kReleaseEvery.
  void ReleaseEvery(size_t i) const {
    if (i % kReleaseEvery == kReleaseEvery - 1) ReleaseResident();
  }
};

// FrameSync's norm scaled to be size independent: mean absolute difference per byte
// (sum |a - b| / number of bytes), in 0..255. Uses AVX2 when the CPU has it, else SSE2.
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
  // Largest offset (in kept frames, either direction) the coarse search considers: at the
  // start, and again after a gap where the alignment lost its way (--max-offset). It is also
  // the longest gap on either side that alignment recovers from.
  int max_offset = 1500;
  // clean_sync spike filter: drop a pair whose residual / mean(residual of it and the 2
  // before it) exceeds this (zeros treated as 1). <= 0 disables. The seed used 1.2; the
  // default is looser because, measured on align_test.cc's ground-truth scenarios with
  // kSequence, 1.2 gained at most +0.09% precision (one of 16 runs) where noise is constant
  // and cost 17% recall (99.5% -> 83%) where codec noise varies per frame (residuals then
  // jump 1.5x between neighbours); 1.5 still cost ~1% recall there; 2.0 costs nothing and
  // still removes gross spikes. Use 1.2 with kGreedy to reproduce FrameSync + clean_sync.
  double spike_ratio = 2.0;
  // Absolute residual gate: pairs whose residual exceeds this are rejected (mean absolute
  // difference per byte, 0..255). <= 0 disables.
  double max_residual = 12.0;
  // kSequence: HR frames scored per LR frame on each side of the band centre (--band). Drop
  // runs shorter than this (on either side) are followed; longer gaps are found again by a new
  // coarse search (re-anchoring). Cost grows linearly with it.
  int band_half_width = 96;
  // A prior, not a constraint: distinct HR frames per distinct LR frame, from the streams'
  // frame rates and duplicate counts (1:2 render rates give 2). The searches expect LR frame
  // i's partner near HR frame rate_ratio * i + offset; the band follows the content from
  // there. <= 0, or within 5 % of 1: equal rates.
  double rate_ratio = 0;
  // kSequence: a pair is kept only when each frame agrees with its partner clearly better than
  // with the partner's neighbours (the adjacent moments): where partner and neighbour differ
  // beyond noise, the frame's distance to the partner must be below this fraction of its
  // distance to the neighbour. Otherwise the pair may be off by one moment and is left
  // unpaired. Neighbours that show the same moment do not compete. <= 0 disables.
  double neighbour_margin = 0.8;
  // kSequence, when both sequences carry times: where the pictures cannot tell a pair from the
  // adjacent moment, the pair moves to the moment its timestamps point at (Align, "timing
  // tie-break"). Off: pictures alone decide (recordings whose timestamps are not capture times).
  bool timing_tie_break = true;
};

struct AlignStats {
  int64_t lr_frames = 0;  // input sizes
  int64_t hr_frames = 0;
  int64_t matched = 0;             // pairs produced by the matcher before filtering
  int64_t rejected_spike = 0;      // removed by the spike filter
  int64_t rejected_residual = 0;   // removed by the absolute gate
  int64_t rejected_ambiguous = 0;  // removed because an adjacent moment matched as well
  int64_t moved_by_time = 0;       // pairs moved to the adjacent moment their timestamps point at
  int64_t reanchors = 0;           // new coarse searches after the path was lost (gaps)
  int64_t pairs = 0;               // final pairs
  int64_t start_offset = 0;  // coarse offset found (hr position - lr position), kSequence only
  double rate_ratio = 1;     // the rate prior used (AlignOptions::rate_ratio, normalised)
  double mean_residual = 0;  // over final pairs
  // Diagnostics of the coarse search (8x4 signatures, per byte): 25th percentile distance at
  // the chosen offset and over random frame pairs. Unrelated if not below half the latter.
  double offset_distance = 0;
  double random_distance = 0;
  double match_threshold = 0;  // T of the banded alignment (per byte), kSequence only
  // Colour agreement of the final pairs: per RGB channel, the orthogonal (total least squares)
  // fit HR = colour_gain * LR + colour_offset over the thumbnails of up to 256 pairs spread over
  // the footage. Mis-tagged streams show here (a range mismatch scales by 219/255 or 255/219
  // around 16). colour_samples = 0: not enough pairs or contrast to judge.
  double colour_gain[3] = {1, 1, 1};
  double colour_offset[3] = {0, 0, 0};
  int64_t colour_samples = 0;

  int64_t rejected() const { return rejected_spike + rejected_residual + rejected_ambiguous; }
};

// The gate that refused a matched pair (AlignStats::rejected_*). The values are stored in
// work files and report sidecars: never renumber.
enum class Gate { kSpike = 1, kResidual = 2, kAmbiguous = 3 };

// A pair the matcher proposed and a gate refused: its frames stay unpaired.
struct GatedPair {
  int64_t lr_frame = 0;  // source frame indexes, as in AlignedPair
  int64_t hr_frame = 0;
  double residual = 0;
  Gate gate = Gate::kResidual;
};

struct AlignResult {
  std::vector<AlignedPair> pairs;  // strictly increasing in both lr_frame and hr_frame
  std::vector<GatedPair> gated;    // in the same order, for the report
  AlignStats stats;
};

// INVALID_ARGUMENT if thumbnail sizes differ, a sequence is empty, or the two sequences have
// nothing in common (no plausible match; the message says so: likely unrelated recordings,
// or a start offset beyond --max-offset).
absl::StatusOr<AlignResult> Align(const ThumbSequence& lr, const ThumbSequence& hr,
                                  const AlignOptions& options);

// The near-neighbour test on its own (exposed for tests): whether `self` agrees with `partner`
// clearly better (by `margin`) than with `neighbour`, two frames of the other recording;
// kSame when partner and neighbour show the same moment as far as thumbnails can tell.
// `residual` is the pair's ThumbDistance, the noise level between the two recordings.
enum class NeighbourVerdict { kSame, kBeats, kLoses };
NeighbourVerdict CompareWithNeighbour(const uint8_t* self, const uint8_t* partner,
                                      const uint8_t* neighbour, size_t bytes, double residual,
                                      double margin);

// The seed's clean_sync.py filter on its own (exposed for tests): returns keep flags.
// r[k] = v[k] / mean(v[k-2], v[k-1], v[k]) with v = residual, 0 replaced by 1; pair k is
// dropped when r[k] > ratio. The first two pairs have no full window (pandas gives NaN) and
// are kept. The window always uses the unfiltered neighbours. ratio <= 0 keeps everything.
std::vector<bool> SpikeFilter(const std::vector<double>& residuals, double ratio);

}  // namespace framepair
