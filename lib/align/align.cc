#include "align/align.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/sad.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

// ---------------------------------------------------------------------------------------------
// Block-average signatures.

// Reduces an RGB24 thumbnail to a grid of block averages. Columns and rows that do not fill a
// whole block are ignored: the signature only has to be comparable between the two sides.
class Downsampler {
 public:
  Downsampler(int width, int height, int out_w, int out_h)
      : width_(width),
        out_w_(std::max(1, std::min(out_w, width))),
        out_h_(std::max(1, std::min(out_h, height))),
        block_w_(width / out_w_),
        block_h_(height / out_h_),
        sums_(static_cast<size_t>(out_w_) * 3) {}

  size_t bytes() const { return static_cast<size_t>(out_w_) * out_h_ * 3; }

  void Apply(const uint8_t* src, uint8_t* dst) const {
    const size_t stride = static_cast<size_t>(width_) * 3;
    const uint32_t n = static_cast<uint32_t>(block_w_) * block_h_;
    for (int by = 0; by < out_h_; ++by) {
      std::fill(sums_.begin(), sums_.end(), 0u);
      for (int y = by * block_h_; y < (by + 1) * block_h_; ++y) {
        const uint8_t* row = src + static_cast<size_t>(y) * stride;
        for (int bx = 0; bx < out_w_; ++bx) {
          const uint8_t* p = row + static_cast<size_t>(bx) * block_w_ * 3;
          uint32_t* s = &sums_[static_cast<size_t>(bx) * 3];
          for (int x = 0; x < block_w_; ++x, p += 3) {
            s[0] += p[0];
            s[1] += p[1];
            s[2] += p[2];
          }
        }
      }
      uint8_t* out = dst + static_cast<size_t>(by) * out_w_ * 3;
      for (size_t c = 0; c < sums_.size(); ++c)
        out[c] = static_cast<uint8_t>((sums_[c] + n / 2) / n);
    }
  }

 private:
  int width_;
  int out_w_;
  int out_h_;
  int block_w_;
  int block_h_;
  mutable std::vector<uint32_t> sums_;  // scratch, hence not thread-safe: one per Align call
};

// The coarse search only has to tell a few thousand candidate offsets apart.
constexpr int kCoarseW = 8;
constexpr int kCoarseH = 4;
// The DP signature: ~32x18 keeps small moving objects while averaging out per-pixel noise.
constexpr int kFineW = 32;
constexpr int kFineH = 18;

Downsampler FineDownsampler(int width, int height) {
  const int factor = std::max(1, std::min(width / kFineW, height / kFineH));
  return Downsampler(width, height, width / factor, height / factor);
}

// ---------------------------------------------------------------------------------------------
// Rate prior.

// Where LR position i's partner is expected before the offset: rate_ratio * i. Ratios within
// 5 % of 1 are equal rates (drops on either side make up the difference; the band follows).
class Prior {
 public:
  explicit Prior(double ratio) : ratio_(ratio <= 0 || std::abs(ratio - 1) <= 0.05 ? 1.0 : ratio) {}
  double ratio() const { return ratio_; }
  int64_t operator()(int64_t i) const {
    return ratio_ == 1.0 ? i : static_cast<int64_t>(std::llround(ratio_ * static_cast<double>(i)));
  }
  // Smallest i with (*this)(i) >= j.
  int64_t Inverse(int64_t j) const {
    if (ratio_ == 1.0 || j <= 0) return std::max<int64_t>(j, 0);
    int64_t i = static_cast<int64_t>(std::floor(static_cast<double>(j) / ratio_));
    while (i > 0 && (*this)(i - 1) >= j) --i;
    while ((*this)(i) < j) ++i;
    return i;
  }

 private:
  double ratio_;
};

// ---------------------------------------------------------------------------------------------
// Coarse offset search.

// LR frames (every kCoarseStep-th of the first kCoarseWindow of the overlap) per offset.
constexpr int64_t kCoarseWindow = 800;
constexpr int64_t kCoarseStep = 2;
// Drops inside the window move the true offset as it goes (a recording that drops every 97th
// frame drifts by 8 over 800 frames). Each sample therefore scores its best match within
// +-kCoarseSlack of the candidate offset, so the true offset keeps its low score across the
// whole window; the banded DP recovers the exact path from the approximate start.
constexpr int64_t kCoarseSlack = 12;
// Percentile of the per-offset distances that scores it. Drop runs longer than the slack
// still shift the offset for part of the window; a low percentile sees the part that matches.
constexpr double kCoarseQuantile = 0.25;
constexpr int kRandomPairs = 2048;
// Related only if the best offset scores below this fraction of random pairs (scored the same
// way: best of a run of 2*kCoarseSlack+1 consecutive frames, so the slack favours neither).
constexpr double kRelatedRatio = 0.5;

