#include "scene/scene.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace framepair {
namespace {

constexpr int kW = 64;
constexpr int kH = 36;
constexpr size_t kThumbBytes = static_cast<size_t>(kW) * kH * 3;

struct Rgb {
  double r, g, b;
};

// A scene "family": two colours and a texture. Consecutive families in the synthetic
// footage differ in hue, saturation and texture, the way game scenes (menu, map, indoor,
// outdoor) do.
struct Family {
  Rgb a, b;
  int texture;  // 0 horizontal waves, 1 diagonal waves, 2 rings, 3 checker-ish product
};

const std::vector<Family>& Families() {
  static const std::vector<Family> families = {
      {{200, 40, 20}, {250, 160, 60}, 0},   // red-orange
      {{20, 40, 160}, {60, 200, 230}, 1},   // blue-cyan
      {{30, 140, 30}, {200, 220, 60}, 2},   // green-yellow
      {{110, 20, 130}, {230, 90, 200}, 3},  // purple-magenta
      {{60, 60, 60}, {190, 190, 190}, 0},   // greys
      {{120, 70, 20}, {230, 200, 150}, 2},  // browns
  };
  return families;
}

// Frame t of a scene: a smooth pattern drifting by about a pixel per frame, so consecutive
// frames differ (non-zero scores, as real footage) but far less than across a cut.
void RenderScene(const Family& f, int t, uint8_t* out) {
  constexpr double kPi = 3.14159265358979323846;
  for (int y = 0; y < kH; ++y) {
    for (int x = 0; x < kW; ++x) {
      double m = 0;
      const double xs = x + t;
      switch (f.texture) {
        case 0:
          m = 0.5 + 0.5 * std::sin(2 * kPi * xs / 40.0);
          break;
        case 1:
          m = 0.5 + 0.5 * std::sin(2 * kPi * (xs + y) / 30.0);
          break;
        case 2: {
          const double dx = x - 32 - 8 * std::sin(t / 10.0), dy = y - 18;
          m = 0.5 + 0.5 * std::sin(std::sqrt(dx * dx + dy * dy) / 3.0 - t / 5.0);
          break;
        }
        default:
          m = 0.5 + 0.5 * std::sin(2 * kPi * xs / 48.0) * std::sin(2 * kPi * y / 24.0);
          break;
      }
      uint8_t* p = out + (static_cast<size_t>(y) * kW + x) * 3;
      p[0] = static_cast<uint8_t>(std::lround(f.a.r + (f.b.r - f.a.r) * m));
      p[1] = static_cast<uint8_t>(std::lround(f.a.g + (f.b.g - f.a.g) * m));
      p[2] = static_cast<uint8_t>(std::lround(f.a.b + (f.b.b - f.a.b) * m));
    }
  }
}

// Owns the pixels and frame indexes that a ThumbSequence borrows.
struct Footage {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> frames;
  std::vector<AlignedPair> pairs;
  std::vector<int64_t> true_cuts;

