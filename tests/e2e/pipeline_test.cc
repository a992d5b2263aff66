// The core pipeline against footage with known ground truth (tests/support/footage.h):
// alignment precision/recall (with the greedy FrameSync baseline beside it), scene cuts,
// what ends up in the shards (no duplicates, no window across a cut or a jump, each PNG equal
// to its source frame decoded straight, target = scale x input), verify, determinism.
#include "pipeline/pipeline.h"

#include <fnmatch.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "align/align.h"
#include "dataset/dataset.h"
#include "ingest/ingest.h"
#include "media/video.h"
#include "pipeline/stages.h"
#include "pipeline/verify.h"
#include "png/png.h"
#include "scene/scene.h"
#include "support/footage.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using footage::Footage;
using footage::PrecisionRecall;
using footage::Truth;

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("framepair-pipeline-" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Shared with every other test process asking for the same spec: read, never change.
Footage Generate(const footage::FootageSpec& spec) {
  absl::StatusOr<Footage> f = footage::CachedFootage(spec);
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

struct Analysis {
  FrameTable lr, hr;
  AlignResult sequence, greedy;
};

Analysis Analyze(const Footage& f) {
  Analysis a;
  IngestOptions scene_side;  // LR is what scene detection reads, as in the pipeline
  scene_side.scene_scores = true;
  a.lr = *IngestVideo(f.lr_path, scene_side);
  a.hr = *IngestVideo(f.hr_path, IngestOptions{});
  auto seq = [](const FrameTable& t) {
    return ThumbSequence{t.thumb_width, t.thumb_height, t.kept.data(), t.thumbs.data(),
                         t.kept.size()};
  };
  AlignOptions options;
  a.sequence = *Align(seq(a.lr), seq(a.hr), options);
  options.mode = AlignMode::kGreedy;
  absl::StatusOr<AlignResult> greedy = Align(seq(a.lr), seq(a.hr), options);
  EXPECT_TRUE(greedy.ok()) << "the greedy baseline must run on this footage: " << greedy.status();
  if (greedy.ok()) a.greedy = *greedy;
  return a;
}

std::vector<std::pair<int, int>> AsIntPairs(const std::vector<AlignedPair>& pairs) {
  std::vector<std::pair<int, int>> out;
  for (const AlignedPair& p : pairs) out.emplace_back(p.lr_frame, p.hr_frame);
  return out;
}

void ReportAndCheckAlignment(const std::string& label, const Footage& f, const Analysis& a) {
  PrecisionRecall seq = footage::EvaluateAlignment(f.truth, AsIntPairs(a.sequence.pairs));
  PrecisionRecall greedy = footage::EvaluateAlignment(f.truth, AsIntPairs(a.greedy.pairs));
  std::printf("[%s] sequence: precision %.4f recall %.4f (%d/%d pairs correct, %d/%d matchable)\n",
              label.c_str(), seq.precision, seq.recall, seq.correct, seq.predicted, seq.found,
              seq.relevant);
  std::printf("[%s] greedy baseline: precision %.4f recall %.4f (%d/%d, %d/%d)\n", label.c_str(),
              greedy.precision, greedy.recall, greedy.correct, greedy.predicted, greedy.found,
              greedy.relevant);
  EXPECT_GE(seq.precision, 0.995) << label;
  EXPECT_GE(seq.recall, 0.98) << label;
  EXPECT_GE(seq.precision * seq.recall, greedy.precision * greedy.recall) << label;
}

struct ShardExample {
  std::vector<std::string> input, target, images;
  std::vector<int64_t> input_frame, target_frame, images_frame;
};

std::vector<ShardExample> ReadExamplesOf(const std::vector<fs::path>& shards) {
  std::vector<ShardExample> out;
  for (const fs::path& shard : shards) {
    absl::StatusOr<TfRecordReader> reader = TfRecordReader::FromBytes(*ReadFile(shard));
    EXPECT_TRUE(reader.ok());
    for (;;) {
      absl::StatusOr<std::string_view> record = reader->Next();
      if (!record.ok()) break;
      framepair::v1::tf::Example example;
      EXPECT_TRUE(example.ParseFromString(std::string(*record)));
      ShardExample x;
      for (const auto& [name, feature] : example.features().feature()) {
        std::vector<std::string> bytes(feature.bytes_list().value().begin(),
                                       feature.bytes_list().value().end());
        std::vector<int64_t> ints(feature.int64_list().value().begin(),
                                  feature.int64_list().value().end());
        if (name == "input") x.input = bytes;
        if (name == "target") x.target = bytes;
        if (name == "images") x.images = bytes;
        if (name == "input_frame") x.input_frame = ints;
        if (name == "target_frame") x.target_frame = ints;
        if (name == "images_frame") x.images_frame = ints;
      }
      out.push_back(std::move(x));
    }
  }
  return out;
}

// Every example of every .tfrecord file in `dir`.
std::vector<ShardExample> ReadExamples(const fs::path& dir) {
  std::vector<fs::path> shards;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tfrecord") != std::string::npos) {
      shards.push_back(e.path());
    }
  }
  std::sort(shards.begin(), shards.end());
  return ReadExamplesOf(shards);
}

