#include "support/footage.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "png/png.h"
#include "util/file.h"

namespace framepair::footage {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string TestDir(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/footage_test-", getpid(), "/", name);
}

// The default preset is generated once for the suite; rendering is the slow part and the
// world is cached across runs anyway.
class DefaultFootageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CTest runs each test in its own process: share one encode between them.
    absl::StatusOr<Footage> footage = CachedFootage(DefaultSpec());
    ASSERT_TRUE(footage.ok()) << footage.status();
    footage_ = new Footage(*std::move(footage));
  }
  static void TearDownTestSuite() {
    delete footage_;
    footage_ = nullptr;
  }
  static const Truth& truth() { return footage_->truth; }
  static Footage* footage_;
};
Footage* DefaultFootageTest::footage_ = nullptr;

// Checks the invariants every side's truth must satisfy.
void ExpectSaneSide(const SideTruth& side, const World& world) {
  ASSERT_FALSE(side.world_ids.empty());
  EXPECT_GE(side.world_ids.front(), side.start_offset);
  std::set<int> dups(side.duplicates.begin(), side.duplicates.end());
  for (size_t i = 1; i < side.world_ids.size(); ++i) {
    if (dups.contains(static_cast<int>(i))) {
      EXPECT_EQ(side.world_ids[i], side.world_ids[i - 1]) << "frame " << i;
    } else {
      EXPECT_GT(side.world_ids[i], side.world_ids[i - 1]) << "frame " << i;
    }
  }
  EXPECT_LT(side.world_ids.back(), world.frames - side.end_trim);
}

TEST_F(DefaultFootageTest, TruthHasTheDesignedShape) {
  const Truth& t = truth();
  EXPECT_EQ(t.world.frames, 540);
  EXPECT_THAT(t.world.scene_starts, ElementsAreArray({0, 90, 150, 270, 360, 460}));
  EXPECT_EQ(t.world.lr_size, (Size{160, 96}));
  EXPECT_EQ(t.world.hr_size, (Size{640, 384}));
  for (const SideTruth* side : {&t.lr, &t.hr}) {
    SCOPED_TRACE(side->path);
    ExpectSaneSide(*side, t.world);
    EXPECT_FALSE(side->duplicates.empty());
    // Something was dropped: fewer distinct frames than the untrimmed span.
    std::set<int> distinct(side->world_ids.begin(), side->world_ids.end());
    EXPECT_LT(static_cast<int>(distinct.size()),
              t.world.frames - side->start_offset - side->end_trim);
  }
  EXPECT_GE(t.lr.start_offset, 10);
  EXPECT_LE(t.lr.start_offset, 40);
  EXPECT_GE(t.hr.end_trim, 10);
  const size_t matchable = MatchablePairs(t).size();
  EXPECT_GT(matchable, 350u);
  EXPECT_LT(matchable, 540u);
}

TEST_F(DefaultFootageTest, EncodedFrameCountsMatchTruth) {
  absl::StatusOr<int> lr = CountFrames(footage_->lr_path);
  ASSERT_TRUE(lr.ok()) << lr.status();
  EXPECT_EQ(*lr, static_cast<int>(truth().lr.world_ids.size()));
  absl::StatusOr<int> hr = CountFrames(footage_->hr_path);
  ASSERT_TRUE(hr.ok()) << hr.status();
  EXPECT_EQ(*hr, static_cast<int>(truth().hr.world_ids.size()));
  EXPECT_EQ(fs::path(footage_->lr_path).filename(), "lr.mp4");
  EXPECT_EQ(fs::path(footage_->hr_path).filename(), "hr.mkv");
}

TEST_F(DefaultFootageTest, LosslessHrFramesAreTheWorldFramesTheTruthNames) {
  absl::StatusOr<std::vector<std::string>> video = FrameMd5s(footage_->hr_path);
  ASSERT_TRUE(video.ok()) << video.status();
  absl::StatusOr<std::vector<std::string>> world = FrameMd5s(truth().world.dir + "/hr/%06d.png");
  ASSERT_TRUE(world.ok()) << world.status();
  ASSERT_EQ(world->size(), static_cast<size_t>(truth().world.frames));
  ASSERT_EQ(video->size(), truth().hr.world_ids.size());
  for (size_t i = 0; i < video->size(); ++i) {
    ASSERT_EQ((*video)[i], (*world)[truth().hr.world_ids[i]]) << "HR frame " << i;
  }
}

RgbImage LoadPng(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<RgbImage> image = DecodePng(bytes.value_or(""));
  EXPECT_TRUE(image.ok()) << path << ": " << image.status();
  return image.value_or(RgbImage{});
}

double MeanAbsDiff(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return static_cast<double>(sum) / static_cast<double>(n);
}