  uint8_t* Append() {
    pixels.resize(pixels.size() + kThumbBytes);
    const int64_t next = pairs.empty() ? 0 : pairs.back().lr_frame + 1;
    frames.push_back(next);
    pairs.push_back({next, 10 + next, 0});
    return pixels.data() + pixels.size() - kThumbBytes;
  }
  void AddScene(int family, int length) {
    if (!pairs.empty()) true_cuts.push_back(static_cast<int64_t>(pairs.size()));
    // Start each scene at a different phase, as a game cut lands mid-motion.
    const int t0 = 7 * static_cast<int>(true_cuts.size());
    for (int t = 0; t < length; ++t) RenderScene(Families()[family], t0 + t, Append());
  }
  ThumbSequence Thumbs() const {
    ThumbSequence s;
    s.width = kW;
    s.height = kH;
    s.frame_index = frames.data();
    s.pixels = pixels.data();
    s.size = frames.size();
    return s;
  }
};

// Every source frame up to the last pair's is kept: unpaired kept frames between two pairs
// are then exactly the frames their indexes skip.
struct AllKept {
  std::vector<int64_t> lr, hr;
  explicit AllKept(const std::vector<AlignedPair>& pairs) {
    const int64_t n_lr = pairs.empty() ? 0 : pairs.back().lr_frame + 1;
    const int64_t n_hr = pairs.empty() ? 0 : pairs.back().hr_frame + 1;
    for (int64_t i = 0; i < n_lr; ++i) lr.push_back(i);
    for (int64_t i = 0; i < n_hr; ++i) hr.push_back(i);
  }
  KeptFrames view() const { return {lr, hr}; }
};

SceneResult Detect(const Footage& f, const SceneOptions& o) {
  const AllKept kept(f.pairs);
  absl::StatusOr<SceneResult> r = DetectScenes(f.Thumbs(), f.pairs, kept.view(), o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SceneResult{};
}

// Every segment starts where the previous ended, from 0 to n, none empty.
void ExpectTiling(const SceneResult& r, size_t n) {
  ASSERT_FALSE(r.segments.empty());
  EXPECT_EQ(r.segments.front().begin, 0);
  EXPECT_EQ(r.segments.back().end, static_cast<int64_t>(n));
  for (size_t i = 0; i < r.segments.size(); ++i) {
    EXPECT_GT(r.segments[i].size(), 0);
    if (i > 0) {
      EXPECT_EQ(r.segments[i].begin, r.segments[i - 1].end);
    }
  }
}

std::vector<uint8_t> Solid(uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> img(kThumbBytes);
  for (size_t i = 0; i < img.size(); i += 3) {
    img[i] = r;
    img[i + 1] = g;
    img[i + 2] = b;
  }
  return img;
}

double SolidScore(std::vector<uint8_t> a, std::vector<uint8_t> b) {
  return ContentScore(a.data(), b.data(), kW, kH);
}

TEST(ContentScoreTest, KnownAnswers) {
  EXPECT_EQ(SolidScore(Solid(0, 0, 0), Solid(0, 0, 0)), 0.0);
  EXPECT_EQ(SolidScore(Solid(12, 200, 99), Solid(12, 200, 99)), 0.0);
  // Black (0,0,0) vs white (0,0,255) in HSV: only V differs.
  EXPECT_DOUBLE_EQ(SolidScore(Solid(0, 0, 0), Solid(255, 255, 255)), 85.0);
  // Red is H 0, blue is H 120 (240 degrees / 2); both S 255, V 255.
  EXPECT_DOUBLE_EQ(SolidScore(Solid(255, 0, 0), Solid(0, 0, 255)), 40.0);
  // Green is H 60; the score is symmetric.
  EXPECT_DOUBLE_EQ(SolidScore(Solid(0, 255, 0), Solid(255, 0, 0)), 20.0);
  EXPECT_DOUBLE_EQ(SolidScore(Solid(255, 0, 0), Solid(0, 255, 0)), 20.0);
  // (10, 200, 100): OpenCV gives H 74, S 242, V 200; against black all three count.
  EXPECT_DOUBLE_EQ(SolidScore(Solid(10, 200, 100), Solid(0, 0, 0)), (74.0 + 242.0 + 200.0) / 3);
  // Hues just below 360 degrees: OpenCV's fixed point rounds (255, 0, 1) to H 0, not 180,
  // so it equals red ...
  EXPECT_DOUBLE_EQ(SolidScore(Solid(255, 0, 1), Solid(255, 0, 0)), 0.0);
  // ... while (255, 0, 20) is H -2 + 180 = 178, and hue is compared linearly (as in
  // PySceneDetect), not around the circle: |178 - 0| counts in full.
  EXPECT_DOUBLE_EQ(SolidScore(Solid(255, 0, 20), Solid(255, 0, 0)), 178.0 / 3);
}

TEST(ContentScoreTest, MeanOverPixels) {
  // Half the pixels change black -> white: mean |dV| = 127.5.
  std::vector<uint8_t> a = Solid(0, 0, 0), b = Solid(0, 0, 0);
  std::fill(b.begin(), b.begin() + b.size() / 2, 255);
  EXPECT_DOUBLE_EQ(SolidScore(a, b), 127.5 / 3);
}

// Random scene lengths and families; the detectors must find exactly the true cuts.
Footage RandomFootage(uint32_t seed, int scenes) {
  std::mt19937 rng(seed);
  Footage f;
  int family = -1;
  for (int s = 0; s < scenes; ++s) {
    int next;
    do {
      next = static_cast<int>(rng() % Families().size());
    } while (next == family);
    family = next;
    f.AddScene(family, 20 + static_cast<int>(rng() % 40));
  }
  return f;
}

struct PrecisionRecall {
  double precision, recall;
};

PrecisionRecall Measure(const std::vector<int64_t>& found, const std::vector<int64_t>& truth) {
  const std::set<int64_t> t(truth.begin(), truth.end());
  int64_t hits = 0;
  for (int64_t c : found) hits += t.count(c);
  return {found.empty() ? 1.0 : static_cast<double>(hits) / found.size(),
          truth.empty() ? 1.0 : static_cast<double>(hits) / truth.size()};
}

class DetectorTest : public ::testing::TestWithParam<SceneDetector> {};

TEST_P(DetectorTest, FindsExactlyTheTrueCuts) {
  SceneOptions o;
  o.detector = GetParam();
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    const Footage f = RandomFootage(seed, 12);
    const SceneResult r = Detect(f, o);
    const PrecisionRecall pr = Measure(r.cut_positions, f.true_cuts);
    EXPECT_EQ(pr.precision, 1.0) << "seed " << seed;
    EXPECT_EQ(pr.recall, 1.0) << "seed " << seed;
    EXPECT_EQ(r.cut_positions, f.true_cuts) << "seed " << seed;
    EXPECT_EQ(r.stats.cuts, static_cast<int64_t>(f.true_cuts.size()));
    EXPECT_EQ(r.stats.jumps, 0);
    EXPECT_EQ(r.stats.flashes_suppressed, 0);
    ExpectTiling(r, f.pairs.size());
    ASSERT_EQ(r.segments.size(), f.true_cuts.size() + 1);
    for (size_t i = 0; i < f.true_cuts.size(); ++i) {
      EXPECT_EQ(r.segments[i + 1].begin, f.true_cuts[i]);
    }
  }
}

TEST_P(DetectorTest, NoCutInsideOneMovingScene) {
  Footage f;
  f.AddScene(2, 200);  // the ring texture moves the most
  SceneOptions o;
  o.detector = GetParam();
  const SceneResult r = Detect(f, o);
  EXPECT_TRUE(r.cut_positions.empty());
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].size(), 200);
}

