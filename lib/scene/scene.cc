#include "scene/scene.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "util/sad.h"

namespace framepair {
namespace {

// OpenCV's 8-bit RGB->HSV is fixed point (modules/imgproc/src/color_hsv.simd.hpp). The
// scores must match PySceneDetect's to the last bit for the thresholds to mean the same, so
// the same tables and rounding are reproduced instead of a floating-point formula, which
// disagrees with OpenCV by one hue step on some pixels.
constexpr int kHsvShift = 12;

struct HsvTables {
  std::array<int, 256> sdiv{};
  std::array<int, 256> hdiv180{};
};

// cvRound: round half to even, as saturate_cast<int>(double) does.
int CvRound(double v) { return static_cast<int>(std::nearbyint(v)); }

const HsvTables& Tables() {
  static const HsvTables tables = [] {
    HsvTables t;
    for (int i = 1; i < 256; ++i) {
      t.sdiv[i] = CvRound((255 << kHsvShift) / (1.0 * i));
      t.hdiv180[i] = CvRound((180 << kHsvShift) / (6.0 * i));
    }
    return t;
  }();
  return tables;
}

// One thumbnail converted to planar H (0..179), S, V.
struct HsvImage {
  std::vector<uint8_t> h, s, v;
};

void ToHsv(const uint8_t* rgb, size_t pixels, HsvImage* out) {
  const HsvTables& t = Tables();
  out->h.resize(pixels);
  out->s.resize(pixels);
  out->v.resize(pixels);
  for (size_t p = 0; p < pixels; ++p) {
    const int r = rgb[3 * p], g = rgb[3 * p + 1], b = rgb[3 * p + 2];
    const int v = std::max({r, g, b});
    const int vmin = std::min({r, g, b});
    const int diff = v - vmin;
    const int vr = v == r ? -1 : 0;
    const int vg = v == g ? -1 : 0;
    const int s = (diff * t.sdiv[v] + (1 << (kHsvShift - 1))) >> kHsvShift;
    int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + ((~vg) & (r - g + 4 * diff))));
    h = (h * t.hdiv180[diff] + (1 << (kHsvShift - 1))) >> kHsvShift;
    h += h < 0 ? 180 : 0;
    out->h[p] = static_cast<uint8_t>(h);
    out->s[p] = static_cast<uint8_t>(s);
    out->v[p] = static_cast<uint8_t>(v);
  }
}

double MeanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.empty()) return 0;
  return static_cast<double>(SumAbsDiff(a.data(), b.data(), a.size())) /
         static_cast<double>(a.size());
}

// Hue is compared linearly, not around the circle: PySceneDetect does the same, and
// thresholds tuned on it assume it.
double HsvScore(const HsvImage& a, const HsvImage& b) {
  return (MeanAbsDiff(a.h, b.h) + MeanAbsDiff(a.s, b.s) + MeanAbsDiff(a.v, b.v)) / 3.0;
}

enum class Break { kNone, kLostMoment, kStall };

Break ContinuityBreak(const UnpairedRun& run, const JumpLimits& limits) {
  if (run.lr > 0 && run.hr > 0) return Break::kLostMoment;
  if (run.lr > limits.lr || run.hr > limits.hr) return Break::kStall;
  return Break::kNone;
}

// Longest one-sided run counted towards the rate ratio: a stall says nothing about rates.
constexpr int64_t kRateRunCap = 8;

// See PassesDetector: a score this many times the content threshold may be judged against the
// calmer side of its neighbourhood alone.
constexpr double kStrongCutFactor = 2;