TEST_F(DefaultFootageTest, LossyLrFramesAreClosestToTheWorldFramesTheTruthNames) {
  const Truth& t = truth();
  absl::StatusOr<std::string> raw =
      RunCommand({"ffmpeg", "-nostdin", "-v", "error", "-i", footage_->lr_path, "-fps_mode",
                  "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  const size_t frame_bytes = 160 * 96 * 3;
  ASSERT_EQ(raw->size(), frame_bytes * t.lr.world_ids.size());
  std::vector<RgbImage> world;
  for (int id = 0; id < t.world.frames; ++id) world.push_back(LoadPng(t.world.LrFramePath(id)));
  double worst = 0;
  std::vector<double> worst_by_scene(t.world.scene_starts.size(), 0);
  for (size_t i = 0; i < t.lr.world_ids.size(); ++i) {
    const uint8_t* frame = reinterpret_cast<const uint8_t*>(raw->data()) + i * frame_bytes;
    const int id = t.lr.world_ids[i];
    const double own = MeanAbsDiff(frame, world[id].pixels.data(), frame_bytes);
    worst = std::max(worst, own);
    double& scene_worst = worst_by_scene[t.world.SceneOf(id)];
    scene_worst = std::max(scene_worst, own);
    // The named frame beats its world neighbours: the truth is not off by one anywhere.
    for (int other = std::max(0, id - 3); other <= std::min(t.world.frames - 1, id + 3); ++other) {
      if (other == id) continue;
      EXPECT_LT(own, MeanAbsDiff(frame, world[other].pixels.data(), frame_bytes))
          << "LR frame " << i << " (world " << id << ") vs world " << other;
    }
  }
  for (size_t s = 0; s < worst_by_scene.size(); ++s) {
    std::printf("scene %zu: worst mean |LR - world| %.2f\n", s, worst_by_scene[s]);
  }
  // crf 18 with 4:2:0 chroma: a few levels of error on smooth content, ~11 on the fractal's
  // pixel-level detail.
  EXPECT_LT(worst, 16.0);
}

// PySceneDetect's ContentDetector score: mean of the mean |dH|, |dS|, |dV| with OpenCV's
// 8-bit HSV (H in 0..179).
double ContentScore(const RgbImage& a, const RgbImage& b) {
  auto hsv = [](const uint8_t* p, int* out) {
    const int r = p[0], g = p[1], bl = p[2];
    const int v = std::max({r, g, bl});
    const int mn = std::min({r, g, bl});
    const int d = v - mn;
    out[2] = v;
    out[1] = v == 0 ? 0 : static_cast<int>(std::lround(255.0 * d / v));
    double h = 0;
    if (d != 0) {
      if (v == r) {
        h = 60.0 * (g - bl) / d;
      } else if (v == g) {
        h = 120.0 + 60.0 * (bl - r) / d;
      } else {
        h = 240.0 + 60.0 * (r - g) / d;
      }
      if (h < 0) h += 360;
    }
    out[0] = static_cast<int>(std::lround(h / 2)) % 180;
  };
  double sum[3] = {0, 0, 0};
  const size_t n = a.pixels.size() / 3;
  for (size_t i = 0; i < n; ++i) {
    int x[3], y[3];
    hsv(&a.pixels[3 * i], x);
    hsv(&b.pixels[3 * i], y);
    for (int c = 0; c < 3; ++c) sum[c] += std::abs(x[c] - y[c]);
  }
  return (sum[0] + sum[1] + sum[2]) / (3.0 * static_cast<double>(n));
}

void ExpectCutsAreCutsAndNothingElseIs(const World& w) {
  std::vector<RgbImage> frames;
  for (int id = 0; id < w.frames; ++id) frames.push_back(LoadPng(w.LrFramePath(id)));
  double max_inside = 0, min_cut = 1e9;
  std::vector<double> inside_by_scene(w.scene_starts.size(), 0);
  for (int id = 1; id < w.frames; ++id) {
    const double score = ContentScore(frames[id - 1], frames[id]);
    if (w.SceneOf(id) != w.SceneOf(id - 1)) {
      min_cut = std::min(min_cut, score);
    } else {
      max_inside = std::max(max_inside, score);
      double& s = inside_by_scene[w.SceneOf(id)];
      s = std::max(s, score);
    }
  }
  for (size_t s = 0; s < inside_by_scene.size(); ++s) {
    std::printf("scene %zu: max consecutive content score %.1f (%s)\n", s, inside_by_scene[s],
                w.sources[s].c_str());
  }
  std::printf("min content score at a cut %.1f\n", min_cut);
  // PySceneDetect's default threshold is 27: the truth must agree with a sane detector.
  EXPECT_LT(max_inside, 20.0);
  EXPECT_GT(min_cut, 35.0);
}

void ExpectFramesChangeVisibly(const World& w) {
  // mpdecimate keeps a frame only if it differs visibly (block SAD) from the last kept one;
  // keeping every frame means no two consecutive world frames look alike at LR size.
  absl::StatusOr<std::string> out =
      RunCommand({"ffmpeg", "-nostdin", "-v", "error", "-i", w.dir + "/lr/%06d.png", "-vf",
                  "mpdecimate", "-fps_mode", "passthrough", "-f", "framemd5", "-"});
  ASSERT_TRUE(out.ok()) << out.status();
  int kept = 0;
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "#")) ++kept;
  }
  EXPECT_EQ(kept, w.frames);
}

TEST_F(DefaultFootageTest, SceneBoundariesAreCutsAndNothingElseIs) {
  ExpectCutsAreCutsAndNothingElseIs(truth().world);
}

TEST_F(DefaultFootageTest, WorldFramesChangeVisiblyFromFrameToFrame) {
  ExpectFramesChangeVisibly(truth().world);
}

TEST(WorldTest, SceneSourcesAreDeterministic) {
  WorldSpec world;
  world.lr_size = {32, 24};
  for (SceneKind kind :
       {SceneKind::kTestsrc2, SceneKind::kMandelbrot, SceneKind::kLife, SceneKind::kCellauto,
        SceneKind::kGradients, SceneKind::kBars, SceneKind::kSmallMotion, SceneKind::kSlowPan}) {
    for (uint32_t seed : {0u, 1u}) {
      const std::string source = SceneSource({kind, 12, seed}, world);
      std::vector<std::string> renders;
      for (int i = 0; i < 2; ++i) {
        absl::StatusOr<std::string> out =
            RunCommand({"ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", source,
                        "-frames:v", "12", "-f", "framemd5", "-"});
        ASSERT_TRUE(out.ok()) << out.status();
        renders.push_back(*out);
      }
      EXPECT_EQ(renders[0], renders[1]) << source;
    }
  }
}

// The hard preset's world has scenes the default one lacks (other seeds, points and rules).
TEST(WorldTest, HardWorldChangesVisiblyAndOnlyCutsAtSceneStarts) {
  absl::StatusOr<World> world = RenderWorld(HardSpec().world, GenerateOptions().cache_dir);
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(world->frames, 1220);
  ExpectFramesChangeVisibly(*world);
  ExpectCutsAreCutsAndNothingElseIs(*world);
}