TEST_P(DetectorTest, WhiteFlashIsNotACut) {
  for (int flash_len : {1, 2}) {
    Footage f;
    f.AddScene(0, 40);
    // The flash hides the picture while the game keeps moving underneath.
    const std::vector<uint8_t> white = Solid(255, 255, 255);
    for (int k = 0; k < flash_len; ++k) std::copy(white.begin(), white.end(), f.Append());
    for (int t = 40 + flash_len; t < 80; ++t) RenderScene(Families()[0], t, f.Append());
    f.AddScene(1, 40);

    SceneOptions o;
    o.detector = GetParam();
    const SceneResult r = Detect(f, o);
    EXPECT_EQ(r.cut_positions, f.true_cuts) << "flash of " << flash_len;
    EXPECT_EQ(r.stats.flashes_suppressed, 1) << "flash of " << flash_len;

    // Without suppression the flash is a cut (so the suppression above is what saved it).
    o.flash_max_len = 0;
    const SceneResult raw = Detect(f, o);
    EXPECT_EQ(raw.stats.flashes_suppressed, 0);
    EXPECT_TRUE(std::count(raw.cut_positions.begin(), raw.cut_positions.end(), 40) == 1)
        << "flash of " << flash_len;
  }
}

TEST_P(DetectorTest, SlowDissolveIsMissedLikePySceneDetect) {
  // A 40-frame cross-dissolve between two scenes changes each frame by a fortieth of the
  // scene difference: no single step looks like a cut, so both detectors keep one segment,
  // as PySceneDetect does. Windows may then span the dissolve; LR and HR still show the same
  // moments, so such windows are valid (if less typical) training data.
  Footage f;
  f.AddScene(0, 30);
  std::vector<uint8_t> a(kThumbBytes), b(kThumbBytes);
  constexpr int kFade = 40;
  for (int k = 1; k <= kFade; ++k) {
    RenderScene(Families()[0], 30 + k, a.data());
    RenderScene(Families()[1], k, b.data());
    uint8_t* out = f.Append();
    const double w = static_cast<double>(k) / (kFade + 1);
    for (size_t i = 0; i < kThumbBytes; ++i) {
      out[i] = static_cast<uint8_t>(std::lround(a[i] * (1 - w) + b[i] * w));
    }
  }
  for (int t = kFade + 1; t < kFade + 31; ++t) RenderScene(Families()[1], t, f.Append());

  SceneOptions o;
  o.detector = GetParam();
  const SceneResult r = Detect(f, o);
  EXPECT_TRUE(r.cut_positions.empty());
  EXPECT_EQ(r.segments.size(), 1u);
}