// Whether position i passes the detector's threshold, ignoring min_scene_len and flashes.
bool PassesDetector(const std::vector<double>& score, const std::vector<bool>& jump, size_t i,
                    const SceneOptions& options) {
  if (options.detector == SceneDetector::kContent) return score[i] >= options.content_threshold;
  if (score[i] < options.adaptive_min_content) return false;
  // PySceneDetect cannot judge the first and last `window` frames (its buffer is not full);
  // here the window is truncated to the neighbours that exist so that a cut near either end
  // of a short pair sequence is still found. Position 0 has no score and never cuts; jump
  // positions are left out of the average because their score compares unrelated frames.
  const int64_t w = options.adaptive_window;
  const int64_t n = static_cast<int64_t>(score.size());
  const int64_t c = static_cast<int64_t>(i);
  double sum[2] = {0, 0};  // before, after
  int count[2] = {0, 0};
  for (int64_t j = std::max<int64_t>(1, c - w); j <= std::min(n - 1, c + w); ++j) {
    if (j == c || jump[j]) continue;
    sum[j > c] += score[j];
    ++count[j > c];
  }
  // PySceneDetect's rule for a flat neighbourhood: ratio 255 (always a cut if the score
  // itself is high enough), and ratios are capped at 255.
  auto ratio_to = [&](double total, int k) {
    const double mean = k > 0 ? total / k : 0;
    return mean < 1e-5 ? 255.0 : std::min(score[i] / mean, 255.0);
  };
  if (ratio_to(sum[0] + sum[1], count[0] + count[1]) >= options.adaptive_threshold) return true;
  // A cut from a calm scene into a busy one (or back) stands out only from the calm side: the
  // busy side's motion scores pull the two-sided mean up. Measured on a 12 fps game captured at
  // 60 (every moment held 5 frames, so motion scores 18 in a slow pan and 28-35 in a zoom):
  // the cut between them scored 64, 2.6x the two-sided mean. A score this far above the
  // content detector's threshold that stands out from the calmer side is a cut; below it,
  // the start or end of fast motion would cut too.
  if (score[i] < kStrongCutFactor * options.content_threshold || count[0] == 0 || count[1] == 0) {
    return false;
  }
  return std::max(ratio_to(sum[0], count[0]), ratio_to(sum[1], count[1])) >=
         options.adaptive_threshold;
}

}  // namespace

absl::StatusOr<std::vector<UnpairedRun>> UnpairedBetweenPairs(const std::vector<AlignedPair>& pairs,
                                                              const KeptFrames& kept) {
  auto position = [](std::span<const int64_t> frames, int64_t frame) -> int64_t {
    const auto it = std::lower_bound(frames.begin(), frames.end(), frame);
    if (it == frames.end() || *it != frame) return -1;
    return it - frames.begin();
  };
  std::vector<UnpairedRun> runs;
  runs.reserve(pairs.size());
  int64_t prev_lr = -1, prev_hr = -1;
  for (const AlignedPair& p : pairs) {
    const int64_t lr = position(kept.lr, p.lr_frame);
    const int64_t hr = position(kept.hr, p.hr_frame);
    if (lr < 0 || hr < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "aligned pair (", p.lr_frame, ", ", p.hr_frame, ") names a frame that ",
          lr < 0 ? "the LR" : "the HR", " recording does not keep (damaged work files?)"));
    }
    if (lr <= prev_lr || hr <= prev_hr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "aligned pairs are not strictly increasing at (", p.lr_frame, ", ", p.hr_frame, ")"));
    }
    runs.push_back({lr - prev_lr - 1, hr - prev_hr - 1});
    prev_lr = lr;
    prev_hr = hr;
  }
  return runs;
}

JumpLimits AutoJumpLimits(const std::vector<UnpairedRun>& runs) {
  if (runs.size() < 2) return {};
  int64_t lr_extra = 0, hr_extra = 0;
  for (size_t k = 1; k < runs.size(); ++k) {
    if (runs[k].hr == 0) lr_extra += std::min(runs[k].lr, kRateRunCap);
    if (runs[k].lr == 0) hr_extra += std::min(runs[k].hr, kRateRunCap);
  }
  const double gaps = static_cast<double>(runs.size() - 1);
  // Kept frames per pair on each side; a recording rendering r times as many frames as the
  // other shows r - 1 extra frames per pair, and one more may be missed by the other capture.
  auto limit = [gaps](int64_t extra) {
    const double ratio = 1.0 + static_cast<double>(extra) / gaps;
    return std::max(1, static_cast<int>(std::lround(2 * ratio)) - 1);
  };
  return {limit(lr_extra), limit(hr_extra)};
}

