// A fast in-process run of the whole pipeline on a tiny generated pair, labelled "unit" so the
// sanitizer configuration (ASan + UBSan) covers pack's thread pool, the shard writer, publishing
// and verify. The ground-truth end-to-end tests live in tests/e2e/pipeline_test.cc.
#include "pipeline/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "framepair/v1/artifacts.pb.h"
#include "pipeline/artifacts.h"
#include "pipeline/parameters.h"
#include "pipeline/sidecar.h"
#include "pipeline/stages.h"
#include "pipeline/verify.h"
#include "util/crc32c.h"
#include "util/file.h"
#include "util/sha256.h"

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
  // Each shard's decoders walk their plan: no frame decoded twice, none beyond the minimum.
  EXPECT_EQ(summary->pack.frames_needed,
            summary->pack.distinct_lr_frames + summary->pack.distinct_hr_frames);
  EXPECT_GE(summary->pack.frames_decoded_minimum, summary->pack.frames_needed);
  EXPECT_LE(summary->pack.frames_decoded, summary->pack.frames_decoded_minimum);
  EXPECT_GT(summary->pack.png_bytes, 0);
  absl::StatusOr<VerifyReport> report = VerifyDataset(o.out_dir, VerifyOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->defects.front();
  EXPECT_EQ(report->examples, 12);
  EXPECT_EQ(report->images, 12 * 20);
  // Nothing but the dataset is left in the directory.
  int files = 0;
  for (const auto& e : fs::directory_iterator(o.out_dir)) {
    EXPECT_THAT(e.path().filename().string(),
                ::testing::AnyOf("manifest.json", "report.binpb", "train_00000-of-00002.tfrecord",
                                 "train_00001-of-00002.tfrecord"));
    ++files;
  }
  EXPECT_EQ(files, 4);
  // The report sidecar describes this run: a class per decoded frame, every pair, every window.
  absl::StatusOr<framepair::v1::ReportData> sidecar = ReadReportData(o.out_dir);
  ASSERT_TRUE(sidecar.ok()) << sidecar.status();
  ASSERT_EQ(sidecar->recordings_size(), 2);
  EXPECT_EQ(sidecar->recordings(0).frame_class().size(), 75u);
  EXPECT_EQ(sidecar->recordings(1).frame_class().size(), 80u);
  EXPECT_EQ(sidecar->hr_frame_size(), summary->pairs_aligned);
  EXPECT_EQ(sidecar->window_start_size(), 12);
}

// A progress sink that remembers what it was told.
class RecordingSink : public ProgressSink {
 public:
  void StageStarted(const std::string& stage) override { events.push_back("start " + stage); }
  void StageProgress(const std::string&, int64_t, int64_t) override {}
  void StageFinished(const std::string& stage, double) override {
    events.push_back("done " + stage);
  }
  void StageStopped(const std::string& stage, double) override {
    events.push_back("stopped " + stage);
  }
  std::vector<std::string> events;
};

TEST_F(TinyPipelineTest, CancelledStageIsStoppedNeverDone) {
  RunOptions o;
  o.lr_path = (dir_ / "lr.mp4").string();
  o.hr_path = (dir_ / "hr.mkv").string();
  o.out_dir = (dir_ / "out").string();
  std::atomic<bool> cancel{true};
  RecordingSink sink;
  EXPECT_EQ(RunPipeline(o, &sink, &cancel).status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(sink.events, ::testing::ElementsAre("start ingest", "stopped ingest"));
}

TEST_F(TinyPipelineTest, MoreShardsThanWindowsWritesNoEmptyShard) {
  RunOptions o;
  o.lr_path = (dir_ / "lr.mp4").string();
  o.hr_path = (dir_ / "hr.mkv").string();
  o.out_dir = (dir_ / "out").string();
  o.sample.windows = 3;
  o.shards = 5;
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->shards, 3);
  absl::StatusOr<framepair::v1::Manifest> m = ReadManifest(o.out_dir);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->shards_size(), 3);
  for (const auto& shard : m->shards()) EXPECT_EQ(shard.examples(), 1) << shard.file();
  EXPECT_THAT(summary->accounting.warnings(),
              ::testing::Contains(::testing::HasSubstr("--shards 5 but only 3 window(s)")));
  absl::StatusOr<VerifyReport> report = VerifyDataset(o.out_dir, VerifyOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
}