uint64_t Quantile(std::vector<uint64_t>& v, double q) {
  const size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Both sequences of a pass give back their pages together (ThumbSequence::release).
void ReleaseResident(const ThumbSequence& a, const ThumbSequence& b) {
  a.ReleaseResident();
  b.ReleaseResident();
}
void ReleaseEvery(const ThumbSequence& a, const ThumbSequence& b, size_t step) {
  a.ReleaseEvery(step);
  b.ReleaseEvery(step);
}

struct CoarseResult {
  int64_t offset = 0;
  double offset_distance = 0;    // per byte
  double random_distance = 0;    // per byte
  std::vector<int64_t> samples;  // LR frames scored at the chosen offset
};

// `min_samples`: offsets scored on fewer samples are not considered (0: half of the most any
// offset has, which keeps noisy short overlaps out of the first search).
CoarseResult CoarseOffset(const ThumbSequence& a, const ThumbSequence& b, int max_offset,
                          const Prior& prior, size_t min_samples = 0) {
  const int64_t n = static_cast<int64_t>(a.size);
  const int64_t m = static_cast<int64_t>(b.size);
  const Downsampler ds(a.width, a.height, kCoarseW, kCoarseH);
  const size_t bytes = ds.bytes();
  const int64_t lo_off = -std::min<int64_t>(max_offset, prior(n - 1));
  const int64_t hi_off = std::min<int64_t>(max_offset, m - 1);
  // Both sides only need the frames any offset's window can reach.
  const int64_t na = std::min(n, prior.Inverse(std::max(0, max_offset)) + kCoarseWindow + 1);
  const int64_t nb =
      std::min(m, std::max<int64_t>(max_offset, 0) + prior(kCoarseWindow) + kCoarseSlack + 1);
  std::vector<uint8_t> sa(static_cast<size_t>(na) * bytes);
  std::vector<uint8_t> sb(static_cast<size_t>(nb) * bytes);
  for (int64_t i = 0; i < na; ++i) ds.Apply(a.thumb(static_cast<size_t>(i)), &sa[i * bytes]);
  for (int64_t j = 0; j < nb; ++j) ds.Apply(b.thumb(static_cast<size_t>(j)), &sb[j * bytes]);
  ReleaseResident(a, b);

  // Every (LR i, HR j) distance the search can ask for, once: even rows only (kCoarseStep).
  // At most ~1150 x 2300 entries for the default max_offset.
  const int64_t rows = (na + kCoarseStep - 1) / kCoarseStep;
  std::vector<uint32_t> dist(static_cast<size_t>(rows * nb));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < nb; ++j) {
      dist[r * nb + j] =
          static_cast<uint32_t>(SumAbsDiff(&sa[r * kCoarseStep * bytes], &sb[j * bytes], bytes));
    }
  }
  auto best_near = [&](int64_t i, int64_t j) {
    const uint32_t* row = &dist[(i / kCoarseStep) * nb];
    uint32_t best = std::numeric_limits<uint32_t>::max();
    for (int64_t k = std::max<int64_t>(0, j - kCoarseSlack);
         k <= std::min(nb - 1, j + kCoarseSlack); ++k) {
      best = std::min(best, row[k]);
    }
    return best;
  };

  auto samples_for = [&](int64_t o, std::vector<int64_t>* out) {
    out->clear();
    const int64_t i0 = prior.Inverse(-o);
    const int64_t first = (i0 + kCoarseStep - 1) / kCoarseStep * kCoarseStep;
    for (int64_t i = first; i < i0 + kCoarseWindow && i < na && prior(i) + o < nb;
         i += kCoarseStep) {
      out->push_back(i);
    }
  };
  // Offsets whose overlap is much shorter than the best possible one give noisy scores.
  size_t max_count = 0;
  std::vector<int64_t> idx;
  for (int64_t o = lo_off; o <= hi_off; ++o) {
    samples_for(o, &idx);
    max_count = std::max(max_count, idx.size());
  }
  const size_t min_count =
      min_samples > 0 ? std::min(min_samples, max_count) : std::max<size_t>(1, max_count / 2);

  CoarseResult result;
  uint64_t best = std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> d;
  for (int64_t o = lo_off; o <= hi_off; ++o) {
    samples_for(o, &idx);
    if (idx.size() < min_count) continue;
    d.clear();
    for (int64_t i : idx) d.push_back(best_near(i, prior(i) + o));
    const uint64_t score = Quantile(d, kCoarseQuantile);
    // Ties go to the offset closest to zero, the least surprising start.
    if (score < best || (score == best && std::abs(o) < std::abs(result.offset))) {
      best = score;
      result.offset = o;
    }
  }
  samples_for(result.offset, &result.samples);
  result.offset_distance = static_cast<double>(best) / static_cast<double>(bytes);

  // Pseudo-random LR frames against runs of consecutive HR frames away from where the chosen
  // offset puts their match (fixed LCG: results are reproducible). Runs that could contain
  // the true match would make any pair look unrelated on a short clip.
  std::vector<uint8_t> ta(bytes), tb(bytes);
  std::vector<uint8_t> raw_a(a.thumb_bytes());
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state](int64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(bound));
  };
  d.clear();
  int64_t run = std::min<int64_t>(m, 2 * kCoarseSlack + 1);
  if (m < 4 * run) run = 1;  // too short for runs: plain random pairs
  std::vector<uint8_t> raw_b(static_cast<size_t>(run) * b.thumb_bytes());
  for (int k = 0; k < kRandomPairs; ++k) {
    const int64_t i = next(n);
    const int64_t j0 = next(m - run + 1);
    const int64_t match = prior(i) + result.offset;
    if (run > 1 && j0 < match + run && match - run < j0 + run) continue;
    a.CopyThumbs(static_cast<size_t>(i), 1, raw_a.data());
    b.CopyThumbs(static_cast<size_t>(j0), static_cast<size_t>(run), raw_b.data());
    ds.Apply(raw_a.data(), ta.data());
    uint64_t nearest = std::numeric_limits<uint64_t>::max();
    for (int64_t j = 0; j < run; ++j) {
      ds.Apply(&raw_b[static_cast<size_t>(j) * b.thumb_bytes()], tb.data());
      nearest = std::min(nearest, SumAbsDiff(ta.data(), tb.data(), bytes));
    }
    d.push_back(nearest);
  }
  if (d.empty()) d.push_back(std::numeric_limits<uint32_t>::max());
  result.random_distance =
      static_cast<double>(Quantile(d, kCoarseQuantile)) / static_cast<double>(bytes);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Match threshold.

// Search radius around the coarse offset when measuring true-match distances. The offset
// drifts through a recording (drop runs on either side move it by tens of frames), and the
// coarse window spans up to kCoarseWindow LR frames: measured on encoded footage whose LR
// starts 300 frames late with drop runs of up to 40 frames on both sides, a radius of 24
// found the true partner for under half the samples, m came out as the distance between
// unrelated frames (7.0 instead of 1.1) and T = 2m = 14 let pass 1 pair up frames that exist
// on one side only. The true partner is nearly always the closest frame within the band
// the alignment itself searches, so use that.
constexpr int kThresholdSamples = 128;
constexpr double kMinThreshold = 1.0;  // per byte; identical sources still need T > 0

// Quantile of the start window's best distances taken as the true-match level.
constexpr double kMatchQuantile = 0.25;