TEST_P(DetectorTest, FastFadeThroughBlackIsOneCut) {
  // Scene A, three frames fading to black, scene B: a fade short enough to be a cut. The
  // fade-out steps are large, so the detector cuts once (min_scene_len stops the rest).
  Footage f;
  f.AddScene(0, 30);
  std::vector<uint8_t> a(kThumbBytes);
  for (int k = 1; k <= 3; ++k) {
    RenderScene(Families()[0], 30 + k, a.data());
    uint8_t* out = f.Append();
    for (size_t i = 0; i < kThumbBytes; ++i) out[i] = static_cast<uint8_t>(a[i] * (3 - k) / 3);
  }
  f.AddScene(1, 30);
  SceneOptions o;
  o.detector = GetParam();
  const SceneResult r = Detect(f, o);
  ASSERT_EQ(r.cut_positions.size(), 1u);
  EXPECT_GE(r.cut_positions[0], 30);
  EXPECT_LE(r.cut_positions[0], 33);
}

INSTANTIATE_TEST_SUITE_P(Detectors, DetectorTest,
                         ::testing::Values(SceneDetector::kContent, SceneDetector::kAdaptive),
                         [](const auto& info) {
                           return std::string(info.param == SceneDetector::kContent ? "Content"
                                                                                    : "Adaptive");
                         });

TEST(DetectScenesTest, MinSceneLenHoldsCutsApart) {
  Footage f;
  f.AddScene(0, 30);
  f.AddScene(1, 8);  // shorter than min_scene_len: its end is not a cut
  f.AddScene(2, 30);
  SceneOptions o;
  o.detector = SceneDetector::kContent;
  EXPECT_EQ(Detect(f, o).cut_positions, (std::vector<int64_t>{30}));
  o.min_scene_len = 8;
  EXPECT_EQ(Detect(f, o).cut_positions, (std::vector<int64_t>{30, 38}));
  // Counted from the first frame too: no cut in the first min_scene_len frames.
  Footage early;
  early.AddScene(0, 10);
  early.AddScene(1, 30);
  o.min_scene_len = 15;
  EXPECT_TRUE(Detect(early, o).cut_positions.empty());
  o.min_scene_len = 10;
  EXPECT_EQ(Detect(early, o).cut_positions, (std::vector<int64_t>{10}));
}

TEST(DetectScenesTest, ContentThresholdIsInclusive) {
  // Two solid scenes red -> blue score exactly 40: a cut at threshold 40, none above.
  Footage f;
  const std::vector<uint8_t> red = Solid(255, 0, 0), blue = Solid(0, 0, 255);
  for (int i = 0; i < 20; ++i) std::copy(red.begin(), red.end(), f.Append());
  for (int i = 0; i < 20; ++i) std::copy(blue.begin(), blue.end(), f.Append());
  SceneOptions o;
  o.detector = SceneDetector::kContent;
  o.content_threshold = 40.0;
  EXPECT_EQ(Detect(f, o).cut_positions, (std::vector<int64_t>{20}));
  o.content_threshold = 40.001;
  EXPECT_TRUE(Detect(f, o).cut_positions.empty());
}

TEST(DetectScenesTest, AdaptiveIgnoresHighScoresInBusyNeighbourhoods) {
  // Constant big changes every frame (alternating colours): the content detector cuts at
  // every allowed position; the adaptive detector sees a ratio of 1 and does not.
  Footage f;
  const std::vector<uint8_t> red = Solid(255, 0, 0), blue = Solid(0, 0, 255);
  for (int i = 0; i < 60; ++i) {
    const std::vector<uint8_t>& c = i % 2 ? blue : red;
    std::copy(c.begin(), c.end(), f.Append());
  }
  SceneOptions o;
  o.flash_max_len = 0;
  o.detector = SceneDetector::kContent;
  EXPECT_EQ(Detect(f, o).cut_positions, (std::vector<int64_t>{15, 30, 45}));
  o.detector = SceneDetector::kAdaptive;
  EXPECT_TRUE(Detect(f, o).cut_positions.empty());
}

