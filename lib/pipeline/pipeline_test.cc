// A fast in-process run of the whole pipeline on a tiny generated pair, labelled "unit" so the
// sanitizer configuration (ASan + UBSan) covers pack's thread pool, the shard writer, publishing
// and verify. The ground-truth end-to-end tests live in tests/e2e/pipeline_test.cc.
#include "pipeline/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

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

}  // namespace
}  // namespace framepair