double QuantileOf(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t k = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double MatchThreshold(const ThumbSequence& a, const ThumbSequence& b, const Downsampler& ds,
                      const CoarseResult& coarse, const Prior& prior, int64_t radius) {
  const size_t bytes = ds.bytes();
  const double scale = 1.0 / static_cast<double>(bytes);
  std::vector<uint8_t> sa(bytes), sb(bytes);
  const int64_t m = static_cast<int64_t>(b.size);

  std::vector<int64_t> picks;
  const size_t stride = std::max<size_t>(1, coarse.samples.size() / kThresholdSamples);
  for (size_t s = 0; s < coarse.samples.size(); s += stride) picks.push_back(coarse.samples[s]);
  std::vector<double> match;
  if (!picks.empty()) {
    // Samples are ascending, so their search ranges cover one HR span: downsample it once.
    const int64_t jlo = std::max<int64_t>(0, prior(picks.front()) + coarse.offset - radius);
    const int64_t jhi = std::min(m - 1, prior(picks.back()) + coarse.offset + radius);
    std::vector<uint8_t> hr_sigs(static_cast<size_t>(std::max<int64_t>(0, jhi - jlo + 1)) * bytes);
    for (int64_t j = jlo; j <= jhi; ++j) {
      ds.Apply(b.thumb(static_cast<size_t>(j)), &hr_sigs[static_cast<size_t>(j - jlo) * bytes]);
    }
    for (const int64_t i : picks) {
      ds.Apply(a.thumb(static_cast<size_t>(i)), sa.data());
      uint64_t best = std::numeric_limits<uint64_t>::max();
      const int64_t c = prior(i) + coarse.offset;
      for (int64_t j = std::max(jlo, c - radius); j <= std::min(jhi, c + radius); ++j) {
        best = std::min(
            best, SumAbsDiff(sa.data(), &hr_sigs[static_cast<size_t>(j - jlo) * bytes], bytes));
      }
      if (best != std::numeric_limits<uint64_t>::max()) match.push_back(best * scale);
    }
  }

  std::vector<double> neighbour;
  for (const ThumbSequence* seq : {&a, &b}) {
    const size_t count = seq->size;
    if (count < 2) continue;
    const size_t step = std::max<size_t>(1, (count - 1) / kThresholdSamples);
    std::vector<uint8_t> raw(2 * seq->thumb_bytes());
    for (size_t k = 0; k + 1 < count; k += step) {
      seq->CopyThumbs(k, 2, raw.data());
      ds.Apply(raw.data(), sa.data());
      ds.Apply(raw.data() + seq->thumb_bytes(), sb.data());
      neighbour.push_back(SumAbsDiff(sa.data(), sb.data(), bytes) * scale);
    }
  }
  ReleaseResident(a, b);
  // A low quantile, not the median: the start window may hold a gap on either side, whose
  // rows have no partner and would set the "match" level to that of unrelated frames.
  const double mt = QuantileOf(std::move(match), kMatchQuantile);
  const double nb = MedianOf(std::move(neighbour));
  return std::max({kMinThreshold, 2 * mt, (mt + nb) / 2});
}

// ---------------------------------------------------------------------------------------------
// Banded monotone alignment.

using IndexPairs = std::vector<std::pair<int64_t, int64_t>>;

enum : uint8_t { kUp = 0, kLeft = 1, kDiag = 2 };

// S[i][j] = best total gain aligning LR[0..i] with HR[0..j] (inclusive prefixes), free skips.
// Rows are added in order, each with the band [lo, hi] of columns it scores; both bounds must
// be non-decreasing. That gives every other cell an exact value: right of the band
// S[i][j] = S[i][hi] (skipping HR is free), left of it S[i][j] = S[k][j] for the last row k that
// scored column j, or that row's plateau if the band jumped over j (skipping LR is free).
// `col_` holds, per column, the value of the last row that wrote it.
class BandedDp {
 public:
  BandedDp(int64_t rows, int64_t cols) : cols_(cols), col_(static_cast<size_t>(cols), 0) {
    row_lo_.reserve(static_cast<size_t>(rows));
    row_hi_.reserve(static_cast<size_t>(rows));
    row_dirs_.reserve(static_cast<size_t>(rows));
  }

  // Adds the next row; gain[k] is the gain of matching column lo + k. Returns the column of
  // the best-scoring positive-gain match in the row, or -1.
  int64_t AddRow(int64_t lo, int64_t hi, const int64_t* gain) {
    lo = std::max<int64_t>(lo, 0);
    hi = std::min(hi, cols_ - 1);
    row_lo_.push_back(lo);
    row_hi_.push_back(hi);
    row_dirs_.push_back(dirs_.size());
    int64_t best_j = -1;
    if (lo <= hi) {
      // Columns the band jumped over keep the previous row's plateau from now on.
      for (int64_t j = prev_hi_ + 1; j < lo; ++j) col_[static_cast<size_t>(j)] = prev_plateau_;
      // S[i-1][lo-1], which is also S[i][lo-1] since that column is left of this band.
      int64_t diag = lo == 0 ? 0 : col_[static_cast<size_t>(lo - 1)];
      int64_t left = diag;
      int64_t best_match = std::numeric_limits<int64_t>::min();
      for (int64_t j = lo; j <= hi; ++j) {
        const int64_t up = j > prev_hi_ ? prev_plateau_ : col_[static_cast<size_t>(j)];
        const int64_t g = gain[j - lo];
        const int64_t match = diag + g;
        int64_t v = up;
        uint8_t dir = kUp;
        if (left > v) {
          v = left;
          dir = kLeft;
        }
        if (match > v) {
          v = match;
          dir = kDiag;
        }
        if (g > 0 && match > best_match) {
          best_match = match;
          best_j = j;
        }
        diag = up;
        col_[static_cast<size_t>(j)] = v;
        left = v;
        dirs_.push_back(dir);
      }
      prev_hi_ = hi;
    }
    if (prev_hi_ >= 0) prev_plateau_ = col_[static_cast<size_t>(prev_hi_)];
    return best_j;
  }

  const std::vector<int64_t>& row_lo() const { return row_lo_; }
  const std::vector<int64_t>& row_hi() const { return row_hi_; }

  // The matches of the best alignment, in order.
  IndexPairs Traceback() const {
    IndexPairs pairs;
    int64_t i = static_cast<int64_t>(row_lo_.size()) - 1;
    int64_t j = cols_ - 1;
    while (i >= 0 && j >= 0) {
      const int64_t lo = row_lo_[static_cast<size_t>(i)];
      const int64_t hi = row_hi_[static_cast<size_t>(i)];
      if (lo > hi || j < lo) {
        // Bounds are non-decreasing: the last earlier row starting at or before j holds
        // column j, or j lies right of it (plateau).
        const auto it = std::upper_bound(row_lo_.begin(), row_lo_.begin() + i, j);
        int64_t k = (it - row_lo_.begin()) - 1;
        while (k >= 0 && row_lo_[static_cast<size_t>(k)] > row_hi_[static_cast<size_t>(k)]) --k;
        if (k < 0) break;
        i = k;
        continue;
      }
      if (j > hi) {
        j = hi;
        continue;
      }
      switch (dirs_[row_dirs_[static_cast<size_t>(i)] + static_cast<size_t>(j - lo)]) {
        case kDiag:
          pairs.emplace_back(i, j);
          --i;
          --j;
          break;
        case kUp:
          --i;
          break;
        default:
          --j;
          break;
      }
    }
    std::reverse(pairs.begin(), pairs.end());
    return pairs;
  }

 private:
  int64_t cols_;
  std::vector<int64_t> col_;
  std::vector<int64_t> row_lo_, row_hi_;
  std::vector<size_t> row_dirs_;
  std::vector<uint8_t> dirs_;
  int64_t prev_hi_ = -1;      // last column written by any row
  int64_t prev_plateau_ = 0;  // S[i-1][j] for j > prev_hi_
};

// HR signatures of a band that only moves right, in a ring indexed by column.
class SignatureRing {
 public:
  SignatureRing(const ThumbSequence& seq, const Downsampler& ds, size_t capacity)
      : seq_(seq), ds_(ds), capacity_(capacity), data_(capacity * ds.bytes()) {}

  // Makes columns [lo, hi] available; hi - lo < capacity, lo and hi non-decreasing over calls.
  void Cover(int64_t lo, int64_t hi) {
    for (int64_t j = std::max(hi_ + 1, lo); j <= hi; ++j) {
      ds_.Apply(seq_.thumb(static_cast<size_t>(j)), slot(j));
    }
    hi_ = std::max(hi_, hi);
  }
  const uint8_t* get(int64_t j) const {
    return &data_[(static_cast<size_t>(j) % capacity_) * ds_.bytes()];
  }

 private:
  uint8_t* slot(int64_t j) { return &data_[(static_cast<size_t>(j) % capacity_) * ds_.bytes()]; }

  const ThumbSequence& seq_;
  const Downsampler& ds_;
  size_t capacity_;
  std::vector<uint8_t> data_;
  int64_t hi_ = -1;
};

// Matches of this many recent LR frames vote (median) for the band centre: one stray match
// cannot drag the band, a drop run moves it after a few rows.
constexpr size_t kCentreHistory = 5;

struct Band {
  std::vector<int64_t> lo, hi;  // per LR frame, clipped to the HR range
};

// The global threshold T is measured near the start. Where a scene's true matches sit above it
// (fine detail under heavy codec loss: measured 7-9 per byte against T = 5 on LR at crf 35,
// while the adjacent moments were 15-30 away), the rows would stay unmatched. A row whose best
// match is clearly better than both columns beside it (below kConfidentRatio of them) is a
// confident true match; the median of the confident best distances of nearby rows, times
// kConfidentSlack, raises the threshold there. Rows without a partner have no clear best (the
// moments before and after are about as far) and do not count, so they cannot raise it.
constexpr double kConfidentRatio = 0.7;
constexpr double kConfidentSlack = 1.5;
constexpr size_t kMinConfidentRows = 5;
// Rows on each side whose best distances set the local levels (here and in pass 2).
constexpr int64_t kLevelWindow = 15;

// The row's best distance if it is confident, else -1. `d` holds the row's band distances.
double ConfidentBest(const uint32_t* d, int64_t count) {
  if (count < 3) return -1;
  int64_t best = 0;
  for (int64_t k = 1; k < count; ++k) {
    if (d[k] < d[best]) best = k;
  }
  if (best == 0 || best == count - 1) return -1;
  const uint32_t side = std::min(d[best - 1], d[best + 1]);
  return d[best] < kConfidentRatio * side ? static_cast<double>(d[best]) : -1;
}

// Threshold (raw SAD units) for a row given nearby confident bests.
int64_t RaisedThreshold(int64_t global, std::vector<double> confident) {
  if (confident.size() < kMinConfidentRows) return global;
  const double level = MedianOf(std::move(confident));
  return std::max(global, static_cast<int64_t>(kConfidentSlack * level + 0.5));
}

// Pass 1: finds the path with a global threshold and a band that follows it. Returns the
// matches and the band it scored.
IndexPairs TrackPath(const ThumbSequence& a, const ThumbSequence& b, const Downsampler& ds,
                     const Prior& prior, int64_t start_offset, int half_width, double threshold,
                     Band* band) {
  const int64_t n = static_cast<int64_t>(a.size);
  const int64_t m = static_cast<int64_t>(b.size);
  const int64_t w = std::max(1, half_width);
  const int64_t width = 2 * w + 1;
  const size_t bytes = ds.bytes();
  const int64_t t = static_cast<int64_t>(threshold * static_cast<double>(bytes) + 0.5);

  BandedDp dp(n, m);
  SignatureRing ring(b, ds, static_cast<size_t>(width));
  std::vector<uint8_t> asig(bytes);
  std::vector<int64_t> gain(static_cast<size_t>(width));
  std::vector<uint32_t> dist(static_cast<size_t>(width));
  std::vector<double> confident;  // the last kLevelWindow rows' confident bests
  std::vector<int64_t> history, sorted;
  // The band centre is an offset from the prior's expected column.
  int64_t centre = start_offset;
  int64_t lo = start_offset - w;
  for (int64_t i = 0; i < n; ++i) {
    // Never left (keeps the recurrence exact), never past the previous band (no gaps).
    if (i > 0) lo = std::clamp(prior(i) + centre - w, lo, lo + width);
    const int64_t elo = std::max<int64_t>(lo, 0);
    const int64_t ehi = std::min(lo + width - 1, m - 1);
    ReleaseEvery(a, b, static_cast<size_t>(i));
    if (elo <= ehi) {
      ds.Apply(a.thumb(static_cast<size_t>(i)), asig.data());
      ring.Cover(elo, ehi);
      for (int64_t j = elo; j <= ehi; ++j) {
        dist[static_cast<size_t>(j - elo)] =
            static_cast<uint32_t>(SumAbsDiff(asig.data(), ring.get(j), bytes));
      }
      const double best = ConfidentBest(dist.data(), ehi - elo + 1);
      if (best >= 0) {
        confident.push_back(best);
        if (confident.size() > static_cast<size_t>(kLevelWindow))
          confident.erase(confident.begin());
      }
      const int64_t ti = RaisedThreshold(t, confident);
      for (int64_t j = elo; j <= ehi; ++j) {
        gain[static_cast<size_t>(j - elo)] = ti - dist[static_cast<size_t>(j - elo)];
      }
    }
    const int64_t best_j = dp.AddRow(lo, lo + width - 1, gain.data());
    if (best_j >= 0) {
      history.push_back(best_j - prior(i));
      if (history.size() > kCentreHistory) history.erase(history.begin());
      sorted = history;
      const auto mid = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2);
      std::nth_element(sorted.begin(), mid, sorted.end());
      centre = *mid;
    }
  }
  band->lo = dp.row_lo();
  band->hi = dp.row_hi();
  return dp.Traceback();
}