// RGB of every frame of a video, by a straight decode.
std::vector<RgbImage> DecodeAllRgb(const std::string& path) {
  std::vector<RgbImage> frames;
  auto decoder = *VideoDecoder::Open(path);
  RgbConverter converter;
  for (;;) {
    absl::StatusOr<const DecodedFrame*> frame = decoder->Next();
    EXPECT_TRUE(frame.ok());
    if (!frame.ok() || *frame == nullptr) break;
    RgbImage rgb;
    EXPECT_TRUE(converter.ToRgb((*frame)->frame, &rgb).ok());
    frames.push_back(std::move(rgb));
  }
  return frames;
}

RunOptions BaseOptions(const Footage& f, const fs::path& out) {
  RunOptions o;
  o.lr_path = f.lr_path;
  o.hr_path = f.hr_path;
  o.out_dir = out.string();
  o.sample.windows = 60;
  o.sample.seed = 11;
  o.shards = 3;
  return o;
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { default_ = new Footage(Generate(footage::DefaultSpec())); }
  static void TearDownTestSuite() {
    delete default_;
    fs::remove_all(fs::temp_directory_path() / ("framepair-pipeline-" + std::to_string(getpid())));
  }
  static Footage* default_;
};
Footage* PipelineTest::default_ = nullptr;

TEST_F(PipelineTest, AlignmentMeetsPrecisionAndRecallOnDefaultFootage) {
  ReportAndCheckAlignment("default", *default_, Analyze(*default_));
}

TEST_F(PipelineTest, AlignmentMeetsPrecisionAndRecallOnHardFootage) {
  Footage hard = Generate(footage::HardSpec());
  ReportAndCheckAlignment("hard", hard, Analyze(hard));
}

TEST_F(PipelineTest, SceneCutsMatchTheTruth) {
  const Footage& f = *default_;
  Analysis a = Analyze(f);
  const auto& pairs = a.sequence.pairs;
  absl::StatusOr<PairThumbs> thumbs = PairThumbsOf(a.lr, pairs, /*use_hr_index=*/false);
  ASSERT_TRUE(thumbs.ok()) << thumbs.status();
  const ThumbSequence& seq = thumbs->sequence;
  for (SceneDetector detector : {SceneDetector::kAdaptive, SceneDetector::kContent}) {
    SceneOptions options;
    options.detector = detector;
    absl::StatusOr<SceneResult> scenes =
        DetectScenes(seq, pairs, KeptFrames{a.lr.kept, a.hr.kept, a.lr.scene_scores}, options);
    ASSERT_TRUE(scenes.ok()) << scenes.status();
    // Precision of what is called a cut; recall of where segments break (a cut that falls on
    // a continuity break is a break already, and no window crosses either).
    std::vector<int> cut_frames, break_frames;
    for (int64_t p : scenes->cut_positions) cut_frames.push_back(pairs[p].lr_frame);
    for (const Segment& s : scenes->segments) {
      if (s.begin > 0) break_frames.push_back(pairs[s.begin].lr_frame);
    }
    PrecisionRecall cuts = footage::EvaluateCutsByLrFrame(f.truth, cut_frames, 2);
    PrecisionRecall breaks = footage::EvaluateCutsByLrFrame(f.truth, break_frames, 2);
    std::printf(
        "[scene %s] cut precision %.3f (%d predicted, %d true cuts), cuts found by a "
        "segment break %.3f\n",
        detector == SceneDetector::kAdaptive ? "adaptive" : "content", cuts.precision,
        cuts.predicted, cuts.relevant, breaks.recall);
    EXPECT_GE(cuts.precision, 0.99);
    EXPECT_GE(breaks.recall, 0.99);
  }
}