// The realistic kinds: still pictures with small changes. Every frame must still change
// visibly (so a world id is a distinguishable moment), no in-scene step may look like a cut,
// and the two hard cuts are reported (documented in RealisticScenes).
TEST(WorldTest, RealisticWorldChangesVisiblyAndCutsAreMeasured) {
  absl::StatusOr<FootageSpec> spec = RealisticSpec("independent_lossy");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<World> world = RenderWorld(spec->world, GenerateOptions().cache_dir);
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ(world->frames, 930);
  ExpectFramesChangeVisibly(*world);
  std::vector<RgbImage> frames;
  for (int id = 0; id < world->frames; ++id) frames.push_back(LoadPng(world->LrFramePath(id)));
  double max_inside = 0;
  std::vector<double> inside_by_scene(world->scene_starts.size(), 0);
  std::vector<double> cut_scores;
  for (int id = 1; id < world->frames; ++id) {
    const double score = ContentScore(frames[id - 1], frames[id]);
    if (world->SceneOf(id) != world->SceneOf(id - 1)) {
      cut_scores.push_back(score);
      std::printf("cut at world %d: content score %.1f\n", id, score);
    } else {
      max_inside = std::max(max_inside, score);
      inside_by_scene[world->SceneOf(id)] = std::max(inside_by_scene[world->SceneOf(id)], score);
    }
  }
  double realistic_inside = 0;
  for (size_t i = 0; i < inside_by_scene.size(); ++i) {
    const SceneKind kind = spec->world.scenes[i].kind;
    std::printf("scene %zu: max consecutive content score %.1f (%s)\n", i, inside_by_scene[i],
                world->sources[i].c_str());
    if (kind == SceneKind::kSmallMotion || kind == SceneKind::kSlowPan) {
      realistic_inside = std::max(realistic_inside, inside_by_scene[i]);
    }
  }
  EXPECT_LT(max_inside, 20.0);
  // Small motion and slow pans change little: a few points at most.
  EXPECT_LT(realistic_inside, 8.0);
  ASSERT_EQ(cut_scores.size(), 7u);
  // Measured 29.0: just above PySceneDetect's content threshold 27.
  EXPECT_GT(cut_scores[0], 27.0) << "near-threshold cut";
  EXPECT_LT(cut_scores[0], 32.0) << "near-threshold cut";
  // Measured 21.0: below 27, so only an adaptive detector (score >= 15, >= 3x the
  // neighbourhood) finds it.
  EXPECT_GT(cut_scores[2], std::max(15.0, 3 * realistic_inside)) << "same-palette cut";
  EXPECT_LT(cut_scores[2], 27.0) << "same-palette cut";
}

TEST_F(DefaultFootageTest, TruthJsonRoundTrips) {
  absl::StatusOr<Truth> read = ReadTruth(footage_->truth_path);
  ASSERT_TRUE(read.ok()) << read.status();
  const Truth& t = truth();
  EXPECT_EQ(read->seed, t.seed);
  EXPECT_EQ(read->key, t.key);
  EXPECT_EQ(read->world.dir, t.world.dir);
  EXPECT_EQ(read->world.frames, t.world.frames);
  EXPECT_EQ(read->world.hr_size, t.world.hr_size);
  EXPECT_EQ(read->world.scene_starts, t.world.scene_starts);
  EXPECT_EQ(read->world.sources, t.world.sources);
  for (auto [a, b] : {std::pair{&read->lr, &t.lr}, std::pair{&read->hr, &t.hr}}) {
    EXPECT_EQ(a->path, b->path);
    EXPECT_EQ(a->codec, b->codec);
    EXPECT_EQ(a->pix_fmt, b->pix_fmt);
    EXPECT_EQ(a->size, b->size);
    EXPECT_EQ(a->world_ids, b->world_ids);
    EXPECT_EQ(a->duplicates, b->duplicates);
    EXPECT_EQ(a->start_offset, b->start_offset);
    EXPECT_EQ(a->end_trim, b->end_trim);
  }
}

TEST_F(DefaultFootageTest, SameSeedGivesTheSameBytes) {
  GenerateOptions options;
  options.out_dir = TestDir("default-again");
  absl::StatusOr<Footage> again = GenerateFootage(DefaultSpec(), options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->truth.lr.world_ids, truth().lr.world_ids);
  EXPECT_EQ(again->truth.hr.world_ids, truth().hr.world_ids);
  EXPECT_EQ(again->truth.hr.duplicates, truth().hr.duplicates);
  EXPECT_EQ(ReadFile(again->lr_path).value_or("a"), ReadFile(footage_->lr_path).value_or("b"));
  EXPECT_EQ(ReadFile(again->hr_path).value_or("a"), ReadFile(footage_->hr_path).value_or("b"));
}

TEST_F(DefaultFootageTest, ReusesOnlyOutputOfTheSameSpec) {
  GenerateOptions options;
  options.out_dir = footage_->truth_path.substr(0, footage_->truth_path.rfind('/'));
  options.reuse_existing = true;
  absl::StatusOr<Footage> same = GenerateFootage(DefaultSpec(), options);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->truth.key, truth().key);
  EXPECT_EQ(same->truth.lr.world_ids, truth().lr.world_ids);

  FootageSpec other = DefaultSpec();
  other.seed = 99;
  options.out_dir = TestDir("reuse");
  absl::StatusOr<Footage> first = GenerateFootage(DefaultSpec(), options);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<Footage> second = GenerateFootage(other, options);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->truth.key, first->truth.key);
  EXPECT_NE(second->truth.lr.world_ids, first->truth.lr.world_ids);
  absl::StatusOr<Truth> on_disk = ReadTruth(second->truth_path);
  ASSERT_TRUE(on_disk.ok()) << on_disk.status();
  EXPECT_EQ(on_disk->seed, 99u);
  EXPECT_EQ(CountFrames(second->lr_path).value_or(-1),
            static_cast<int>(second->truth.lr.world_ids.size()));
}

TEST_F(DefaultFootageTest, PerfectAnswersScoreOne) {
  const Truth& t = truth();
  // The ideal aligner output: the first frame of each matchable world id on both sides.
  std::vector<std::pair<int, int>> pairs;
  size_t h = 0;
  for (size_t l = 0; l < t.lr.world_ids.size(); ++l) {
    if (l > 0 && t.lr.world_ids[l] == t.lr.world_ids[l - 1]) continue;
    while (h < t.hr.world_ids.size() && t.hr.world_ids[h] < t.lr.world_ids[l]) ++h;
    if (h < t.hr.world_ids.size() && t.hr.world_ids[h] == t.lr.world_ids[l]) {
      pairs.emplace_back(static_cast<int>(l), static_cast<int>(h));
    }
  }
  PrecisionRecall pr = EvaluateAlignment(t, pairs);
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 1.0);
  EXPECT_EQ(pr.found, static_cast<int>(MatchablePairs(t).size()));

  // Shifting every HR index by one makes (almost) every pair wrong.
  for (auto& p : pairs) ++p.second;
  pr = EvaluateAlignment(t, pairs);
  EXPECT_LT(pr.precision, 0.2);
  EXPECT_LT(pr.recall, 0.2);

  // Cuts: the first LR frame of each scene present on the LR side.
  std::vector<int> lr_cuts;
  for (size_t i = 1; i < t.lr.world_ids.size(); ++i) {
    if (t.world.SceneOf(t.lr.world_ids[i]) != t.world.SceneOf(t.lr.world_ids[i - 1])) {
      lr_cuts.push_back(static_cast<int>(i));
    }
  }
  EXPECT_EQ(lr_cuts.size(), 5u);
  pr = EvaluateCutsByLrFrame(t, lr_cuts, 0);
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 1.0);
  std::vector<int> late = lr_cuts;
  for (int& c : late) c += 2;
  EXPECT_EQ(EvaluateCutsByLrFrame(t, late, 1).recall, 0.0);
  EXPECT_EQ(EvaluateCutsByLrFrame(t, late, 2).recall, 1.0);
  std::vector<int> extra = lr_cuts;
  extra.push_back(lr_cuts[0] + 30);
  pr = EvaluateCutsByLrFrame(t, extra, 2);
  EXPECT_DOUBLE_EQ(pr.precision, 5.0 / 6.0);
  EXPECT_EQ(pr.recall, 1.0);

  // By world id: the scene starts themselves, when visible on both sides, are exact; a scene
  // start dropped on one side is found at the next matchable frame.
  std::vector<int> world_cuts(t.world.scene_starts.begin() + 1, t.world.scene_starts.end());
  pr = EvaluateCutsByWorldId(t, world_cuts, 0);
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 1.0);
  pr = EvaluateCutsByWorldId(t, {t.world.scene_starts[1] + 20}, 3);
  EXPECT_EQ(pr.precision, 0.0);
  EXPECT_DOUBLE_EQ(pr.recall, 0.0);
}