// Pass 2 scores only this far around the pass-1 path.
constexpr int64_t kRefineRadius = 16;
// Local threshold T_i = L (1 + kLevelSlack) + kLevelMargin + kLevelSpread * sigma, where L is
// the median and sigma the robust spread (1.4826 MAD) of the best distances of the rows in the
// window, capped by the global threshold. It sits just above the local true-match level: a
// pass-1-style generous T rewards matching an unpartnered frame with its nearly identical
// neighbour so much that shifting a whole near-static stretch by one frame pays off. sigma
// widens it where the true-match distance fluctuates (e.g. codec quality varying per frame).
constexpr double kLevelSlack = 0.1;
constexpr double kLevelMargin = 0.05;
constexpr double kLevelSpread = 2;

// Pass 2: re-aligns inside a narrow band around the pass-1 path with a threshold that follows
// the local true-match level.
IndexPairs RefinePath(const ThumbSequence& a, const ThumbSequence& b, const Downsampler& ds,
                      const IndexPairs& path, const Band& wide, double threshold) {
  const int64_t n = static_cast<int64_t>(a.size);
  const int64_t m = static_cast<int64_t>(b.size);
  const size_t bytes = ds.bytes();
  const double scale = static_cast<double>(bytes);

  // Band: between the pass-1 matches around each row, widened by the radius, inside pass 1's.
  Band band;
  band.lo.resize(static_cast<size_t>(n));
  band.hi.resize(static_cast<size_t>(n));
  size_t next = 0;  // first path entry with row >= i
  int64_t last_j = -1;
  for (int64_t i = 0; i < n; ++i) {
    while (next < path.size() && path[next].first < i) last_j = path[next++].second;
    const int64_t next_j = next < path.size() ? path[next].second : m;
    band.lo[static_cast<size_t>(i)] =
        std::max(wide.lo[static_cast<size_t>(i)], last_j - kRefineRadius);
    band.hi[static_cast<size_t>(i)] =
        std::min(wide.hi[static_cast<size_t>(i)], next_j + kRefineRadius);
  }

  // Distances of every band cell, and each row's best one.
  std::vector<size_t> offset(static_cast<size_t>(n) + 1, 0);
  size_t width_max = 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t w =
        std::max<int64_t>(0, band.hi[static_cast<size_t>(i)] - band.lo[static_cast<size_t>(i)] + 1);
    offset[static_cast<size_t>(i) + 1] = offset[static_cast<size_t>(i)] + static_cast<size_t>(w);
    width_max = std::max(width_max, static_cast<size_t>(w));
  }
  std::vector<uint32_t> dist(offset.back());
  std::vector<double> row_best(static_cast<size_t>(n), -1);
  std::vector<double> row_confident(static_cast<size_t>(n), -1);  // raw SAD units
  SignatureRing ring(b, ds, width_max);
  std::vector<uint8_t> asig(bytes);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lo = band.lo[static_cast<size_t>(i)];
    const int64_t hi = band.hi[static_cast<size_t>(i)];
    ReleaseEvery(a, b, static_cast<size_t>(i));
    if (lo > hi) continue;
    ds.Apply(a.thumb(static_cast<size_t>(i)), asig.data());
    ring.Cover(lo, hi);
    uint32_t best = std::numeric_limits<uint32_t>::max();
    for (int64_t j = lo; j <= hi; ++j) {
      const auto d = static_cast<uint32_t>(SumAbsDiff(asig.data(), ring.get(j), bytes));
      dist[offset[static_cast<size_t>(i)] + static_cast<size_t>(j - lo)] = d;
      best = std::min(best, d);
    }
    row_best[static_cast<size_t>(i)] = best / scale;
    row_confident[static_cast<size_t>(i)] =
        ConfidentBest(&dist[offset[static_cast<size_t>(i)]], hi - lo + 1);
  }

  BandedDp dp(n, m);
  std::vector<int64_t> gain(width_max);
  std::vector<double> window, confident;
  const int64_t global_cap = static_cast<int64_t>(threshold * scale + 0.5);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lo = band.lo[static_cast<size_t>(i)];
    const int64_t hi = band.hi[static_cast<size_t>(i)];
    if (lo <= hi) {
      window.clear();
      confident.clear();
      for (int64_t k = std::max<int64_t>(0, i - kLevelWindow);
           k <= std::min(n - 1, i + kLevelWindow); ++k) {
        if (row_best[static_cast<size_t>(k)] >= 0)
          window.push_back(row_best[static_cast<size_t>(k)]);
        if (row_confident[static_cast<size_t>(k)] >= 0)
          confident.push_back(row_confident[static_cast<size_t>(k)]);
      }
      const int64_t cap = RaisedThreshold(global_cap, confident);
      const double level = MedianOf(window);
      for (double& v : window) v = std::abs(v - level);
      const double sigma = 1.4826 * MedianOf(window);
      const double local = level * (1 + kLevelSlack) + kLevelMargin + kLevelSpread * sigma;
      const int64_t t = std::min(cap, static_cast<int64_t>(local * scale + 0.5));
      for (int64_t j = lo; j <= hi; ++j) {
        gain[static_cast<size_t>(j - lo)] =
            t - dist[offset[static_cast<size_t>(i)] + static_cast<size_t>(j - lo)];
      }
    }
    dp.AddRow(lo, hi, gain.data());
  }
  return dp.Traceback();
}