ScoreSize PySceneDetectScoreSize(int width, int height) {
  constexpr int kMinWidth = 256;  // PySceneDetect's DEFAULT_MIN_WIDTH
  const int f = width < kMinWidth ? 1 : width / kMinWidth;
  if (f <= 1) return {width, height};
  auto round_div = [f](int v) {
    return std::max(1, static_cast<int>(std::lround(static_cast<double>(v) / f)));
  };
  return {round_div(width), round_div(height)};
}

void ResizeLinear(const uint8_t* src, int width, int height, int out_width, int out_height,
                  std::vector<uint8_t>* out) {
  constexpr int kBits = 11;  // INTER_RESIZE_COEF_BITS
  constexpr int kOne = 1 << kBits;
  struct Tap {
    int index;
    int w0, w1;
  };
  // cv::resize: src = (dst + 0.5) * scale - 0.5, clamped at the borders.
  auto taps = [](int in, int outn) {
    std::vector<Tap> t(static_cast<size_t>(outn));
    const double scale = static_cast<double>(in) / outn;
    for (int d = 0; d < outn; ++d) {
      double fx = (d + 0.5) * scale - 0.5;
      int sx = static_cast<int>(std::floor(fx));
      fx -= sx;
      if (sx < 0) {
        sx = 0;
        fx = 0;
      }
      if (sx >= in - 1) {
        sx = in - 1;
        fx = 0;
      }
      const int w0 = static_cast<int>(std::lround((1.0 - fx) * kOne));
      t[static_cast<size_t>(d)] = {sx, w0, kOne - w0};
    }
    return t;
  };
  const std::vector<Tap> xs = taps(width, out_width), ys = taps(height, out_height);
  out->resize(static_cast<size_t>(out_width) * out_height * 3);
  std::vector<int> row0(static_cast<size_t>(out_width) * 3), row1(row0.size());
  auto horizontal = [&](int y, std::vector<int>* row) {
    const uint8_t* line = src + static_cast<size_t>(y) * width * 3;
    for (int d = 0; d < out_width; ++d) {
      const Tap& t = xs[static_cast<size_t>(d)];
      const int next = std::min(t.index + 1, width - 1);
      for (int c = 0; c < 3; ++c) {
        (*row)[static_cast<size_t>(d) * 3 + c] =
            line[t.index * 3 + c] * t.w0 + line[next * 3 + c] * t.w1;
      }
    }
  };
  for (int d = 0; d < out_height; ++d) {
    const Tap& t = ys[static_cast<size_t>(d)];
    horizontal(t.index, &row0);
    horizontal(std::min(t.index + 1, height - 1), &row1);
    uint8_t* o = out->data() + static_cast<size_t>(d) * out_width * 3;
    for (size_t k = 0; k < row0.size(); ++k) {
      const int64_t v = int64_t{row0[k]} * t.w0 + int64_t{row1[k]} * t.w1;
      o[k] = static_cast<uint8_t>(
          std::clamp<int64_t>((v + (int64_t{1} << (2 * kBits - 1))) >> (2 * kBits), 0, 255));
    }
  }
}

struct ContentScorer::State {
  std::vector<uint8_t> scaled;
  HsvImage previous, current;
  bool have_previous = false;
};

ContentScorer::ContentScorer() : state_(std::make_unique<State>()) {}
ContentScorer::~ContentScorer() = default;