TEST_F(PipelineTest, ShardsHoldTrueCleanWindowsWithExactPixels) {
  const Footage& f = *default_;
  const Truth& truth = f.truth;
  fs::path out = TempDir("run");
  RunOptions o = BaseOptions(f, out);
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->windows, 60);
  EXPECT_EQ(summary->shards, 3);
  // Overlapping windows share frames: each distinct frame is encoded exactly once.
  EXPECT_EQ(summary->pack.pngs_encoded,
            summary->pack.distinct_lr_frames + summary->pack.distinct_hr_frames);
  // H.264 with B-frames and sparse windows: the decoders produce no frame twice per shard.
  EXPECT_LE(summary->pack.frames_decoded, summary->pack.frames_decoded_minimum);

  absl::StatusOr<VerifyReport> report = VerifyDataset(out.string(), VerifyOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->defects.front();

  std::vector<RgbImage> lr_frames = DecodeAllRgb(f.lr_path);
  std::vector<RgbImage> hr_frames = DecodeAllRgb(f.hr_path);
  std::vector<ShardExample> examples = ReadExamples(out);
  ASSERT_EQ(examples.size(), 60u);
  int wrong_pairs = 0;
  for (const ShardExample& x : examples) {
    ASSERT_EQ(x.input.size(), 10u);
    ASSERT_EQ(x.target.size(), 10u);
    ASSERT_EQ(x.input_frame.size(), 10u);
    ASSERT_EQ(x.target_frame.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      const int lr_world = truth.lr.world_ids[x.input_frame[i]];
      const int hr_world = truth.hr.world_ids[x.target_frame[i]];
      if (lr_world != hr_world) ++wrong_pairs;
      if (i > 0) {
        const int prev = truth.lr.world_ids[x.input_frame[i - 1]];
        // No duplicate inside a window: world ids strictly increase.
        EXPECT_GT(lr_world, prev);
        // No window across a jump (max_jump 3 skipped frames) or a scene cut.
        EXPECT_LE(lr_world - prev, 4);
        EXPECT_EQ(truth.world.SceneOf(lr_world), truth.world.SceneOf(prev))
            << "window crosses a cut at world frame " << lr_world;
      }
      // Pixels: each PNG equals its source frame decoded straight, and target = 4x input.
      RgbImage lr_png = *DecodePng(x.input[i]);
      RgbImage hr_png = *DecodePng(x.target[i]);
      EXPECT_EQ(hr_png.width, 4 * lr_png.width);
      EXPECT_EQ(hr_png.height, 4 * lr_png.height);
      EXPECT_TRUE(lr_png == lr_frames[x.input_frame[i]]) << "LR frame " << x.input_frame[i];
      EXPECT_TRUE(hr_png == hr_frames[x.target_frame[i]]) << "HR frame " << x.target_frame[i];
    }
  }
  // Alignment precision carried into the shards.
  EXPECT_LE(wrong_pairs, 600 * 0.005);
}

TEST_F(PipelineTest, TwoRunsAreByteIdentical) {
  const Footage& f = *default_;
  fs::path a = TempDir("same_a"), b = TempDir("same_b");
  ASSERT_TRUE(RunPipeline(BaseOptions(f, a), nullptr).ok());
  RunOptions o = BaseOptions(f, b);
  o.threads = 1;  // a different thread count must not change a byte
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());
  for (const auto& e : fs::directory_iterator(a)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(*ReadFile(e.path().string()), *ReadFile((b / name).string())) << name;
  }
}

TEST_F(PipelineTest, GzipShardsHoldTheSameRecords) {
  const Footage& f = *default_;
  fs::path plain = TempDir("plain"), gzip = TempDir("gzip");
  RunOptions o = BaseOptions(f, plain);
  o.shards = 1;
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());
  o.out_dir = gzip.string();
  o.gzip = true;
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());
  ASSERT_TRUE(fs::exists(gzip / "train_00000-of-00001.tfrecord.gz"));
  EXPECT_TRUE(VerifyDataset(gzip.string(), VerifyOptions{})->ok());
  // TensorFlow's GZIP option compresses the whole stream: decompressed, it is the plain file.
  absl::StatusOr<std::string> unzipped =
      footage::RunCommand({"gzip", "-dc", (gzip / "train_00000-of-00001.tfrecord.gz").string()});
  ASSERT_TRUE(unzipped.ok()) << unzipped.status();
  EXPECT_TRUE(*unzipped == *ReadFile((plain / "train_00000-of-00001.tfrecord").string()));
}

