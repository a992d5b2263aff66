// A fast in-process run of the whole pipeline on a tiny generated pair, labelled "unit" so the
// sanitizer configuration (ASan + UBSan) covers pack's thread pool, the shard writer, publishing
// and verify. The ground-truth end-to-end tests live in tests/e2e/pipeline_test.cc.
#include "pipeline/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "dataset/dataset.h"
#include "pipeline/artifacts.h"
#include "pipeline/parameters.h"
#include "pipeline/stages.h"
#include "pipeline/verify.h"
#include "util/file.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

class TinyPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fp_tiny_pipeline_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // HR 256x144 lossless; LR 64x36 from it, starting 5 frames later.
    Sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=256x144:rate=30 "
       "-frames:v 80 -c:v ffv1 " +
       (dir_ / "hr.mkv").string());
    Sh("ffmpeg -nostdin -loglevel error -y -i " + (dir_ / "hr.mkv").string() +
       " -vf trim=start_frame=5,setpts=PTS-STARTPTS,scale=64:36:flags=area -c:v libx264 "
       "-crf 18 -pix_fmt yuv444p " +
       (dir_ / "lr.mp4").string());
  }
  void TearDown() override { fs::remove_all(dir_); }
  static void Sh(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0); }

  fs::path dir_;
};

TEST_F(TinyPipelineTest, RunsVerifiesAndCountsEachFrameOnce) {
  RunOptions o;
  o.lr_path = (dir_ / "lr.mp4").string();
  o.hr_path = (dir_ / "hr.mkv").string();
  o.out_dir = (dir_ / "out").string();
  o.sample.windows = 12;
  o.shards = 2;
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->lr_frames_decoded, 75);
  EXPECT_EQ(summary->hr_frames_decoded, 80);
  EXPECT_GE(summary->pairs_aligned, 70);
  EXPECT_EQ(summary->windows, 12);
  EXPECT_EQ(summary->pack.pngs_encoded,
            summary->pack.distinct_lr_frames + summary->pack.distinct_hr_frames);
  absl::StatusOr<VerifyReport> report = VerifyDataset(o.out_dir, VerifyOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->defects.front();
  EXPECT_EQ(report->examples, 12);
  EXPECT_EQ(report->images, 12 * 20);
  // Nothing but the dataset is left in the directory.
  int files = 0;
  for (const auto& e : fs::directory_iterator(o.out_dir)) {
    EXPECT_THAT(e.path().filename().string(),
                ::testing::AnyOf("manifest.json", "train-00000-of-00002.tfrecord",
                                 "train-00001-of-00002.tfrecord"));
    ++files;
  }
  EXPECT_EQ(files, 3);
}

TEST_F(TinyPipelineTest, CancelledRunLeavesNoPartialOutput) {
  RunOptions o;
  o.lr_path = (dir_ / "lr.mp4").string();
  o.hr_path = (dir_ / "hr.mkv").string();
  o.out_dir = (dir_ / "out").string();
  std::atomic<bool> cancel{true};
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr, &cancel);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(fs::is_empty(o.out_dir));
}