TEST_F(DefaultFootageTest, HrOnlyFootageReusesTheWorld) {
  GenerateOptions options;
  options.out_dir = TestDir("hr-only");
  absl::StatusOr<Footage> footage = GenerateFootage(HrOnlySpec(), options);
  ASSERT_TRUE(footage.ok()) << footage.status();
  EXPECT_THAT(footage->lr_path, IsEmpty());
  EXPECT_THAT(footage->truth.lr.world_ids, IsEmpty());
  EXPECT_FALSE(fs::exists(options.out_dir + "/lr.mp4"));
  EXPECT_EQ(footage->truth.world.dir, truth().world.dir);
  EXPECT_EQ(CountFrames(footage->hr_path).value_or(-1),
            static_cast<int>(footage->truth.hr.world_ids.size()));
  absl::StatusOr<Truth> read = ReadTruth(footage->truth_path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(read->lr.world_ids, IsEmpty());
  EXPECT_TRUE(MatchablePairs(*read).empty());
}

TEST(EditListTest, IsDeterministicPerSeedAndStream) {
  const FootageSpec spec = DefaultSpec();
  const EditList a = MakeEditList(spec.lr.edits, 540, 7, 1);
  const EditList b = MakeEditList(spec.lr.edits, 540, 7, 1);
  EXPECT_EQ(a.world_ids, b.world_ids);
  EXPECT_EQ(a.duplicates, b.duplicates);
  EXPECT_NE(a.world_ids, MakeEditList(spec.lr.edits, 540, 8, 1).world_ids);
  EXPECT_NE(a.world_ids, MakeEditList(spec.lr.edits, 540, 7, 2).world_ids);
}

TEST(EditListTest, HardPresetHasLongOffsetsRunsAndDifferentEnds) {
  const FootageSpec spec = HardSpec();
  int world_frames = 0;
  for (const SceneSpec& s : spec.world.scenes) world_frames += s.frames;
  EXPECT_GE(world_frames, 1200);
  const EditList lr = MakeEditList(spec.lr.edits, world_frames, spec.seed, 1);
  const EditList hr = MakeEditList(spec.hr.edits, world_frames, spec.seed, 2);
  EXPECT_EQ(lr.world_ids.front(), 300);
  EXPECT_LE(hr.world_ids.front(), 5);
  EXPECT_GE(lr.world_ids.back() - hr.world_ids.back(), 70);
  for (const EditList* list : {&lr, &hr}) {
    int longest = 0;
    for (size_t i = 1; i < list->world_ids.size(); ++i) {
      longest = std::max(longest, list->world_ids[i] - list->world_ids[i - 1] - 1);
    }
    EXPECT_GE(longest, 20);
    EXPECT_LE(longest, 40 + 1);  // a run can be followed by a single drop
  }
}

TEST(FootageTest, OddSizesWithLosslessLrAndLossyHr) {
  FootageSpec spec;
  spec.world.lr_size = {161, 97};
  spec.world.scenes = {{SceneKind::kTestsrc2, 20}, {SceneKind::kLife, 20}};
  spec.lr.codec = {Codec::kFfv1};
  spec.hr.codec = {Codec::kX264, 23};
  spec.lr.edits.dup_rate = 0.1;
  spec.hr.edits.drop_rate = 0.1;
  GenerateOptions options;
  options.out_dir = TestDir("odd");
  absl::StatusOr<Footage> footage = GenerateFootage(spec, options);
  ASSERT_TRUE(footage.ok()) << footage.status();
  const Truth& t = footage->truth;
  EXPECT_EQ(t.hr.size, (Size{644, 388}));
  EXPECT_EQ(fs::path(footage->lr_path).filename(), "lr.mkv");
  EXPECT_EQ(fs::path(footage->hr_path).filename(), "hr.mp4");
  EXPECT_EQ(CountFrames(footage->hr_path).value_or(-1), static_cast<int>(t.hr.world_ids.size()));
  absl::StatusOr<std::vector<std::string>> video = FrameMd5s(footage->lr_path);
  ASSERT_TRUE(video.ok()) << video.status();
  absl::StatusOr<std::vector<std::string>> world = FrameMd5s(t.world.dir + "/lr/%06d.png");
  ASSERT_TRUE(world.ok()) << world.status();
  ASSERT_EQ(video->size(), t.lr.world_ids.size());
  for (size_t i = 0; i < video->size(); ++i) {
    EXPECT_EQ((*video)[i], (*world)[t.lr.world_ids[i]]) << "LR frame " << i;
  }
  // A 4:2:0 chroma plane cannot cover an odd size; the generator switches to 4:4:4.
  spec.lr.codec = {Codec::kX264};
  options.out_dir = TestDir("odd-x264");
  footage = GenerateFootage(spec, options);
  ASSERT_TRUE(footage.ok()) << footage.status();
  EXPECT_EQ(footage->truth.lr.pix_fmt, "yuv444p");
  EXPECT_EQ(CountFrames(footage->lr_path).value_or(-1),
            static_cast<int>(footage->truth.lr.world_ids.size()));
}

TEST(FootageTest, RejectsEditsThatRemoveEverything) {
  FootageSpec spec;
  spec.world.scenes = {{SceneKind::kTestsrc2, 10}};
  spec.lr.edits.start_offset_min = spec.lr.edits.start_offset_max = 10;
  GenerateOptions options;
  options.out_dir = TestDir("empty");
  absl::StatusOr<Footage> footage = GenerateFootage(spec, options);
  EXPECT_EQ(footage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(footage.status().message(), HasSubstr("LR edit list"));
}

// --- Realism options ---

// A hand-made truth: world 0..19 in scenes [0, 10) and [10, 20).
Truth HandTruth(std::vector<int> lr, std::vector<int> hr) {
  Truth t;
  t.world.frames = 20;
  t.world.scene_starts = {0, 10};
  t.lr.world_ids = std::move(lr);
  t.hr.world_ids = std::move(hr);
  return t;
}

TEST(EvaluateWindowsTest, CountsEachFaultOncePerWindow) {
  // LR lacks world 3; HR repeats 5 and lacks 7.
  //            index: 0  1  2  3  4  5  6  7  8   9   10
  const Truth t =
      HandTruth({0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11}, {0, 1, 2, 3, 4, 5, 5, 6, 8, 9, 10, 11});
  EXPECT_THAT(PairableMoments(t), ElementsAreArray({0, 1, 2, 4, 5, 6, 8, 9, 10, 11}));
  const std::vector<std::vector<std::pair<int, int>>> windows = {
      // 0: clean, and steps over world 3, which only HR shows: not a skip.
      {{0, 0}, {1, 1}, {2, 2}, {3, 4}, {4, 5}},
      // 1: steps over world 5, which both show (4 -> 6).
      {{3, 4}, {5, 7}},
      // 2: repeats world 5 on HR (the duplicate at HR 6) while LR moves on: a wrong pair
      // and a repeat.
      {{4, 5}, {5, 6}},
      // 3: wrong pairs (LR world 4 with HR world 5, LR 5 with HR 6): counted once.
      {{3, 5}, {4, 7}},
      // 4: crosses the cut 9 -> 10, and steps over world 7 which only LR shows: clean
      // otherwise.
      {{5, 7}, {7, 8}, {8, 9}, {9, 10}},
      // 5: out of range.
      {{0, 0}, {99, 1}},
  };
  const WindowFaults f = EvaluateWindows(t, windows);
  EXPECT_EQ(f.windows, 6);
  EXPECT_THAT(f.skip_windows, ElementsAreArray({1}));
  EXPECT_THAT(f.repeat_windows, ElementsAreArray({2}));
  EXPECT_THAT(f.wrong_pair_windows, ElementsAreArray({2, 3, 5}));
  EXPECT_THAT(f.cut_windows, ElementsAreArray({4}));
  EXPECT_EQ(f.skips_shared_moment, 1);
  EXPECT_EQ(f.repeats_moment, 1);
  EXPECT_EQ(f.wrong_pair, 3);
  EXPECT_EQ(f.crosses_cut, 1);
  EXPECT_FALSE(f.clean());
  const std::string all = absl::StrJoin(f.messages, "\n");
  EXPECT_THAT(all, HasSubstr("window 1: pairs 0-1: lr steps from world 4 to 6 over world 5"));
  EXPECT_THAT(all, HasSubstr("window 5: pair 1 (lr 99, hr 1) is out of range"));

  EXPECT_TRUE(EvaluateWindows(t, {windows[0]}).clean());
  EXPECT_TRUE(EvaluateWindows(t, {}).clean());
}

TEST(EvaluateWindowsTest, AStepOverAMomentOnlyOneSideShowsIsNotASkip) {
  // HR at half rate: odd moments exist on LR only.
  const Truth t = HandTruth({0, 1, 2, 3, 4, 5, 6}, {0, 0, 2, 2, 4, 4, 6, 6});
  EXPECT_TRUE(EvaluateWindows(t, {{{0, 0}, {2, 2}, {4, 4}, {6, 6}}}).clean());
  // Skipping 2 (both show it) is a fault; pairing LR 1 (HR lacks it) is a wrong pair.
  const WindowFaults f = EvaluateWindows(t, {{{0, 0}, {4, 4}}, {{0, 0}, {1, 1}}});
  EXPECT_THAT(f.skip_windows, ElementsAreArray({0}));
  EXPECT_THAT(f.wrong_pair_windows, ElementsAreArray({1}));
  // HR 1 repeats HR 0's moment.
  EXPECT_EQ(f.repeats_moment, 1);
}

TEST(EvaluateDuplicatesTest, ScoresRemovalsAgainstRepeatsOfThePreviousFrame) {
  SideTruth side;
  side.world_ids = {0, 0, 1, 2, 2, 2, 4, 4};  // duplicates: 1, 4, 5, 7
  PrecisionRecall pr =
      EvaluateDuplicates(side, {false, true, false, false, true, true, false, true});
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 1.0);
  EXPECT_EQ(pr.relevant, 4);
  // Removing frame 2 (new) and missing frame 7; a short vector leaves the rest kept.
  pr = EvaluateDuplicates(side, {false, true, true, false, true, true});
  EXPECT_EQ(pr.predicted, 4);
  EXPECT_EQ(pr.correct, 3);
  EXPECT_DOUBLE_EQ(pr.precision, 0.75);
  EXPECT_DOUBLE_EQ(pr.recall, 0.75);
  pr = EvaluateDuplicates(side, {});
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_EQ(pr.recall, 0.0);
  // Removals beyond the video are wrong.
  pr = EvaluateDuplicates(SideTruth{}, {false, true});
  EXPECT_EQ(pr.precision, 0.0);
  EXPECT_EQ(pr.recall, 1.0);
}

TEST(EditListTest, DefaultRealismFieldsChangeNothingAndDuplicatesAreAllRepeats) {
  const FootageSpec spec = HardSpec();
  const EditList plain = MakeEditList(spec.lr.edits, 1220, 3, 1);
  EditSpec same = spec.lr.edits;
  same.render_divisor = 1;
  same.capture_divisor = 1;
  same.hold_rate = 0;
  same.gap_at = -1;
  EXPECT_EQ(MakeEditList(same, 1220, 3, 1).world_ids, plain.world_ids);
  std::vector<int> repeats;
  for (size_t i = 1; i < plain.world_ids.size(); ++i) {
    if (plain.world_ids[i] == plain.world_ids[i - 1]) repeats.push_back(static_cast<int>(i));
  }
  EXPECT_EQ(plain.duplicates, repeats);
}

TEST(EditListTest, RenderDivisorShowsEveryKthMomentKTimes) {
  EditSpec e;
  e.start_offset_min = e.start_offset_max = 3;
  e.render_divisor = 2;
  const EditList list = MakeEditList(e, 13, 1, 1);
  // Ticks 3..12 show the frames the game rendered at even ticks (anchored to the world).
  EXPECT_THAT(list.world_ids, ElementsAreArray({2, 4, 4, 6, 6, 8, 8, 10, 10, 12}));
  EXPECT_THAT(list.duplicates, ElementsAreArray({2, 4, 6, 8}));
  // Drops count in capture ticks: a 2-frame stream still loses moments only in long runs.
  e.drop_rate = 0.3;
  for (int id : MakeEditList(e, 200, 5, 1).world_ids) EXPECT_EQ(id % 2, 0);
}

TEST(EditListTest, CaptureDivisorKeepsEveryKthTickWithoutRepeats) {
  EditSpec e;
  e.start_offset_min = e.start_offset_max = 1;
  e.capture_divisor = 3;
  EXPECT_THAT(MakeEditList(e, 12, 1, 1).world_ids, ElementsAreArray({1, 4, 7, 10}));
  e.drop_run_rate = 0.1;
  e.drop_rate = 0.1;
  for (int id : MakeEditList(e, 600, 9, 1).world_ids) EXPECT_EQ(id % 3, 1);
}

TEST(EditListTest, HoldsFreezeAFrameAndSkipTheWorldBehindIt) {
  EditSpec e;
  e.hold_rate = 0.05;
  e.hold_min = 4;
  e.hold_max = 4;
  const EditList list = MakeEditList(e, 2000, 1, 1);
  ASSERT_FALSE(list.duplicates.empty());
  // Every hold is a run of 4 equal frames followed by a jump of 4 world frames.
  int runs = 0;
  for (size_t i = 0; i < list.world_ids.size();) {
    size_t j = i;
    while (j + 1 < list.world_ids.size() && list.world_ids[j + 1] == list.world_ids[i]) ++j;
    if (j > i) {
      ++runs;
      // Back-to-back holds make longer runs; each is a multiple of 4 frames.
      EXPECT_EQ((j - i + 1) % 4, 0u) << "at frame " << i;
      if (j + 1 < list.world_ids.size()) {
        EXPECT_EQ(list.world_ids[j + 1] - list.world_ids[i], static_cast<int>(j - i + 1));
      }
    }
    i = j + 1;
  }
  EXPECT_GT(runs, 50);
  // Holds draw from their own stream: the same ticks are dropped with or without them.
  e.drop_rate = 0.05;
  EditSpec no_holds = e;
  no_holds.hold_rate = 0;
  EXPECT_EQ(MakeEditList(e, 2000, 1, 1).world_ids.size(),
            MakeEditList(no_holds, 2000, 1, 1).world_ids.size());
}

TEST(EditListTest, GapsAreFrozenOrMissing) {
  EditSpec e;
  e.gap_at = 10;
  e.gap_len = 600;
  e.gap_hold = true;
  const EditList frozen = MakeEditList(e, 700, 1, 1);
  ASSERT_EQ(frozen.world_ids.size(), 700u);
  for (int i = 10; i < 610; ++i) EXPECT_EQ(frozen.world_ids[i], 9) << i;
  EXPECT_EQ(frozen.world_ids[610], 610);
  EXPECT_EQ(frozen.duplicates.size(), 600u);
  e.gap_hold = false;
  const EditList missing = MakeEditList(e, 700, 1, 1);
  ASSERT_EQ(missing.world_ids.size(), 100u);
  EXPECT_EQ(missing.world_ids[9], 9);
  EXPECT_EQ(missing.world_ids[10], 610);
  EXPECT_TRUE(missing.duplicates.empty());
}

TEST(RealisticSpecsTest, PresetsHaveTheAdvertisedShape) {
  std::vector<std::string> names;
  for (const NamedSpec& named : RealisticSpecs()) {
    SCOPED_TRACE(named.name);
    names.push_back(named.name);
    const FootageSpec& spec = named.spec;
    int frames = 0;
    for (const SceneSpec& s : spec.world.scenes) frames += s.frames;
    EXPECT_GE(frames, 600);
    EXPECT_LE(frames, 1800);
    EXPECT_EQ(spec.lr.codec.codec, Codec::kX264);
    EXPECT_EQ(spec.hr.codec.codec, Codec::kX264);
    EXPECT_GE(spec.lr.codec.crf, 23);
    EXPECT_LE(spec.lr.codec.crf, 35);
    EXPECT_NE(spec.lr.codec.gop, spec.hr.codec.gop);
    Truth t;
    t.world.frames = frames;
    const EditList lr = MakeEditList(spec.lr.edits, frames, spec.seed, 1);
    const EditList hr = MakeEditList(spec.hr.edits, frames, spec.seed, 2);
    t.lr.world_ids = lr.world_ids;
    t.hr.world_ids = hr.world_ids;
    const std::vector<int> pairable = PairableMoments(t);
    EXPECT_GE(pairable.size(), 150u);
    if (named.name == "half_rate_lr" || named.name == "held_frames") {
      const int k = named.name == "held_frames" ? 5 : 2;
      for (int id : lr.world_ids) ASSERT_EQ(id % k, 0);
      EXPECT_GT(lr.duplicates.size(), lr.world_ids.size() / 2 - 1);
    }
    if (named.name == "long_gaps") {
      // LR frozen for 600 frames on world 149 (less what drops take); HR never shows
      // 1000..1599; both resume.
      EXPECT_GE(std::count(lr.world_ids.begin(), lr.world_ids.end(), 149), 550);
      EXPECT_EQ(std::count_if(hr.world_ids.begin(), hr.world_ids.end(),
                              [](int id) { return id >= 1000 && id < 1600; }),
                0);
      EXPECT_GE(std::count_if(pairable.begin(), pairable.end(), [](int id) { return id >= 1600; }),
                150);
      EXPECT_GE(std::count_if(pairable.begin(), pairable.end(),
                              [](int id) { return id >= 750 && id < 1000; }),
                200);
    }
  }
  EXPECT_THAT(names, ElementsAreArray({"independent_lossy", "half_rate_lr", "half_rate_hr",
                                       "capture_30_vs_60", "held_frames", "long_gaps", "hud_on_hr",
                                       "range_mismatch"}));
  EXPECT_TRUE(RealisticSpec("hud_on_hr").ok());
  EXPECT_THAT(RealisticSpec("nope").status().message(), HasSubstr("long_gaps"));
}

// Decodes every frame of `path` to RGB24 as ffmpeg does by default (honouring the range tag).
std::vector<RgbImage> DecodeRgb(const std::string& path, Size size) {
  absl::StatusOr<std::string> raw =
      RunCommand({"ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", path, "-fps_mode",
                  "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"});
  EXPECT_TRUE(raw.ok()) << raw.status();
  const size_t bytes = static_cast<size_t>(size.width) * size.height * 3;
  std::vector<RgbImage> frames;
  for (size_t at = 0; raw.ok() && at + bytes <= raw->size(); at += bytes) {
    RgbImage image{size.width, size.height, {}};
    image.pixels.assign(raw->begin() + at, raw->begin() + at + bytes);
    frames.push_back(std::move(image));
  }
  return frames;
}

double MeanAbsDiff(const RgbImage& a, const RgbImage& b) {
  if (a.pixels.size() != b.pixels.size()) return 1e9;
  return MeanAbsDiff(a.pixels.data(), b.pixels.data(), a.pixels.size());
}

// Every decoded frame is its truth frame: exactly when lossless, otherwise closer to it than
// to the world frames around it (so the truth is not off by one, also inside holds and
// gaps). Frames sharing a world id look alike.
void ExpectDecodedFramesMatchTruth(const Truth& t, bool hr, bool lossless) {
  const SideTruth& side = hr ? t.hr : t.lr;
  SCOPED_TRACE(side.path);
  const std::vector<RgbImage> decoded = DecodeRgb(side.path, side.size);
  ASSERT_EQ(decoded.size(), side.world_ids.size());
  std::map<int, RgbImage> world;  // plain world frames (no HUD) by id
  auto world_frame = [&](int id) -> const RgbImage& {
    auto it = world.find(id);
    if (it == world.end()) {
      it = world.emplace(id, LoadPng(hr ? t.world.HrFramePath(id) : t.world.LrFramePath(id))).first;
    }
    return it->second;
  };
  for (size_t i = 0; i < decoded.size(); ++i) {
    absl::StatusOr<RgbImage> truth = TruthFrameRgb(t, hr, static_cast<int>(i));
    ASSERT_TRUE(truth.ok()) << truth.status();
    const int id = side.world_ids[i];
    if (lossless) {
      ASSERT_TRUE(decoded[i] == *truth) << "frame " << i << " (world " << id << ")";
      continue;
    }
    const double own = MeanAbsDiff(decoded[i], *truth);
    for (int other = std::max(0, id - 2); other <= std::min(t.world.frames - 1, id + 2); ++other) {
      if (other == id) continue;
      EXPECT_LT(own, MeanAbsDiff(decoded[i], world_frame(other)))
          << "frame " << i << " (world " << id << ") vs world " << other;
    }
    // A repeat is closer to the frame it repeats than to any other moment: it differs by
    // codec noise only (more across a keyframe, which re-encodes the picture).
    if (i > 0 && side.world_ids[i - 1] == id &&
        side.HasHud(static_cast<int>(i)) == side.HasHud(static_cast<int>(i - 1))) {
      const double repeat = MeanAbsDiff(decoded[i], decoded[i - 1]);
      for (int other : {id - 1, id + 1}) {
        if (other < 0 || other >= t.world.frames) continue;
        EXPECT_LT(repeat, MeanAbsDiff(decoded[i - 1], world_frame(other)))
            << "repeat at frame " << i << " (world " << id << ") vs world " << other;
      }
    }
  }
}

std::string Probe(const std::string& path, const std::string& entries) {
  absl::StatusOr<std::string> out = RunCommand({"ffprobe", "-v", "error", "-select_streams", "v:0",
                                                "-show_entries", entries, "-of", "csv=p=0", path});
  EXPECT_TRUE(out.ok()) << out.status();
  return std::string(absl::StripAsciiWhitespace(out.value_or("")));
}

// A small world for the option tests: the two realistic kinds and an ordinary one.
FootageSpec SmallRealisticSpec() {
  FootageSpec spec;
  spec.world.lr_size = {64, 48};
  spec.world.scenes = {{SceneKind::kSmallMotion, 40, 0},
                       {SceneKind::kSlowPan, 40, 1},
                       {SceneKind::kTestsrc2, 20, 2}};
  return spec;
}

TEST(RealismTest, RenderDivisorFrozenGapGopCaptureRateAndHudAreWhatTheTruthSays) {
  FootageSpec spec = SmallRealisticSpec();
  // LR: lossy, game at half rate, a frozen stall, keyframes every 10 frames.
  spec.lr.codec = {Codec::kX264, 30};
  spec.lr.codec.gop = 10;
  spec.lr.edits.render_divisor = 2;
  spec.lr.edits.gap_at = 50;
  spec.lr.edits.gap_len = 14;
  spec.lr.edits.gap_hold = true;
  spec.lr.edits.dup_rate = 0.05;
  // HR: lossless so frames compare exactly; captured at half rate; a HUD over worlds 20-39.
  spec.hr.codec = {Codec::kFfv1};
  spec.hr.edits.capture_divisor = 2;
  spec.hr.edits.drop_rate = 0.05;
  spec.hr.hud = {20, 40, {4, 30, 16, 10}, "0xff00ff"};
  GenerateOptions options;
  options.out_dir = TestDir("realism-a");
  absl::StatusOr<Footage> footage = GenerateFootage(spec, options);
  ASSERT_TRUE(footage.ok()) << footage.status();
  const Truth& t = footage->truth;

  // LR: only even moments, each repeated; the stall repeats world 48 (rendered before 50).
  for (int id : t.lr.world_ids) ASSERT_EQ(id % 2, 0);
  EXPECT_GE(std::count(t.lr.world_ids.begin(), t.lr.world_ids.end(), 48), 14);
  EXPECT_GT(t.lr.duplicates.size(), t.lr.world_ids.size() / 2);
  ExpectDecodedFramesMatchTruth(t, /*hr=*/false, /*lossless=*/false);
  EXPECT_EQ(Probe(t.lr.path, "stream=r_frame_rate"), "30/1");
  EXPECT_EQ(Probe(t.lr.path, "stream=color_range"), "tv");
  // Keyframes at least every 10 frames (x264 may add some at cuts).
  absl::StatusOr<std::string> keys =
      RunCommand({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                  "frame=key_frame", "-of", "csv=p=0", t.lr.path});
  ASSERT_TRUE(keys.ok()) << keys.status();
  int since_key = 0, max_since_key = 0, key_frames = 0;
  for (absl::string_view k : absl::StrSplit(*keys, '\n', absl::SkipEmpty())) {
    const bool key = absl::StripAsciiWhitespace(k) == "1";
    key_frames += key;
    since_key = key ? 0 : since_key + 1;
    max_since_key = std::max(max_since_key, since_key);
  }
  EXPECT_LE(max_since_key, 10);
  EXPECT_GE(key_frames, static_cast<int>(t.lr.world_ids.size()) / 11);

  // HR: every other world frame at 15 fps, no repeats but the HUD where the truth says.
  for (int id : t.hr.world_ids) ASSERT_EQ(id % 2, 0);
  EXPECT_THAT(t.hr.duplicates, IsEmpty());
  EXPECT_EQ(Probe(t.hr.path, "stream=r_frame_rate"), "15/1");
  EXPECT_EQ(t.hr.hud_rect, (Rect{16, 120, 64, 40}));
  int with_hud = 0;
  for (size_t i = 0; i < t.hr.world_ids.size(); ++i) with_hud += t.hr.HasHud(static_cast<int>(i));
  EXPECT_GT(with_hud, 5);
  EXPECT_LT(with_hud, 11);
  ExpectDecodedFramesMatchTruth(t, /*hr=*/true, /*lossless=*/true);
  // The HUD is on the HR side only: LR frames of the same moments show the world there.
  absl::StatusOr<RgbImage> hud_frame = TruthFrameRgb(t, true, 12);  // world 24
  ASSERT_TRUE(hud_frame.ok());
  ASSERT_EQ(t.hr.world_ids[12] >= 20 && t.hr.world_ids[12] < 40, t.hr.HasHud(12));
  const uint8_t* px = hud_frame->row(130) + 3 * 20;
  if (t.hr.HasHud(12)) {
    EXPECT_EQ((std::vector<int>{px[0], px[1], px[2]}), (std::vector{255, 0, 255}));
  }
  EXPECT_TRUE(t.lr.hud_rect == Rect{});

  absl::StatusOr<Truth> read = ReadTruth(footage->truth_path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->lr.render_divisor, 2);
  EXPECT_EQ(read->lr.gap_at, 50);
  EXPECT_EQ(read->lr.gap_len, 14);
  EXPECT_TRUE(read->lr.gap_hold);
  EXPECT_EQ(read->lr.gop, 10);
  EXPECT_EQ(read->hr.capture_divisor, 2);
  EXPECT_EQ(read->hr.hud_from, 20);
  EXPECT_EQ(read->hr.hud_to, 40);
  EXPECT_EQ(read->hr.hud_rect, t.hr.hud_rect);
  EXPECT_EQ(read->hr.hud_color, "0xff00ff");
  EXPECT_EQ(read->lr.duplicates, t.lr.duplicates);
}

TEST(RealismTest, HoldsMissingGapAndFullRangeTagAreWhatTheTruthSays) {
  FootageSpec spec = SmallRealisticSpec();
  // LR: lossless, holds and a missing stall.
  spec.lr.codec = {Codec::kFfv1};
  spec.lr.edits.hold_rate = 0.08;
  spec.lr.edits.hold_min = 3;
  spec.lr.edits.hold_max = 6;
  spec.lr.edits.gap_at = 30;
  spec.lr.edits.gap_len = 25;
  // HR: limited-range content tagged full range.
  spec.hr.codec = {Codec::kX264, 26};
  spec.hr.codec.tag_full_range = true;
  GenerateOptions options;
  options.out_dir = TestDir("realism-b");
  absl::StatusOr<Footage> footage = GenerateFootage(spec, options);
  ASSERT_TRUE(footage.ok()) << footage.status();
  const Truth& t = footage->truth;

  for (int id : t.lr.world_ids) EXPECT_TRUE(id < 30 || id >= 55) << id;
  EXPECT_GE(t.lr.duplicates.size(), 4u);
  ExpectDecodedFramesMatchTruth(t, /*hr=*/false, /*lossless=*/true);

  EXPECT_TRUE(t.hr.tagged_full_range);
  EXPECT_EQ(Probe(t.hr.path, "stream=color_range"), "pc");
  // The bitstream's VUI says so too: the raw H.264 stream has no container to tag it.
  const std::string annexb = options.out_dir + "/hr.h264";
  ASSERT_TRUE(RunCommand({"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", t.hr.path, "-c:v",
                          "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", annexb})
                  .ok());
  EXPECT_EQ(Probe(annexb, "stream=color_range"), "pc");
  // The stored luma stays limited range whatever the tag says.
  absl::StatusOr<std::string> yuv =
      RunCommand({"ffmpeg", "-nostdin", "-v", "error", "-i", t.hr.path, "-c:v", "rawvideo", "-f",
                  "rawvideo", "-"});
  ASSERT_TRUE(yuv.ok()) << yuv.status();
  const size_t luma = static_cast<size_t>(t.hr.size.width) * t.hr.size.height;
  const size_t frame = luma * 3 / 2;
  ASSERT_EQ(yuv->size(), frame * t.hr.world_ids.size());
  size_t outside = 0, total = 0;
  for (size_t at = 0; at < yuv->size(); at += frame) {
    for (size_t i = 0; i < luma; ++i) {
      const int y = static_cast<uint8_t>((*yuv)[at + i]);
      outside += y < 14 || y > 237;
      ++total;
    }
  }
  EXPECT_LT(static_cast<double>(outside) / static_cast<double>(total), 0.001);
  absl::StatusOr<Truth> read = ReadTruth(footage->truth_path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->hr.tagged_full_range);
  EXPECT_FALSE(read->lr.tagged_full_range);
  EXPECT_EQ(read->lr.gap_at, 30);
  EXPECT_FALSE(read->lr.gap_hold);
}

TEST(RealismTest, RejectsFullRangeTagOnLosslessAndHudOutsideTheFrame) {
  FootageSpec spec = SmallRealisticSpec();
  spec.hr.codec = {Codec::kFfv1};
  spec.hr.codec.tag_full_range = true;
  GenerateOptions options;
  options.out_dir = TestDir("realism-bad");
  EXPECT_EQ(GenerateFootage(spec, options).status().code(), absl::StatusCode::kInvalidArgument);
  spec = SmallRealisticSpec();
  spec.lr.hud = {0, 10, {60, 0, 8, 8}};
  EXPECT_THAT(GenerateFootage(spec, options).status().message(), HasSubstr("HUD rect"));
}

TEST(RunCommandTest, ReportsExitStatusAndStderr) {
  absl::StatusOr<std::string> out = RunCommand({"ffmpeg", "-v", "error", "-i", "/nonexistent"});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("exited with status"));
  EXPECT_THAT(out.status().message(), HasSubstr("/nonexistent"));
  EXPECT_THAT(out.status().message(), HasSubstr("No such file"));
  out = RunCommand({"framepair-no-such-tool"});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  out = RunCommand({"echo", "hello"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hello\n");
}

}  // namespace
}  // namespace framepair::footage