// ---------------------------------------------------------------------------------------------
// The seed's FrameSync.

IndexPairs GreedyFrameSync(const ThumbSequence& a, const ThumbSequence& b) {
  const size_t bytes = static_cast<size_t>(a.width) * a.height * 3;
  IndexPairs pairs;
  size_t i = 0, j = 0;
  for (size_t step = 0; i < a.size && j < b.size; ++step) {
    ReleaseEvery(a, b, step);
    // Raw sums order exactly as FrameSync's sum / 3 (up to its integer truncation).
    enum { kEmit, kDropA, kDropE } action = kEmit;
    uint64_t best = SumAbsDiff(a.thumb(i), b.thumb(j), bytes);
    if (i + 1 < a.size) {
      const uint64_t be = SumAbsDiff(a.thumb(i + 1), b.thumb(j), bytes);
      if (be < best) {
        best = be;
        action = kDropA;
      }
    }
    if (j + 1 < b.size) {
      const uint64_t af = SumAbsDiff(a.thumb(i), b.thumb(j + 1), bytes);
      if (af < best) action = kDropE;
    }
    switch (action) {
      case kDropA:
        ++i;
        break;
      case kDropE:
        ++j;
        break;
      case kEmit:
        pairs.emplace_back(static_cast<int64_t>(i), static_cast<int64_t>(j));
        ++i;
        ++j;
        break;
    }
  }
  return pairs;
}

absl::Status Validate(const ThumbSequence& lr, const ThumbSequence& hr) {
  if (lr.width <= 0 || lr.height <= 0 || hr.width <= 0 || hr.height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("align: thumbnail sizes must be positive (LR %dx%d, HR %dx%d)", lr.width,
                        lr.height, hr.width, hr.height));
  }
  if (lr.width != hr.width || lr.height != hr.height) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "align: LR thumbnails are %dx%d but HR thumbnails are %dx%d; ingest both videos with the "
        "same analysis size",
        lr.width, lr.height, hr.width, hr.height));
  }
  if (lr.size == 0 || hr.size == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "align: nothing to align (LR has %d kept frames, HR has %d)", lr.size, hr.size));
  }
  if (lr.pixels == nullptr || hr.pixels == nullptr) {
    return absl::InvalidArgumentError("align: thumbnail pixels missing");
  }
  return absl::OkStatus();
}

int64_t FrameIndex(const ThumbSequence& s, int64_t i) {
  return s.frame_index != nullptr ? s.frame_index[i] : i;
}

absl::Status CheckRelated(const CoarseResult& coarse, const AlignOptions& options) {
  if (coarse.offset_distance < kRelatedRatio * coarse.random_distance) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "align: the LR and HR recordings look unrelated: at the best start offset (%d frames, "
      "searched up to +-%d) thumbnails differ by %.2f per byte, random frame pairs by %.2f; "
      "check that both videos show the same gameplay, or raise --max-offset if one starts "
      "more than %d distinct frames after the other",
      coarse.offset, options.max_offset, coarse.offset_distance, coarse.random_distance,
      options.max_offset));
}

// The thumbnails from position `from` on, as a sequence of their own (positions relative).
ThumbSequence Suffix(const ThumbSequence& s, size_t from) {
  ThumbSequence out = s;
  from = std::min(from, s.size);
  out.size = s.size - from;
  if (s.frame_index != nullptr) out.frame_index = s.frame_index + from;
  if (s.time != nullptr) out.time = s.time + from;
  if (s.position != nullptr) {
    out.position = s.position + from;
  } else {
    out.pixels = s.pixels + from * s.thumb_bytes();
    if (s.copy) {
      out.copy = [copy = s.copy, from](size_t first, size_t count, uint8_t* dst) {
        copy(first + from, count, dst);
      };
    }
  }
  return out;
}

// Re-anchoring. The band follows drop runs shorter than its half-width; after a longer gap on
// either side the partners lie outside it, and the path either stays lost or finds its way
// back only where the offset happens to return (a gap on the other side), skipping everything
// in between. So wherever both sides skip more than this many frames between two matches, or
// the path ends that far before both sequences do, the path is cut and the rest aligned again
// from a new coarse search, which looks up to --max-offset frames either way.
constexpr int64_t kMinLostHole = 24;
// A new search needs this many frames on both sides to judge relatedness.
constexpr int64_t kMinAnchorFrames = 48;
// Each search re-aligns the rest of the footage: bound the work on pathological input. What
// is left unaligned is reported as unpaired.
constexpr int kMaxReanchors = 64;