TEST_F(PipelineTest, VerifyCatchesCorruptedShards) {
  const Footage& f = *default_;
  fs::path out = TempDir("corrupt");
  RunOptions o = BaseOptions(f, out);
  o.shards = 1;
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());
  const std::string shard = (out / "train_00000-of-00001.tfrecord").string();
  std::string bytes = *ReadFile(shard);
  // Flip one byte in the middle of the data: the record CRC and the sha256 must both catch it.
  bytes[bytes.size() / 2] ^= 0x40;
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes;
  VerifyReport report = *VerifyDataset(out.string(), VerifyOptions{});
  EXPECT_FALSE(report.ok());
  bool crc = false, sha = false;
  for (const std::string& d : report.defects) {
    crc |= d.find("CRC") != std::string::npos || d.find("crc") != std::string::npos;
    sha |= d.find("sha256") != std::string::npos;
  }
  EXPECT_TRUE(crc);
  EXPECT_TRUE(sha);
  // Truncation is caught too.
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 7);
  EXPECT_FALSE(VerifyDataset(out.string(), VerifyOptions{})->ok());
  // And a missing manifest.
  fs::remove(out / "manifest.json");
  EXPECT_FALSE(VerifyDataset(out.string(), VerifyOptions{})->ok());
}

// The files a glob pattern finds in `dir`, as a reader like tf.io.gfile.glob would (fnmatch on
// the names, sorted).
std::vector<fs::path> Glob(const fs::path& dir, const std::string& pattern) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (fnmatch(pattern.c_str(), e.path().filename().c_str(), FNM_PERIOD) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// JoshUpscale's configuration (configs/frvsr-single.yaml) reads train_*.tfrecord for training
// and validate.tfrecord for validation; read the dataset exactly through those names and check
// that validation never shows a scene that training shows.
TEST_F(PipelineTest, JoshUpscaleGlobsFindTrainingAndHeldOutValidation) {
  const Footage& f = *default_;
  const Truth& truth = f.truth;
  fs::path out = TempDir("val");
  RunOptions o = BaseOptions(f, out);
  o.shards = 4;
  o.sample.val_windows = 12;
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->windows, 60);
  EXPECT_EQ(summary->validation_windows, 12);

  const std::vector<fs::path> train = Glob(out, "train_*.tfrecord");
  ASSERT_EQ(train.size(), 4u);
  EXPECT_EQ(train[0].filename(), "train_00000-of-00004.tfrecord");
  ASSERT_TRUE(fs::exists(out / "validate.tfrecord"));
  const std::vector<ShardExample> train_examples = ReadExamplesOf(train);
  const std::vector<ShardExample> val_examples = ReadExamplesOf({out / "validate.tfrecord"});
  EXPECT_EQ(train_examples.size(), 60u);
  EXPECT_EQ(val_examples.size(), 12u);

  // Scenes (ground truth) that each split shows, from the provenance features, on both sides.
  auto scenes_of = [&](const std::vector<ShardExample>& examples) {
    std::set<int> scenes;
    for (const ShardExample& x : examples) {
      EXPECT_EQ(x.input_frame.size(), 10u);
      for (int64_t frame : x.input_frame) {
        scenes.insert(truth.world.SceneOf(truth.lr.world_ids[frame]));
      }
      for (int64_t frame : x.target_frame) {
        scenes.insert(truth.world.SceneOf(truth.hr.world_ids[frame]));
      }
    }
    return scenes;
  };
  const std::set<int> train_scenes = scenes_of(train_examples);
  const std::set<int> val_scenes = scenes_of(val_examples);
  EXPECT_FALSE(val_scenes.empty());
  for (int scene : val_scenes) {
    EXPECT_FALSE(train_scenes.count(scene)) << "validation and training both show scene " << scene;
  }

  // The manifest records the split: the seed, the held-out scenes and the file.
  absl::StatusOr<framepair::v1::Manifest> m = ReadManifest(out.string());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->validation().file(), "validate.tfrecord");
  EXPECT_EQ(m->validation().examples(), 12);
  EXPECT_EQ(m->total_examples(), 60);
  EXPECT_EQ(m->parameters().val_windows(), 12);
  const framepair::v1::ValidationSplit& split = m->stats().accounting().validation();
  EXPECT_EQ(split.seed(), ValidationSeed(11));
  EXPECT_EQ(split.windows_written(), 12);
  ASSERT_GT(split.held_out_size(), 0);
  for (const ShardExample& x : val_examples) {
    bool inside = false;
    for (const auto& h : split.held_out()) {
      inside |= x.input_frame.front() >= h.first_frame() && x.input_frame.back() <= h.last_frame();
    }
    EXPECT_TRUE(inside) << "validation window at LR frame " << x.input_frame.front();
  }
  absl::StatusOr<VerifyReport> report = VerifyDataset(out.string(), VerifyOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->defects.front();
  EXPECT_EQ(report->examples, 60);
  EXPECT_EQ(report->validation_examples, 12);

  // The same seed gives the same split, byte for byte.
  fs::path again = TempDir("val_again");
  o.out_dir = again.string();
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());
  EXPECT_EQ(*ReadFile((out / "validate.tfrecord").string()),
            *ReadFile((again / "validate.tfrecord").string()));
}