TEST(DetectScenesTest, ContinuityBreaksCountMomentsNotFrames) {
  Footage f;
  f.AddScene(0, 100);
  // Pair 30: LR alone skips 4 kept frames (one-sided, over the limit of 1 for equal rates).
  // Pair 60: HR alone skips 10. Pair 80: both skip one kept frame: a moment both recordings
  // may show is lost, so it breaks however short. Pair 90: LR alone skips 1: allowed.
  for (size_t i = 30; i < f.pairs.size(); ++i) f.pairs[i].lr_frame += 4;
  for (size_t i = 60; i < f.pairs.size(); ++i) f.pairs[i].hr_frame += 10;
  for (size_t i = 80; i < f.pairs.size(); ++i) {
    f.pairs[i].lr_frame += 1;
    f.pairs[i].hr_frame += 1;
  }
  for (size_t i = 90; i < f.pairs.size(); ++i) f.pairs[i].lr_frame += 1;
  SceneOptions o;
  const SceneResult r = Detect(f, o);
  ExpectTiling(r, f.pairs.size());
  EXPECT_TRUE(r.cut_positions.empty());
  EXPECT_EQ(r.stats.jumps, 3);
  EXPECT_EQ(r.stats.stalls, 2);
  EXPECT_EQ(r.stats.lost_moments, 1);
  EXPECT_EQ(r.stats.max_jump_lr, 1);
  EXPECT_EQ(r.stats.max_jump_hr, 1);
  ASSERT_EQ(r.segments.size(), 4u);
  EXPECT_EQ(r.segments[1].begin, 30);
  EXPECT_EQ(r.segments[2].begin, 60);
  EXPECT_EQ(r.segments[3].begin, 80);

  o.max_jump = 0;  // now the single one-sided skip at pair 90 breaks too
  EXPECT_EQ(Detect(f, o).segments.size(), 5u);
  o.max_jump = 10;  // one-sided runs up to 10 allowed: only the lost moment breaks
  EXPECT_EQ(Detect(f, o).segments.size(), 2u);
}

TEST(DetectScenesTest, HeldFramesAreOneMoment) {
  // A game rendering at 12 fps captured at 60: every moment is held for 5 capture frames,
  // deduplication keeps one of each. Pairs skip 4 source frames each time, no kept frame.
  Footage f;
  f.AddScene(0, 60);
  AllKept kept(f.pairs);
  kept.lr.clear();
  kept.hr.clear();
  for (AlignedPair& p : f.pairs) {
    p.lr_frame *= 5;
    p.hr_frame *= 5;
    kept.lr.push_back(p.lr_frame);
    kept.hr.push_back(p.hr_frame);
  }
  absl::StatusOr<SceneResult> r = DetectScenes(f.Thumbs(), f.pairs, kept.view(), SceneOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->segments.size(), 1u);
  EXPECT_EQ(r->stats.jumps, 0);
}

TEST(DetectScenesTest, HigherRenderRateOnOneSideIsNotAStall) {
  // HR renders twice as many moments: one unpaired HR kept frame between every two pairs.
  // The automatic limit follows the ratio (3 for HR), so only a real HR stall breaks.
  Footage f;
  f.AddScene(0, 100);
  for (size_t i = 0; i < f.pairs.size(); ++i)
    f.pairs[i].hr_frame = 10 + 2 * static_cast<int64_t>(i);
  for (size_t i = 70; i < f.pairs.size(); ++i) f.pairs[i].hr_frame += 20;  // a stall of LR
  const SceneResult r = Detect(f, SceneOptions{});
  EXPECT_EQ(r.stats.max_jump_lr, 1);
  EXPECT_EQ(r.stats.max_jump_hr, 3);
  ASSERT_EQ(r.segments.size(), 2u);
  EXPECT_EQ(r.segments[1].begin, 70);
  EXPECT_EQ(r.stats.stalls, 1);
}

