#include "support/footage.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
    GenerateOptions options;
    options.out_dir = options.cache_dir + "/footage_test-default";
    options.reuse_existing = true;
    absl::StatusOr<Footage> footage = GenerateFootage(DefaultSpec(), options);
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
  for (SceneKind kind : {SceneKind::kTestsrc2, SceneKind::kMandelbrot, SceneKind::kLife,
                         SceneKind::kCellauto, SceneKind::kGradients, SceneKind::kBars}) {
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