// Number of path entries to keep: up to the first hole where both sides skip more than
// `hole` frames, or path.size(). `*tail_lost`: the path ends that far before both sequences.
size_t KeepUntilLost(const IndexPairs& path, int64_t n, int64_t m, int64_t hole, bool* tail_lost) {
  *tail_lost = false;
  for (size_t k = 1; k < path.size(); ++k) {
    if (path[k].first - path[k - 1].first - 1 > hole &&
        path[k].second - path[k - 1].second - 1 > hole) {
      return k;
    }
  }
  if (!path.empty()) {
    *tail_lost = n - path.back().first - 1 > hole && m - path.back().second - 1 > hole;
  }
  return path.size();
}

// Leading stretches are searched again this many times at most (each from its own start).
constexpr int kMaxPrefixDepth = 4;

absl::StatusOr<IndexPairs> AlignSequences(const ThumbSequence& lr, const ThumbSequence& hr,
                                          const AlignOptions& options, const Prior& prior,
                                          AlignStats* stats, int depth = 0) {
  const Downsampler fine = FineDownsampler(lr.width, lr.height);
  const int64_t hole = std::max<int64_t>(kMinLostHole, options.band_half_width / 4);
  IndexPairs matched;
  size_t a0 = 0, b0 = 0;
  for (int round = 0; round <= kMaxReanchors; ++round) {
    const ThumbSequence a = Suffix(lr, a0);
    const ThumbSequence b = Suffix(hr, b0);
    if (round > 0 && (static_cast<int64_t>(a.size) < kMinAnchorFrames ||
                      static_cast<int64_t>(b.size) < kMinAnchorFrames)) {
      break;
    }
    // After a gap little footage may be left: a new search accepts shorter overlaps.
    const CoarseResult coarse = CoarseOffset(a, b, std::max(0, options.max_offset), prior,
                                             round == 0 ? 0 : kMinAnchorFrames / 2);
    if (round == 0) {
      stats->offset_distance = coarse.offset_distance;
      stats->random_distance = coarse.random_distance;
      FP_RETURN_IF_ERROR(CheckRelated(coarse, options));
      stats->start_offset = coarse.offset;
    } else if (!CheckRelated(coarse, options).ok()) {
      break;  // what is left has no partner within reach: accounted as unpaired
    }
    const double threshold =
        MatchThreshold(a, b, fine, coarse, prior, std::max(1, options.band_half_width));
    if (round == 0) stats->match_threshold = threshold;
    Band band;
    const IndexPairs path =
        TrackPath(a, b, fine, prior, coarse.offset, options.band_half_width, threshold, &band);
    const IndexPairs refined = RefinePath(a, b, fine, path, band, threshold);
    bool tail_lost = false;
    const size_t keep = KeepUntilLost(refined, static_cast<int64_t>(a.size),
                                      static_cast<int64_t>(b.size), hole, &tail_lost);
    for (size_t k = 0; k < keep; ++k) {
      matched.emplace_back(refined[k].first + static_cast<int64_t>(a0),
                           refined[k].second + static_cast<int64_t>(b0));
    }
    if (keep == 0 || (keep == refined.size() && !tail_lost)) break;
    a0 += static_cast<size_t>(refined[keep - 1].first) + 1;
    b0 += static_cast<size_t>(refined[keep - 1].second) + 1;
    ++stats->reanchors;
  }
  // The first search follows the offset most of its window agrees on: footage before a gap
  // near the start (a capture frozen after a few seconds) is left before the first match on
  // both sides. Align that stretch on its own.
  if (!matched.empty() && depth < kMaxPrefixDepth && matched.front().first > hole &&
      matched.front().second > hole && matched.front().first >= kMinAnchorFrames &&
      matched.front().second >= kMinAnchorFrames) {
    ThumbSequence a = lr, b = hr;
    a.size = static_cast<size_t>(matched.front().first);
    b.size = static_cast<size_t>(matched.front().second);
    AlignStats scratch;
    absl::StatusOr<IndexPairs> before = AlignSequences(a, b, options, prior, &scratch, depth + 1);
    if (before.ok() && !before->empty()) {
      stats->reanchors += 1 + scratch.reanchors;
      before->insert(before->end(), matched.begin(), matched.end());
      return before;
    }
  }
  return matched;
}

// Pairs sampled for the colour fit, and the least LR variance (per byte, 0..255 scale) that
// makes a fit meaningful: flat footage says nothing about gain.
constexpr size_t kColourPairs = 256;
constexpr double kMinColourVariance = 100;

// The slope of the line through (x, y) that minimises the perpendicular distances (total
// least squares). Both recordings carry noise of the same order (codec, scaler, the LR
// thumbnail's aliasing); the ordinary regression cov/var(x) treats x as exact and shrinks the
// gain by var(signal) / (var(signal) + var(noise in x)): on a real 160x120 capture against its
// 640x480 twin it read 0.92 for streams equal in colour, and the colour check refused them.
// Splitting the noise between both sides keeps the estimate at the true gain when the two
// noises are alike, the common case; it always lies between the regressions of y on x and
// of x on y.
double OrthogonalSlope(double var_x, double var_y, double cov) {
  if (cov <= 0) return var_x > 0 ? cov / var_x : 0;  // no agreement to fit: the check refuses
  const double d = var_y - var_x;
  return (d + std::sqrt(d * d + 4 * cov * cov)) / (2 * cov);
}

void FitColour(const ThumbSequence& a, const ThumbSequence& b, const IndexPairs& pairs,
               AlignStats* stats) {
  if (pairs.empty()) return;
  const size_t bytes = a.thumb_bytes();
  const size_t step = std::max<size_t>(1, pairs.size() / kColourPairs);
  double n[3] = {}, sx[3] = {}, sy[3] = {}, sxx[3] = {}, syy[3] = {}, sxy[3] = {};
  std::vector<uint8_t> ta(bytes), tb(bytes);
  for (size_t k = 0; k < pairs.size(); k += step) {
    a.CopyThumbs(static_cast<size_t>(pairs[k].first), 1, ta.data());
    b.CopyThumbs(static_cast<size_t>(pairs[k].second), 1, tb.data());
    for (size_t p = 0; p < bytes; ++p) {
      const size_t c = p % 3;
      const double x = ta[p], y = tb[p];
      n[c] += 1;
      sx[c] += x;
      sy[c] += y;
      sxx[c] += x * x;
      syy[c] += y * y;
      sxy[c] += x * y;
    }
  }
  for (int c = 0; c < 3; ++c) {
    const double var = sxx[c] / n[c] - (sx[c] / n[c]) * (sx[c] / n[c]);
    if (var < kMinColourVariance) return;
  }
  for (int c = 0; c < 3; ++c) {
    const double mx = sx[c] / n[c], my = sy[c] / n[c];
    const double var_x = sxx[c] / n[c] - mx * mx;
    const double var_y = syy[c] / n[c] - my * my;
    const double cov = sxy[c] / n[c] - mx * my;
    stats->colour_gain[c] = OrthogonalSlope(var_x, var_y, cov);
    stats->colour_offset[c] = my - stats->colour_gain[c] * mx;
  }
  stats->colour_samples = static_cast<int64_t>(n[0]);
}