TEST(DetectScenesTest, CutIntoABusySceneIsFound) {
  // A calm pan, then a cut into a scene that changes a lot every frame (a 12 fps game's held
  // moments in fast motion). The busy side's scores pull the two-sided mean up until the cut
  // no longer stands out threefold; it does from the calm side.
  Footage f;
  for (int t = 0; t < 30; ++t) RenderScene(Families()[0], t, f.Append());
  for (int t = 0; t < 30; ++t) RenderScene(Families()[t % 2 ? 1 : 4], t, f.Append());
  const ThumbSequence s = f.Thumbs();
  const double cut = ContentScore(s.thumb(29), s.thumb(30), kW, kH);
  const double calm = ContentScore(s.thumb(28), s.thumb(29), kW, kH);
  const double busy = ContentScore(s.thumb(30), s.thumb(31), kW, kH);
  SceneOptions o;
  ASSERT_GE(cut, 2 * o.content_threshold);
  ASSERT_LT(cut / ((calm + busy) / 2), o.adaptive_threshold) << "the two-sided rule would find it";
  EXPECT_EQ(Detect(f, o).cut_positions, (std::vector<int64_t>{30}));
}

TEST(DetectScenesTest, DropSpikeDoesNotHideACutAfterIt) {
  // LR drops 20 moments mid-pan at pair 30 (HR shows one of them: a one-sided run within the
  // limit, so no continuity break), and the scene changes 6 pairs later. The drop scores like
  // a cut; it must not start min_scene_len and hide the real cut at 36.
  Footage f;
  for (int t = 0; t < 30; ++t) RenderScene(Families()[1], t, f.Append());
  for (int t = 50; t < 56; ++t) RenderScene(Families()[0], t, f.Append());
  f.AddScene(1, 30);
  for (size_t i = 30; i < f.pairs.size(); ++i) f.pairs[i].hr_frame += 1;
  SceneOptions o;
  const SceneResult r = Detect(f, o);
  ExpectTiling(r, f.pairs.size());
  EXPECT_EQ(r.stats.jumps, 0);
  EXPECT_EQ(r.cut_positions, (std::vector<int64_t>{30, 36}));

  // Without the skipped HR frame the spike is an ordinary candidate, and PySceneDetect's
  // min_scene_len rule holds the later cut back.
  for (size_t i = 30; i < f.pairs.size(); ++i) f.pairs[i].hr_frame -= 1;
  EXPECT_EQ(Detect(f, o).cut_positions, (std::vector<int64_t>{30}));
}