// Datasets written with the names framepair used before (train-00000-of-00002.tfrecord) still
// verify; --name-template writes them on purpose.
TEST_F(PipelineTest, OldShardNamesStillVerify) {
  const Footage& f = *default_;
  fs::path out = TempDir("old_names");
  RunOptions o = BaseOptions(f, out);
  o.shards = 2;
  o.name_template = "train-{shard}-of-{shards}";
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());
  EXPECT_EQ(Glob(out, "train-*.tfrecord").size(), 2u);
  EXPECT_TRUE(Glob(out, "train_*.tfrecord").empty());
  absl::StatusOr<VerifyReport> report = VerifyDataset(out.string(), VerifyOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->defects.front();
  EXPECT_EQ(report->examples, 60);
  // {job} belongs to datasets of many jobs; a run refuses it.
  o.name_template = "train_{job}_{shard}";
  EXPECT_EQ(RunPipeline(o, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PipelineTest, HrOnlyDownscalesByNearestNeighbour) {
  Footage f = Generate(footage::HrOnlySpec());
  for (ExampleFormat format : {ExampleFormat::kPair, ExampleFormat::kSingle}) {
    fs::path out = TempDir(format == ExampleFormat::kPair ? "hr_only_pair" : "hr_only_single");
    RunOptions o;
    o.hr_path = f.hr_path;
    o.out_dir = out.string();
    o.pack.hr_only = true;
    o.pack.format = format;
    o.sample.windows = 20;
    absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_TRUE(VerifyDataset(out.string(), VerifyOptions{})->ok());
    std::vector<ShardExample> examples = ReadExamples(out);
    ASSERT_EQ(examples.size(), 20u);
    for (const ShardExample& x : examples) {
      if (format == ExampleFormat::kSingle) {
        EXPECT_EQ(x.images.size(), 10u);
        EXPECT_TRUE(x.input.empty());
        EXPECT_EQ(x.images_frame.size(), 10u);
        continue;
      }
      for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(x.input_frame[i], x.target_frame[i]);
        EXPECT_TRUE(*DecodePng(x.input[i]) == DownscaleNearest(*DecodePng(x.target[i]), 4));
      }
    }
  }
}

TEST_F(PipelineTest, CorruptMiddleIsSkippedAndReported) {
  const Footage& f = *default_;
  fs::path dir = TempDir("damaged");
  // Zero 4 KB in the middle of the H.264 LR file (its packets stay parseable; the decoder
  // reports the damaged frames).
  std::string bytes = *ReadFile(f.lr_path);
  std::fill_n(bytes.begin() + static_cast<long>(bytes.size() / 2), 4096, '\0');
  const std::string damaged = (dir / "lr_damaged.mp4").string();
  std::ofstream(damaged, std::ios::binary) << bytes;
  RunOptions o = BaseOptions(f, dir / "out");
  o.lr_path = damaged;
  // Damage in the middle is skipped and reported; the rest of the recording still makes a
  // dataset.
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GT(summary->corrupt_frames, 0);
  ASSERT_FALSE(summary->damaged.empty());
  EXPECT_THAT(summary->damaged[0], ::testing::HasSubstr("lr_damaged.mp4"));
  std::string manifest = *ReadFile((dir / "out" / "manifest.json").string());
  EXPECT_THAT(manifest, ::testing::HasSubstr("damaged_ranges"));
  EXPECT_TRUE(VerifyDataset((dir / "out").string(), VerifyOptions{})->ok());
}

}  // namespace
}  // namespace framepair