// The near-neighbour test (AlignOptions::neighbour_margin). Whether a frame agrees better with
// its partner or with the partner's neighbour is decided only where those two differ beyond
// noise: over the whole picture the true match and the next moment often differ by less than
// codec noise (slow motion), and the sums would decide by chance.
//
// Bytes where partner and neighbour differ by more than tau = max(kMinChange, 3 x the pair's
// residual) are compared: the residual measures the noise between the two recordings, and
// noise alone rarely moves a byte three times that far. Rarely is not never: two encodes of
// the same moment (a repeat that deduplication kept) still differ beyond tau on a few dozen
// bytes of codec artefacts, and on those bytes either copy may be the closer one. What tells
// a change from such artefacts is how far beyond tau it goes: on the realistic footage
// (scripts/fidelity.sh) artefacts crossed it by 4-12 levels on average, moved objects by
// 20-100. So the neighbour competes only when the summed excess over tau reaches
// kMinExcessPerByte per byte of the thumbnail; below, it shows the same moment as far as the
// thumbnails can tell.
//
// Counting crossing bytes instead (at least 0.3 % of the thumbnail) refused 9 true pairs of
// the held-frames case, every one against a repeat of the partner's own moment, for 0.944
// recall there and 0.946 on half-rate LR; any count from 0.5 % on let wrong pairs through.
// The excess held precision at 1.000 in every case from 0.19 to 0.38 per byte (recall
// 0.988-1.000 and 0.993-0.995 on those two) and first let a wrong pair through at 0.58.
constexpr int kMinChange = 8;
constexpr double kMinExcessPerByte = 0.3;

// Where the adjacent kept frame shows the same moment (a repeat that deduplication kept under
// codec noise, a sprite that did not move), it says nothing; each side looks on outward to the
// nearest moment that *is* distinguishable, up to kNeighbourReach kept frames away. On the
// half-rate-LR footage (every LR moment twice, a quarter of the repeats kept) this took the
// off-by-one pairs from 1.6 % to none.
constexpr int64_t kNeighbourReach = 12;

}  // namespace

NeighbourVerdict CompareWithNeighbour(const uint8_t* self, const uint8_t* partner,
                                      const uint8_t* neighbour, size_t bytes, double residual,
                                      double margin) {
  const int tau = std::max(kMinChange, static_cast<int>(3 * residual + 0.5));
  int64_t to_partner = 0, to_neighbour = 0, excess = 0;
  for (size_t p = 0; p < bytes; ++p) {
    const int pn = std::abs(int{partner[p]} - int{neighbour[p]});
    if (pn <= tau) continue;
    excess += pn - tau;
    to_partner += std::abs(int{self[p]} - int{partner[p]});
    to_neighbour += std::abs(int{self[p]} - int{neighbour[p]});
  }
  if (static_cast<double>(excess) < kMinExcessPerByte * static_cast<double>(bytes)) {
    return NeighbourVerdict::kSame;
  }
  return static_cast<double>(to_partner) < margin * static_cast<double>(to_neighbour)
             ? NeighbourVerdict::kBeats
             : NeighbourVerdict::kLoses;
}

namespace {

// True when `self` beats the nearest distinguishable moment of `other` in direction `step`
// from `partner_index` (or there is none within reach).
bool BeatsNearestDistinct(const uint8_t* self, const ThumbSequence& other, int64_t partner_index,
                          int64_t step, double residual, double margin) {
  const size_t bytes = other.thumb_bytes();
  const uint8_t* partner = other.thumb(static_cast<size_t>(partner_index));
  const int64_t size = static_cast<int64_t>(other.size);
  for (int64_t k = 1; k <= kNeighbourReach; ++k) {
    const int64_t j = partner_index + step * k;
    if (j < 0 || j >= size) return true;
    switch (CompareWithNeighbour(self, partner, other.thumb(static_cast<size_t>(j)), bytes,
                                 residual, margin)) {
      case NeighbourVerdict::kBeats:
        return true;
      case NeighbourVerdict::kLoses:
        return false;
      case NeighbourVerdict::kSame:
        break;
    }
  }
  return true;
}

std::vector<bool> ClearlyBest(const ThumbSequence& a, const ThumbSequence& b,
                              const IndexPairs& matched, const std::vector<double>& residuals,
                              double margin) {
  std::vector<bool> clear(matched.size(), true);
  if (margin <= 0) return clear;
  for (size_t k = 0; k < matched.size(); ++k) {
    ReleaseEvery(a, b, k);
    const auto [i, j] = matched[k];
    const uint8_t* lr = a.thumb(static_cast<size_t>(i));
    const uint8_t* hr = b.thumb(static_cast<size_t>(j));
    bool ok = true;
    for (int64_t d : {-1, 1}) {
      ok = ok && BeatsNearestDistinct(lr, b, j, d, residuals[k], margin) &&
           BeatsNearestDistinct(hr, a, i, d, residuals[k], margin);
    }
    clear[k] = ok;
  }
  ReleaseResident(a, b);
  return clear;
}

// The timing tie-break. Where adjacent moments differ by less than the two recordings differ
// from each other (slow motion, rendered at two resolutions by the game itself), the pictures
// pick between them by chance: on a real capture (scripts/capture-game.sh), one LR frame in
// eight was closer, at every thumbnail scale from 32x24 to 160x120, to the HR render of the
// adjacent tic than to its own. Their timestamps are not: both recordings run in real time, so
// HR time - LR time is locally constant, and in that capture it named the right one of two
// adjacent moments in 1011 of 1015 cases.
//
// Timestamps are a prior, never the truth: an edited or re-timed recording (drops cut out of a
// constant-rate file) shifts the offset at every cut. So the local offset is the median over
// kTimeContext matched pairs before a pair and the median over as many after it, and it is used
// only where the two agree within a frame interval (capture jitter moves single offsets by up
// to one); a pair moves only to the adjacent
// kept frame on one side when that frame is unmatched, lies closer to the expected time by more
// than half a frame interval of the faster capture, and the pictures do not clearly prefer the
// current partner (CompareWithNeighbour is not kBeats). The gates then judge the moved pair like
// any other.
constexpr int64_t kTimeContext = 8;
constexpr int64_t kMinTimeContext = 3;
// Passes over the pairs (a run of k shifted pairs needs k); each is O(pairs).
constexpr int kTimePasses = 16;

// The capture's frame interval, from the kept frames: where duplicates were removed, kept frames
// lie one or more source frames apart, so a low quantile of their spacing rather than the median.
double FrameInterval(const ThumbSequence& s) {
  std::vector<double> steps;
  for (size_t i = 1; i < s.size; ++i) {
    const double d = s.time[i] - s.time[i - 1];
    if (d > 0) steps.push_back(d);
  }
  return steps.empty() ? 0 : QuantileOf(std::move(steps), 0.1);
}

int64_t MoveTowardsTime(const ThumbSequence& a, const ThumbSequence& b, IndexPairs& matched,
                        double margin) {
  if (a.time == nullptr || b.time == nullptr || matched.size() < 2 * kMinTimeContext + 1) return 0;
  const double frame = std::min(FrameInterval(a), FrameInterval(b));
  if (!(frame > 0)) return 0;
  const double half = 0.5 * frame;
  const size_t bytes = a.thumb_bytes();
  const int64_t n = static_cast<int64_t>(matched.size());
  std::vector<double> offset(matched.size());       // HR time - LR time of each pair
  auto median_of = [&](int64_t from, int64_t to) {  // over pairs [from, to), clipped
    from = std::max<int64_t>(from, 0);
    to = std::min(to, n);
    if (to - from < kMinTimeContext) return std::numeric_limits<double>::quiet_NaN();
    return MedianOf(std::vector<double>(offset.begin() + from, offset.begin() + to));
  };
  // Moves `partner` (a frame of `others`, matched with `self` of `self_seq`) to an adjacent
  // frame strictly between `lo` and `hi` (the neighbouring pairs' frames) whose time is nearer
  // `want`.
  auto move = [&](const ThumbSequence& self_seq, int64_t self, const ThumbSequence& others,
                  int64_t& partner, int64_t lo, int64_t hi, double want) {
    const double residual = ThumbDistance(self_seq.thumb(self), others.thumb(partner), bytes);
    for (int64_t d : {-1, 1}) {
      const int64_t c = partner + d;
      if (c <= lo || c >= hi) continue;
      if (std::abs(others.time[c] - want) + half >= std::abs(others.time[partner] - want)) continue;
      if (CompareWithNeighbour(self_seq.thumb(self), others.thumb(partner), others.thumb(c), bytes,
                               residual, margin) == NeighbourVerdict::kBeats) {
        continue;
      }
      partner = c;
      return true;
    }
    return false;
  };
  auto move_pair = [&](int64_t k) {
    double before = median_of(k - kTimeContext, k);
    double after = median_of(k + 1, k + 1 + kTimeContext);
    // At either end of the footage only one side has context.
    if (std::isnan(before)) before = after;
    if (std::isnan(after)) after = before;
    if (std::isnan(before) || std::abs(before - after) > frame) return false;
    const double expected = (before + after) / 2;
    auto& [i, j] = matched[k];
    const int64_t prev_i = k > 0 ? matched[k - 1].first : -1;
    const int64_t prev_j = k > 0 ? matched[k - 1].second : -1;
    const int64_t next_i = k + 1 < n ? matched[k + 1].first : static_cast<int64_t>(a.size);
    const int64_t next_j = k + 1 < n ? matched[k + 1].second : static_cast<int64_t>(b.size);
    return move(a, i, b, j, prev_j, next_j, a.time[i] + expected) ||
           move(b, j, a, i, prev_i, next_i, b.time[j] - expected);
  };
  // A run of shifted pairs can only move from its free end inwards: passes alternate in
  // direction until nothing moves.
  int64_t moved = 0;
  for (int pass = 0; pass < kTimePasses; ++pass) {
    for (int64_t k = 0; k < n; ++k) {
      offset[k] = b.time[matched[k].second] - a.time[matched[k].first];
    }
    const int64_t moved_before = moved;
    for (int64_t step = 0; step < n; ++step) {
      ReleaseEvery(a, b, static_cast<size_t>(step));
      moved += move_pair(pass % 2 == 0 ? n - 1 - step : step) ? 1 : 0;
    }
    ReleaseResident(a, b);
    if (moved == moved_before) break;
  }
  return moved;
}

}  // namespace