TEST_F(TinyPipelineTest, FewerWindowsThanAskedIsAWarning) {
  RunOptions o;
  o.lr_path = (dir_ / "lr.mp4").string();
  o.hr_path = (dir_ / "hr.mkv").string();
  o.out_dir = (dir_ / "out").string();
  o.sample.windows = 100000;
  o.sample.overlap = OverlapPolicy::kDisjoint;
  absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_LT(summary->windows, 100000);
  EXPECT_THAT(summary->accounting.warnings(),
              ::testing::Contains(::testing::HasSubstr("--windows 100000: the footage has room")));
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
  ASSERT_TRUE(WritePairs(work + "/pairs", *aligned).ok());
  absl::StatusOr<AlignOutput> pairs = ReadPairs(work + "/pairs");
  ASSERT_TRUE(pairs.ok());
  ASSERT_EQ(pairs->pairs.size(), aligned->pairs.size());
  for (size_t i = 0; i < pairs->pairs.size(); ++i) {
    EXPECT_EQ(pairs->pairs[i].lr_frame, aligned->pairs[i].lr_frame);
    EXPECT_EQ(pairs->pairs[i].hr_frame, aligned->pairs[i].hr_frame);
    EXPECT_EQ(pairs->pairs[i].residual, aligned->pairs[i].residual);  // bit-exact doubles
  }
  // The refused pairs travel too (the report draws them), one per rejection.
  ASSERT_EQ(pairs->gated.size(), aligned->gated.size());
  EXPECT_EQ(static_cast<int64_t>(pairs->gated.size()), aligned->stats.rejected());
  for (size_t i = 0; i < pairs->gated.size(); ++i) {
    EXPECT_EQ(pairs->gated[i].hr_frame, aligned->gated[i].hr_frame);
    EXPECT_EQ(pairs->gated[i].gate, aligned->gated[i].gate);
  }
  absl::StatusOr<PairThumbs> thumbs = PairThumbsOf(lr->table, pairs->pairs, false);
  ASSERT_TRUE(thumbs.ok()) << thumbs.status();
  absl::StatusOr<WindowPlan> plan = PlanWindows(thumbs->sequence, &lr->table, hr->table, *pairs,
                                                options.scene, options.sample, "tiny pair");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(WriteWindowPlan(work + "/plan", *plan).ok());
  absl::StatusOr<WindowPlan> stored_plan = ReadWindowPlan(work + "/plan");
  ASSERT_TRUE(stored_plan.ok());
  // The stored steps carry the same accounting as the run's.
  EXPECT_EQ(stored_plan->accounting.SerializeAsString(), plan->accounting.SerializeAsString());
  EXPECT_EQ(pairs->stats.rejected(), aligned->stats.rejected());
  EXPECT_EQ(pairs->stats.rate_ratio, aligned->stats.rate_ratio);

  // Packers load tables without thumbnails.
  absl::StatusOr<StoredFrameTable> lr_lean = ReadFrameTable(work + "/lr.frames", false);
  absl::StatusOr<StoredFrameTable> hr_lean = ReadFrameTable(work + "/hr.frames", false);
  ASSERT_TRUE(lr_lean.ok() && hr_lean.ok());
  EXPECT_EQ(hr_lean->table.thumbs.data(), nullptr);
  PackInput input{o.lr_path, o.hr_path, &lr_lean->table, &hr_lean->table, &pairs->pairs};
  for (int shard = 0; shard < 2; ++shard) {
    const std::string name = ShardFileNameFrom("", "", shard, 2, false);
    absl::StatusOr<PackedShard> packed =
        PackShard(input, stored_plan->WindowsOfShard(shard), options.pack, work, name);
    ASSERT_TRUE(packed.ok()) << packed.status();
    EXPECT_EQ(*ReadFile(work + "/" + name), *ReadFile(o.out_dir + "/" + name)) << name;
  }
}