double ContentScorer::Next(const uint8_t* rgb, int width, int height) {
  const ScoreSize size = PySceneDetectScoreSize(width, height);
  const uint8_t* pixels = rgb;
  if (size.width != width || size.height != height) {
    ResizeLinear(rgb, width, height, size.width, size.height, &state_->scaled);
    pixels = state_->scaled.data();
  }
  ToHsv(pixels, static_cast<size_t>(size.width) * size.height, &state_->current);
  const bool comparable =
      state_->have_previous && state_->previous.h.size() == state_->current.h.size();
  const double score = comparable ? HsvScore(state_->previous, state_->current) : 0.0;
  std::swap(state_->previous, state_->current);
  state_->have_previous = true;
  return score;
}

double ContentScore(const uint8_t* a, const uint8_t* b, int width, int height) {
  const size_t pixels = static_cast<size_t>(width) * static_cast<size_t>(height);
  HsvImage ha, hb;
  ToHsv(a, pixels, &ha);
  ToHsv(b, pixels, &hb);
  return HsvScore(ha, hb);
}

absl::StatusOr<SceneResult> DetectScenes(const ThumbSequence& thumbs,
                                         const std::vector<AlignedPair>& pairs,
                                         const KeptFrames& kept, const SceneOptions& options) {
  if (thumbs.size != pairs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("scene detection got ", thumbs.size,
                                                   " thumbnails for ", pairs.size(),
                                                   " aligned pairs; they must be one per pair"));
  }
  if (!pairs.empty() && (thumbs.width <= 0 || thumbs.height <= 0 || thumbs.pixels == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat("scene detection got empty thumbnails (",
                                                   thumbs.width, "x", thumbs.height, ")"));
  }
  if (options.min_scene_len < 0 || options.flash_max_len < 0 || options.adaptive_window < 1 ||
      options.max_jump < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid scene options: --min-scene-len ", options.min_scene_len, ", flash_max_len ",
        options.flash_max_len, ", adaptive_window ", options.adaptive_window, ", --max-jump ",
        options.max_jump, " (need >= 0, >= 0, >= 1, >= -1)"));
  }
  for (size_t i = 1; i < pairs.size(); ++i) {
    if (pairs[i].lr_frame <= pairs[i - 1].lr_frame || pairs[i].hr_frame <= pairs[i - 1].hr_frame) {
      return absl::InvalidArgumentError(
          absl::StrCat("aligned pairs are not strictly increasing at position ", i, ": (",
                       pairs[i - 1].lr_frame, ", ", pairs[i - 1].hr_frame, ") then (",
                       pairs[i].lr_frame, ", ", pairs[i].hr_frame, ")"));
    }
  }
  absl::StatusOr<std::vector<UnpairedRun>> runs = UnpairedBetweenPairs(pairs, kept);
  if (!runs.ok()) return runs.status();
  JumpLimits limits = AutoJumpLimits(*runs);
  if (options.max_jump >= 0) limits = {options.max_jump, options.max_jump};

  SceneResult result;
  result.stats.max_jump_lr = limits.lr;
  result.stats.max_jump_hr = limits.hr;
  const size_t n = pairs.size();
  if (n == 0) return result;
  const size_t pixels = static_cast<size_t>(thumbs.width) * static_cast<size_t>(thumbs.height);

  // score[i] compares pair i-1 with pair i; score[0] stays 0 like PySceneDetect's first frame.
  // HSV images are as large as the thumbnails, so only two are kept (memory must not grow
  // with the footage); the few flash checks below convert their frames again.
  std::vector<double> score(n, 0.0);
  std::vector<bool> jump(n, false);
  // Positions where the scene side skipped more moments than the rate ratio explains (the
  // other recording shows frames in between): their score spans several moments, so a drop
  // run during motion scores like a cut. See the candidate loop.
  std::vector<bool> spans_moments(n, false);
  const int64_t other_usual = kept.scene_side_is_hr ? (limits.lr - 1) / 2 : (limits.hr - 1) / 2;
  HsvImage previous, current;
  // With ingest's scores at PySceneDetect's scale, a pair's score is the largest over the
  // scene side's kept frames since the previous pair (a cut shows in one of them).
  const std::span<const int64_t> scene_kept = kept.scene_side_is_hr ? kept.hr : kept.lr;
  const bool ingest_scores =
      !kept.scene_scores.empty() && kept.scene_scores.size() == scene_kept.size();
  std::vector<int64_t> scene_pos;
  if (ingest_scores) {
    for (const AlignedPair& p : pairs) {
      const int64_t f = kept.scene_side_is_hr ? p.hr_frame : p.lr_frame;
      scene_pos.push_back(std::lower_bound(scene_kept.begin(), scene_kept.end(), f) -
                          scene_kept.begin());
    }
  }
  ToHsv(thumbs.thumb(0), pixels, &previous);
  for (size_t i = 1; i < n; ++i) {
    thumbs.ReleaseEvery(i);
    if (ingest_scores) {
      float best = 0;
      for (int64_t k = scene_pos[i - 1] + 1; k <= scene_pos[i]; ++k) {
        best = std::max(best, kept.scene_scores[static_cast<size_t>(k)]);
      }
      score[i] = best;
    } else {
      ToHsv(thumbs.thumb(i), pixels, &current);
      score[i] = HsvScore(previous, current);
      std::swap(previous, current);
    }
    switch (ContinuityBreak((*runs)[i], limits)) {
      case Break::kLostMoment:
        ++result.stats.lost_moments;
        jump[i] = true;
        break;
      case Break::kStall:
        ++result.stats.stalls;
        jump[i] = true;
        break;
      case Break::kNone:
        spans_moments[i] = (kept.scene_side_is_hr ? (*runs)[i].lr : (*runs)[i].hr) > other_usual;
        break;
    }
  }
  thumbs.ReleaseResident();

  // A flash returns to "the same picture": within a third of the cut threshold, which
  // leaves room for the motion that happened during the flash frames.
  const double flash_return = options.content_threshold / 3.0;
  std::vector<bool> is_cut(n, false);
  // Counted from the first frame, as PySceneDetect >= 0.6.1 does: no cut in the first
  // min_scene_len frames.
  size_t last_cut = 0;
  size_t skip_until = 0;  // positions inside a suppressed flash are not candidates
  for (size_t i = 1; i < n; ++i) {
    // A continuity break is a segment break already, and its score spans the moments lost
    // there (a drop run scores like a cut), so it is not a candidate.
    if (jump[i] || i < skip_until) continue;
    if (!PassesDetector(score, jump, i, options)) continue;
    // A spike across skipped moments may be a drop run or a cut: it breaks the segment either
    // way (a needless break costs a few windows, a missed cut ruins them), but it does not
    // start min_scene_len, which would hide a real cut a few frames later.
    if (!spans_moments[i] && i - last_cut < static_cast<size_t>(options.min_scene_len)) continue;
    bool flash = false;
    if (options.flash_max_len > 0) ToHsv(thumbs.thumb(i - 1), pixels, &previous);
    for (int k = 1; k <= options.flash_max_len && i + k < n; ++k) {
      ToHsv(thumbs.thumb(i + k), pixels, &current);
      if (HsvScore(previous, current) < flash_return) {
        flash = true;
        // The return to the old picture scores as high as the flash itself.
        skip_until = i + k + 1;
        break;
      }
    }
    if (flash) {
      ++result.stats.flashes_suppressed;
      continue;
    }
    is_cut[i] = true;
    if (!spans_moments[i]) last_cut = i;
    result.cut_positions.push_back(static_cast<int64_t>(i));
    ++result.stats.cuts;
  }

  int64_t begin = 0;
  for (size_t i = 1; i < n; ++i) {
    if (jump[i]) ++result.stats.jumps;
    if (jump[i] || is_cut[i]) {
      result.segments.push_back({begin, static_cast<int64_t>(i)});
      begin = static_cast<int64_t>(i);
    }
  }
  result.segments.push_back({begin, static_cast<int64_t>(n)});
  return result;
}

}  // namespace framepair