TEST(DetectScenesTest, PairFrameThatIsNotKeptIsRejected) {
  Footage f;
  f.AddScene(0, 20);
  AllKept kept(f.pairs);
  kept.hr.erase(kept.hr.begin() + 15);  // the HR frame of pair 5
  EXPECT_EQ(DetectScenes(f.Thumbs(), f.pairs, kept.view(), SceneOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DetectScenesTest, JumpAndCutsTogether) {
  Footage f = RandomFootage(7, 6);
  // A jump in the middle of the third scene, away from any cut.
  const int64_t jump_at = f.true_cuts[1] + 10;
  for (size_t i = jump_at; i < f.pairs.size(); ++i) f.pairs[i].lr_frame += 50;
  const SceneResult r = Detect(f, SceneOptions{});
  EXPECT_EQ(r.cut_positions, f.true_cuts);
  EXPECT_EQ(r.stats.jumps, 1);
  ExpectTiling(r, f.pairs.size());
  std::vector<int64_t> begins;
  for (const Segment& s : r.segments) begins.push_back(s.begin);
  std::vector<int64_t> want = {0};
  want.insert(want.end(), f.true_cuts.begin(), f.true_cuts.end());
  want.push_back(jump_at);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(begins, want);
}

TEST(DetectScenesTest, EmptyAndSingle) {
  Footage none;
  const SceneResult r0 = Detect(none, SceneOptions{});
  EXPECT_TRUE(r0.segments.empty());
  Footage one;
  one.AddScene(0, 1);
  const SceneResult r1 = Detect(one, SceneOptions{});
  ASSERT_EQ(r1.segments.size(), 1u);
  EXPECT_EQ(r1.segments[0].size(), 1);
}

TEST(DetectScenesTest, RejectsBadInput) {
  Footage f;
  f.AddScene(0, 10);
  const AllKept kept(f.pairs);
  std::vector<AlignedPair> short_pairs(f.pairs.begin(), f.pairs.end() - 1);
  EXPECT_EQ(DetectScenes(f.Thumbs(), short_pairs, kept.view(), SceneOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<AlignedPair> unordered = f.pairs;
  unordered[5].hr_frame = unordered[4].hr_frame;
  EXPECT_EQ(DetectScenes(f.Thumbs(), unordered, kept.view(), SceneOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  SceneOptions bad;
  bad.adaptive_window = 0;
  EXPECT_EQ(DetectScenes(f.Thumbs(), f.pairs, kept.view(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = SceneOptions{};
  bad.max_jump = -2;
  EXPECT_EQ(DetectScenes(f.Thumbs(), f.pairs, kept.view(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace framepair

namespace framepair {
namespace {

// PySceneDetect's scale: width // 256 as the divisor, sizes rounded (scene_manager.py).
TEST(PySceneDetectScaleTest, ScoreSizeFollowsTheDownscaleRule) {
  EXPECT_EQ(PySceneDetectScoreSize(1280, 720).width, 256);
  EXPECT_EQ(PySceneDetectScoreSize(1280, 720).height, 144);
  EXPECT_EQ(PySceneDetectScoreSize(1920, 1080).width, 274);  // f = 7: round(1920 / 7)
  EXPECT_EQ(PySceneDetectScoreSize(1920, 1080).height, 154);
  EXPECT_EQ(PySceneDetectScoreSize(320, 180).width, 320);  // f = 1: not resized
  EXPECT_EQ(PySceneDetectScoreSize(200, 100).width, 200);
}

// INTER_LINEAR at integer factors: odd f samples pixel f*d + (f-1)/2 exactly, even f averages
// the two pixels around (f*d + f/2 - 0.5), rounding halves up.
TEST(PySceneDetectScaleTest, ResizeLinearMatchesOpenCvAtIntegerFactors) {
  const int w = 40, h = 10;
  std::vector<uint8_t> src(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c)
        src[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(6 * x + c);
    }
  }
  std::vector<uint8_t> out;
  ResizeLinear(src.data(), w, h, w / 5, h / 5, &out);
  for (int d = 0; d < w / 5; ++d) EXPECT_EQ(out[static_cast<size_t>(d) * 3], 6 * (5 * d + 2)) << d;
  ResizeLinear(src.data(), w, h, w / 2, h / 2, &out);
  for (int d = 0; d < w / 2; ++d) {
    const int a = 6 * (2 * d), b = 6 * (2 * d + 1);
    EXPECT_EQ(out[static_cast<size_t>(d) * 3], (a + b + 1) / 2) << d;
  }
}

// Known answers: solid red to solid blue is a hue step of 120 (OpenCV H = degrees / 2) with S
// and V equal: (120 + 0 + 0) / 3 = 40. A one-pixel checkerboard and its inverse look the same
// (grey) on 64 px analysis thumbnails but, sampled at PySceneDetect's scale, swap black and
// white everywhere: V changes by 255, H and S by 0: 85.
TEST(PySceneDetectScaleTest, ContentScorerPinsKnownFramePairs) {
  const int w = 1280, h = 720;
  auto solid = [&](uint8_t r, uint8_t g, uint8_t b) {
    std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3);
    for (size_t i = 0; i < img.size(); i += 3) {
      img[i] = r;
      img[i + 1] = g;
      img[i + 2] = b;
    }
    return img;
  };
  auto checker = [&](bool inverse) {
    std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const uint8_t v = ((x + y) % 2 == 0) != inverse ? 255 : 0;
        for (int c = 0; c < 3; ++c) img[(static_cast<size_t>(y) * w + x) * 3 + c] = v;
      }
    }
    return img;
  };
  ContentScorer scorer;
  EXPECT_EQ(scorer.Next(solid(255, 0, 0).data(), w, h), 0.0);  // first frame
  EXPECT_NEAR(scorer.Next(solid(0, 0, 255).data(), w, h), 40.0, 1e-9);
  ContentScorer texture;
  texture.Next(checker(false).data(), w, h);
  EXPECT_NEAR(texture.Next(checker(true).data(), w, h), 85.0, 1e-9);
}

}  // namespace
}  // namespace framepair