// Decoders run on their own threads and encoders on a pool, so timing differs from run to
// run; the shard bytes must not. One thread everywhere against more threads than cores.
TEST_F(TinyPipelineTest, ShardBytesDoNotDependOnThreadCounts) {
  std::vector<std::string> shards;
  for (int threads : {1, 5}) {
    RunOptions o;
    o.lr_path = (dir_ / "lr.mp4").string();
    o.hr_path = (dir_ / "hr.mkv").string();
    o.out_dir = (dir_ / ("out" + std::to_string(threads))).string();
    o.sample.windows = 12;
    o.threads = threads;  // reaches the encoders and the decoders (NormalizeRunOptions)
    absl::StatusOr<RunSummary> summary = RunPipeline(o, nullptr);
    ASSERT_TRUE(summary.ok()) << summary.status();
    absl::StatusOr<std::string> shard = ReadFile(o.out_dir + "/train_00000-of-00001.tfrecord");
    ASSERT_TRUE(shard.ok()) << shard.status();
    shards.push_back(*std::move(shard));
  }
  EXPECT_GT(shards[0].size(), 0u);
  EXPECT_TRUE(shards[0] == shards[1]) << "shard bytes differ between 1 and 5 threads";
}

TEST(RunOptionsTest, ThreadsReachPackEncodersAndDecoders) {
  RunOptions o;
  o.threads = 3;
  ASSERT_TRUE(NormalizeRunOptions(&o).ok());
  EXPECT_EQ(o.pack.threads, 3);
  EXPECT_EQ(o.pack.decoder.threads, 3);
  EXPECT_EQ(o.ingest.decoder.threads, 3);
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

// ---------------------------------------------------------------------------------------------
// Hostile work files and shards: clean errors, bounded memory, no addresses in messages.

fs::path ScratchDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir =
      fs::temp_directory_path() /
      absl::StrCat("fp_hostile_", getpid(), "_", info->test_suite_name(), "_", info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(HostileArtifactsTest, WindowPlanPastThePairsIsRefusedBeforeAnyRead) {
  const fs::path dir = ScratchDir();
  std::vector<AlignedPair> pairs(20, AlignedPair{0, 0, 0.0});
  FrameTable table;  // never read: the windows are refused first
  PackInput input{"", (dir / "no-such-video.mkv").string(), nullptr, &table, &pairs};
  PackOptions options;
  options.window = 10;
  options.hr_only = true;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  for (int64_t start : {kMax, kMax - 5, kMax - 9, int64_t{-1}, std::numeric_limits<int64_t>::min(),
                        int64_t{11}, int64_t{21}}) {
    absl::StatusOr<PackedShard> packed = PackShard(input, {Window{start, 0}}, options, dir.string(),
                                                   "train-00000-of-00001.tfrecord");
    EXPECT_EQ(packed.status().code(), absl::StatusCode::kInvalidArgument) << start;
    EXPECT_THAT(std::string(packed.status().message()), ::testing::Not(::testing::HasSubstr("0x")));
    EXPECT_FALSE(fs::exists(dir / "train-00000-of-00001.tfrecord"));
  }
  options.window = 0;
  EXPECT_EQ(
      PackShard(input, {Window{0, 0}}, options, dir.string(), "train-0.tfrecord").status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(HostileArtifactsTest, CraftedPlansAndPairsAreDataLoss) {
  const fs::path dir = ScratchDir();
  const std::string path = (dir / "plan").string();
  auto plan_with = [&](int64_t start, int shard, int shards) {
    WindowPlan plan;
    plan.shards = shards;
    plan.windows.push_back({start, shard});
    EXPECT_TRUE(WriteWindowPlan(path, plan).ok());
    return ReadWindowPlan(path).status();
  };
  EXPECT_TRUE(plan_with(std::numeric_limits<int64_t>::max(), 0, 1).ok());  // pack bounds it
  EXPECT_EQ(plan_with(-1, 0, 1).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(plan_with(std::numeric_limits<int64_t>::min(), 0, 1).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(plan_with(0, 1, 1).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(plan_with(0, -1, 1).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(plan_with(0, 0, 0).code(), absl::StatusCode::kDataLoss);
  // One past the shards is the validation pseudo-shard, only in a plan with a split.
  {
    WindowPlan plan;
    plan.shards = 1;
    plan.windows.push_back({0, 1});
    plan.accounting.mutable_validation()->set_windows_written(1);
    ASSERT_TRUE(WriteWindowPlan(path, plan).ok());
    absl::StatusOr<WindowPlan> read = ReadWindowPlan(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->WindowsOfShard(read->ValidationShard()).size(), 1u);
  }

  AlignOutput crafted;
  crafted.pairs = {{0, 0, 0.0}, {-7, 3, 0.0}};
  ASSERT_TRUE(WritePairs((dir / "pairs").string(), crafted).ok());
  EXPECT_EQ(ReadPairs((dir / "pairs").string()).status().code(), absl::StatusCode::kDataLoss);

  // Counts their users add up (AlignStats::rejected()) must not overflow when summed
  // (fuzz/corpus/pairs/regress-count-overflow.pb).
  framepair::v1::AlignedPairs huge;
  huge.set_rejected_spike(std::numeric_limits<int64_t>::max());
  huge.set_rejected_residual(33);
  ASSERT_TRUE(WriteFileAtomically((dir / "pairs").string(), huge.SerializeAsString()).ok());
  EXPECT_EQ(ReadPairs((dir / "pairs").string()).status().code(), absl::StatusCode::kDataLoss);
}

// A frame table file: magic, header length, header, then `thumb_bytes` bytes of thumbnails.
void WriteRawFrameTable(const std::string& path, const framepair::v1::FrameTableHeader& h,
                        uint64_t header_len_field, size_t thumb_bytes) {
  const std::string header = h.SerializeAsString();
  std::string file = "FPFRAME1";
  file.append(reinterpret_cast<const char*>(&header_len_field), 8);
  file += header;
  file.append(thumb_bytes, '\0');
  ASSERT_TRUE(WriteFileAtomically(path, file).ok());
}

framepair::v1::FrameTableHeader SmallHeader(int frames) {
  framepair::v1::FrameTableHeader h;
  for (int i = 0; i < frames; ++i) {
    h.add_frame_pts(i);
    h.add_frame_keyframe(i == 0);
    h.add_frame_content_hash(i);
    h.add_frame_dup(0);
    h.add_kept_index(i);
  }
  h.set_thumb_width(8);
  h.set_thumb_height(4);
  return h;
}

TEST(HostileArtifactsTest, FrameTablesWithAbsurdCountsAreDataLoss) {
  const fs::path dir = ScratchDir();
  const std::string path = (dir / "t.frames").string();
  auto read = [&](bool thumbs) { return ReadFrameTable(path, thumbs).status(); };

  framepair::v1::FrameTableHeader good = SmallHeader(3);
  WriteRawFrameTable(path, good, good.ByteSizeLong(), 3 * 8 * 4 * 3);
  ASSERT_TRUE(read(true).ok()) << read(true);

  // A header length far beyond the file (no allocation of it), and near UINT64_MAX.
  for (uint64_t len : {uint64_t{1} << 29, ~uint64_t{0}, ~uint64_t{0} - 15}) {
    WriteRawFrameTable(path, good, len, 0);
    EXPECT_EQ(read(false).code(), absl::StatusCode::kDataLoss) << len;
  }
  // More thumbnails than the file holds; a kept index past the frames; thumbnail sizes whose
  // product would overflow.
  framepair::v1::FrameTableHeader h = SmallHeader(100000);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 3 * 8 * 4 * 3);
  EXPECT_EQ(read(true).code(), absl::StatusCode::kDataLoss);
  h = good;
  h.add_kept_index(3);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 4 * 8 * 4 * 3);
  EXPECT_EQ(read(false).code(), absl::StatusCode::kDataLoss);
  h = good;
  h.set_thumb_width(std::numeric_limits<int32_t>::max());
  h.set_thumb_height(std::numeric_limits<int32_t>::max());
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 3 * 8 * 4 * 3);
  EXPECT_EQ(read(true).code(), absl::StatusCode::kDataLoss);
  h = good;
  h.set_thumb_width(-8);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 3 * 8 * 4 * 3);
  EXPECT_EQ(read(true).code(), absl::StatusCode::kDataLoss);
  h = SmallHeader(3);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 2 * 8 * 4 * 3);  // one thumbnail short
  EXPECT_EQ(read(true).code(), absl::StatusCode::kDataLoss);
  // Kept indexes out of order or negative; damaged ranges and dup kinds out of range.
  h = good;
  h.set_kept_index(1, -1);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 3 * 8 * 4 * 3);
  EXPECT_EQ(read(false).code(), absl::StatusCode::kDataLoss);
  h = good;
  h.add_damaged_first_index(std::numeric_limits<int64_t>::max());
  h.add_damaged_corrupt_frames(1);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 3 * 8 * 4 * 3);
  EXPECT_EQ(read(false).code(), absl::StatusCode::kDataLoss);
  h = good;
  h.set_frame_dup(0, 77);
  WriteRawFrameTable(path, h, h.ByteSizeLong(), 3 * 8 * 4 * 3);
  EXPECT_EQ(read(false).code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read(false).message()), ::testing::Not(::testing::HasSubstr("0x")));
}