// The services run the same stages on artifacts stored between steps: every artifact must
// survive the file round trip exactly, or the shards would differ from `framepair run`'s.
TEST_F(TinyPipelineTest, StagesThroughStoredArtifactsWriteTheBytesOfRun) {
  RunOptions o;
  o.lr_path = (dir_ / "lr.mp4").string();
  o.hr_path = (dir_ / "hr.mkv").string();
  o.out_dir = (dir_ / "out").string();
  o.sample.windows = 12;
  o.shards = 2;
  ASSERT_TRUE(RunPipeline(o, nullptr).ok());

  // Options travel as RunParameters (the job spec) and come back identical.
  absl::StatusOr<RunOptions> back = OptionsFromParameters(ParametersFor(o));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ParametersFor(*back).SerializeAsString(), ParametersFor(o).SerializeAsString());
  RunOptions options = *back;
  ASSERT_TRUE(NormalizeRunOptions(&options).ok());

  const std::string work = (dir_ / "work").string();
  fs::create_directories(work);
  for (const char* role : {"lr", "hr"}) {
    absl::StatusOr<StoredFrameTable> t = IngestSource(
        role, role == std::string("lr") ? o.lr_path : o.hr_path, options.ingest, nullptr, nullptr);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(WriteFrameTable(work + "/" + role + ".frames", t->table, t->source).ok());
    absl::StatusOr<StoredFrameTable> read = ReadFrameTable(work + "/" + role + ".frames");
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->table.kept, t->table.kept);
    ASSERT_EQ(read->table.thumbs.size(), t->table.thumbs.size());
    ASSERT_EQ(read->table.thumbs.record_bytes(), t->table.thumbs.record_bytes());
    EXPECT_EQ(
        std::memcmp(read->table.thumbs.data(), t->table.thumbs.data(), t->table.thumbs.bytes()), 0);
    EXPECT_EQ(read->table.positions().size(), t->table.positions().size());
    for (size_t i = 0; i < t->table.frames.size(); ++i) {
      EXPECT_EQ(read->table.frames[i].pts, t->table.frames[i].pts);
      EXPECT_EQ(read->table.frames[i].content_hash, t->table.frames[i].content_hash);
      EXPECT_EQ(read->table.frames[i].dup, t->table.frames[i].dup);
    }
    EXPECT_EQ(read->table.video.color_matrix, t->table.video.color_matrix);
    EXPECT_EQ(read->source.SerializeAsString(), t->source.SerializeAsString());
  }
  absl::StatusOr<StoredFrameTable> lr = ReadFrameTable(work + "/lr.frames");
  absl::StatusOr<StoredFrameTable> hr = ReadFrameTable(work + "/hr.frames");
  ASSERT_TRUE(lr.ok() && hr.ok());
  ASSERT_TRUE(CheckSources(&lr->table, hr->table, options.scale, options.sample.window).ok());
  absl::StatusOr<AlignOutput> aligned = AlignSources(&lr->table, hr->table, options.align);
  ASSERT_TRUE(aligned.ok()) << aligned.status();
  ASSERT_TRUE(WritePairs(work + "/pairs", aligned->pairs, aligned->stats).ok());
  absl::StatusOr<StoredPairs> pairs = ReadPairs(work + "/pairs");
  ASSERT_TRUE(pairs.ok());
  ASSERT_EQ(pairs->pairs.size(), aligned->pairs.size());
  for (size_t i = 0; i < pairs->pairs.size(); ++i) {
    EXPECT_EQ(pairs->pairs[i].lr_frame, aligned->pairs[i].lr_frame);
    EXPECT_EQ(pairs->pairs[i].hr_frame, aligned->pairs[i].hr_frame);
    EXPECT_EQ(pairs->pairs[i].residual, aligned->pairs[i].residual);  // bit-exact doubles
  }
  absl::StatusOr<PairThumbs> thumbs = PairThumbsOf(lr->table, pairs->pairs, false);
  ASSERT_TRUE(thumbs.ok()) << thumbs.status();
  absl::StatusOr<WindowPlan> plan =
      PlanWindows(thumbs->sequence, &lr->table, hr->table, pairs->pairs, options.scene,
                  options.sample, "tiny pair");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(WriteWindowPlan(work + "/plan", *plan).ok());
  absl::StatusOr<WindowPlan> stored_plan = ReadWindowPlan(work + "/plan");
  ASSERT_TRUE(stored_plan.ok());

  // Packers load tables without thumbnails.
  absl::StatusOr<StoredFrameTable> lr_lean = ReadFrameTable(work + "/lr.frames", false);
  absl::StatusOr<StoredFrameTable> hr_lean = ReadFrameTable(work + "/hr.frames", false);
  ASSERT_TRUE(lr_lean.ok() && hr_lean.ok());
  EXPECT_EQ(hr_lean->table.thumbs.data(), nullptr);
  PackInput input{o.lr_path, o.hr_path, &lr_lean->table, &hr_lean->table, &pairs->pairs};
  for (int shard = 0; shard < 2; ++shard) {
    const std::string name = ShardFileName("train", shard, 2, false);
    absl::StatusOr<PackedShard> packed =
        PackShard(input, stored_plan->WindowsOfShard(shard), options.pack, work, name);
    ASSERT_TRUE(packed.ok()) << packed.status();
    EXPECT_EQ(*ReadFile(work + "/" + name), *ReadFile(o.out_dir + "/" + name)) << name;
  }
}

TEST_F(TinyPipelineTest, DamagedArtifactsAreReportedNotMisread) {
  const std::string work = (dir_ / "work").string();
  fs::create_directories(work);
  absl::StatusOr<StoredFrameTable> t =
      IngestSource("hr", (dir_ / "hr.mkv").string(), IngestOptions{}, nullptr, nullptr);
  ASSERT_TRUE(t.ok());
  const std::string path = work + "/hr.frames";
  ASSERT_TRUE(WriteFrameTable(path, t->table, t->source).ok());
  fs::resize_file(path, fs::file_size(path) - 100);
  EXPECT_EQ(ReadFrameTable(path).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(WriteFileAtomically(path, "not a frame table at all").ok());
  EXPECT_EQ(ReadFrameTable(path).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(WriteFileAtomically(work + "/pairs", "\xff\xff\xff").ok());
  EXPECT_EQ(ReadPairs(work + "/pairs").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadWindowPlan(work + "/missing").status().code(), absl::StatusCode::kNotFound);
}

// --ignore-region travels to the workers in RunParameters, and the HR recording gets the LR
// regions times the scale.
TEST(RunParametersTest, IgnoreRegionsTravelAndScaleForHr) {
  RunOptions o;
  o.scale = 4;
  o.ignore_regions = {{1, 2, 3, 4}, {10, 20, 30, 40}};
  absl::StatusOr<RunOptions> back = OptionsFromParameters(ParametersFor(o));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ignore_regions, o.ignore_regions);
  EXPECT_EQ(IngestOptionsFor(o, "lr").ignore_regions, o.ignore_regions);
  EXPECT_EQ(IngestOptionsFor(o, "hr").ignore_regions,
            (std::vector<PixelRect>{{4, 8, 12, 16}, {40, 80, 120, 160}}));
  ASSERT_TRUE(NormalizeRunOptions(&o).ok());
  for (const PixelRect& bad : {PixelRect{-1, 0, 5, 5}, PixelRect{0, 0, 0, 5},
                               PixelRect{0, 0, 5, -2}, PixelRect{1 << 30, 0, 5, 5}}) {
    RunOptions b = o;
    b.ignore_regions = {bad};
    const absl::Status s = NormalizeRunOptions(&b);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad.x;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("--ignore-region")) << bad.x;
  }
}

}  // namespace
}  // namespace framepair