double ThumbDistance(const uint8_t* a, const uint8_t* b, size_t bytes) {
  if (bytes == 0) return 0;
  return static_cast<double>(SumAbsDiff(a, b, bytes)) / static_cast<double>(bytes);
}

std::vector<bool> SpikeFilter(const std::vector<double>& residuals, double ratio) {
  std::vector<bool> keep(residuals.size(), true);
  if (ratio <= 0) return keep;
  auto v = [&](size_t k) { return residuals[k] == 0 ? 1.0 : residuals[k]; };
  for (size_t k = 2; k < residuals.size(); ++k) {
    const double mean = (v(k - 2) + v(k - 1) + v(k)) / 3;
    if (v(k) / mean > ratio) keep[k] = false;
  }
  return keep;
}

absl::StatusOr<AlignResult> Align(const ThumbSequence& lr, const ThumbSequence& hr,
                                  const AlignOptions& options) {
  if (absl::Status s = Validate(lr, hr); !s.ok()) return s;
  AlignResult result;
  AlignStats& stats = result.stats;
  stats.lr_frames = static_cast<int64_t>(lr.size);
  stats.hr_frames = static_cast<int64_t>(hr.size);
  const Prior prior(options.rate_ratio);
  stats.rate_ratio = prior.ratio();

  IndexPairs matched;
  if (options.mode == AlignMode::kGreedy) {
    const CoarseResult coarse = CoarseOffset(lr, hr, std::max(0, options.max_offset), prior);
    FP_RETURN_IF_ERROR(CheckRelated(coarse, options));
    matched = GreedyFrameSync(lr, hr);
  } else {
    FP_ASSIGN_OR_RETURN(matched, AlignSequences(lr, hr, options, prior, &stats));
  }
  stats.matched = static_cast<int64_t>(matched.size());
  if (options.mode == AlignMode::kSequence && options.timing_tie_break) {
    stats.moved_by_time = MoveTowardsTime(lr, hr, matched, options.neighbour_margin);
  }

  const size_t bytes = lr.thumb_bytes();
  std::vector<double> residuals;
  residuals.reserve(matched.size());
  for (const auto& [i, j] : matched) {
    ReleaseEvery(lr, hr, residuals.size());
    residuals.push_back(
        ThumbDistance(lr.thumb(static_cast<size_t>(i)), hr.thumb(static_cast<size_t>(j)), bytes));
  }
  ReleaseResident(lr, hr);
  const std::vector<bool> keep = SpikeFilter(residuals, options.spike_ratio);
  const std::vector<bool> clear =
      options.mode == AlignMode::kSequence
          ? ClearlyBest(lr, hr, matched, residuals, options.neighbour_margin)
          : std::vector<bool>(matched.size(), true);
  double sum = 0;
  IndexPairs kept_positions;
  auto gate = [&](size_t k, Gate why) {
    result.gated.push_back(GatedPair{FrameIndex(lr, matched[k].first),
                                     FrameIndex(hr, matched[k].second), residuals[k], why});
  };
  for (size_t k = 0; k < matched.size(); ++k) {
    if (!keep[k]) {
      ++stats.rejected_spike;
      gate(k, Gate::kSpike);
      continue;
    }
    if (options.max_residual > 0 && residuals[k] > options.max_residual) {
      ++stats.rejected_residual;
      gate(k, Gate::kResidual);
      continue;
    }
    if (!clear[k]) {
      ++stats.rejected_ambiguous;
      gate(k, Gate::kAmbiguous);
      continue;
    }
    result.pairs.push_back(AlignedPair{FrameIndex(lr, matched[k].first),
                                       FrameIndex(hr, matched[k].second), residuals[k]});
    kept_positions.push_back(matched[k]);
    sum += residuals[k];
  }
  stats.pairs = static_cast<int64_t>(result.pairs.size());
  FitColour(lr, hr, kept_positions, &stats);
  stats.mean_residual = result.pairs.empty() ? 0 : sum / static_cast<double>(result.pairs.size());
  return result;
}

}  // namespace framepair