// Current and peak resident set size in bytes, from /proc/self/status.
int64_t StatusBytes(const std::string& field) {
  std::string status = *ReadFile("/proc/self/status");
  const size_t at = status.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::strtoll(status.c_str() + at + field.size() + 1, nullptr, 10) * 1024;
}

// A one-shard dataset whose shard is `prefix` followed by `zeros` zero bytes, GZIP-compressed
// as a stream (never held whole: 1 GiB of zeros deflates to about 1 MiB).
void WriteBombDataset(const fs::path& dir, const std::string& prefix, int64_t zeros) {
  const std::string name = "train-00000-of-00001.tfrecord.gz";
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::ofstream file(dir / name, std::ios::binary);
  const std::string chunk(1 << 20, '\0');
  std::string out(1 << 16, '\0');
  auto feed = [&](std::string_view in, int flush) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    do {
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      deflate(&zs, flush);
      file.write(out.data(), static_cast<std::streamsize>(out.size() - zs.avail_out));
    } while (zs.avail_out == 0 || (flush == Z_FINISH && zs.avail_in > 0));
  };
  feed(prefix, Z_NO_FLUSH);
  for (int64_t left = zeros; left > 0; left -= static_cast<int64_t>(chunk.size())) {
    feed(std::string_view(chunk).substr(0, std::min<int64_t>(left, chunk.size())), Z_NO_FLUSH);
  }
  feed({}, Z_FINISH);
  deflateEnd(&zs);
  file.close();
  ASSERT_LT(fs::file_size(dir / name), 4u << 20);

  framepair::v1::Manifest m;
  m.mutable_parameters()->set_window(3);
  m.mutable_parameters()->set_scale(4);
  m.mutable_parameters()->set_format("pair");
  m.set_lr_width(64);
  m.set_lr_height(36);
  m.set_hr_width(256);
  m.set_hr_height(144);
  auto* shard = m.add_shards();
  shard->set_file(name);
  shard->set_examples(1);
  shard->set_bytes(static_cast<int64_t>(fs::file_size(dir / name)));
  shard->set_sha256(*Sha256File((dir / name).string()));
  m.set_total_examples(1);
  ASSERT_TRUE(WriteManifest(dir.string(), m).ok());
}

// Verifies `dir` and returns how far the peak RSS rose above the RSS before.
int64_t VerifyPeakGrowth(const fs::path& dir, VerifyReport* report) {
  // Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS (Linux >= 4.0).
  std::ofstream("/proc/self/clear_refs") << "5";
  const int64_t before = StatusBytes("VmRSS");
  VerifyOptions options;
  options.threads = 1;
  absl::StatusOr<VerifyReport> r = VerifyDataset(dir.string(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  if (r.ok()) *report = *std::move(r);
  return StatusBytes("VmHWM") - before;
}

TEST(HostileShardTest, GzipBombOfZerosIsADefectWithBoundedMemory) {
  const fs::path dir = ScratchDir();
  WriteBombDataset(dir, "", int64_t{1} << 30);
  VerifyReport report;
  EXPECT_LT(VerifyPeakGrowth(dir, &report), int64_t{64} << 20);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(report.defects, ::testing::Contains(::testing::HasSubstr("corrupt record length")));
}

TEST(HostileShardTest, RecordClaimingAGigabyteIsADefectNotAnAllocation) {
  const fs::path dir = ScratchDir();
  // A valid header for a record of 1 GiB - 1, then zeros: only the length bound stops it.
  const uint64_t length = (uint64_t{1} << 30) - 1;
  std::string header(12, '\0');
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>(length >> (8 * i));
  const uint32_t crc = MaskCrc32c(Crc32c(header.data(), 8));
  for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<char>(crc >> (8 * i));
  WriteBombDataset(dir, header, int64_t{1} << 30);
  VerifyReport report;
  EXPECT_LT(VerifyPeakGrowth(dir, &report), int64_t{64} << 20);
  EXPECT_THAT(report.defects, ::testing::Contains(::testing::HasSubstr("more than the")));
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
