// The report page from a small hand-made dataset: sections present, self-contained, escaped,
// and a stale or damaged sidecar degrades the page instead of failing it. The browser test
// (tests/e2e/report_browser_test.sh) renders a real run's page.
#include "report/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "pipeline/sidecar.h"
#include "pipeline/verify.h"
#include "png/png.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

RgbImage Solid(int w, int h, uint8_t v) {
  RgbImage im;
  im.width = w;
  im.height = h;
  im.pixels.assign(static_cast<size_t>(w) * h * 3, v);
  return im;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("framepair-report-test-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // 3 windows of 2 pairs over 10 pairs; LR 8x4, HR 16x8.
    std::string shard;
    for (int w = 0; w < 3; ++w) {
      framepair::v1::tf::Example ex;
      std::vector<std::string> lr, hr;
      for (int k = 0; k < 2; ++k) {
        lr.push_back(*EncodePng(Solid(8, 4, static_cast<uint8_t>(40 * w + 10 * k))));
        hr.push_back(*EncodePng(Solid(16, 8, static_cast<uint8_t>(40 * w + 10 * k + 3))));
      }
      AddBytesFeature(&ex, "input", {&lr[0], &lr[1]});
      AddBytesFeature(&ex, "target", {&hr[0], &hr[1]});
      AddInt64Feature(&ex, "input_frame", {3 * w * 2, 3 * w * 2 + 2});
      AddInt64Feature(&ex, "target_frame", {3 * w * 2 + 1, 3 * w * 2 + 3});
      shard += FrameTfRecord(SerializeExampleDeterministic(ex));
    }
    const std::string name = ShardFileName("train", 0, 1, false);
    *manifest_.add_shards() = *WriteShard(dir_.string(), name, shard, 3);
    manifest_.set_version("test");
    manifest_.set_total_examples(3);
    auto* p = manifest_.mutable_parameters();
    p->set_window(2);
    p->set_scale(2);
    p->set_format("pair");
    p->set_provenance(true);
    p->set_max_residual(10);
    manifest_.set_lr_width(8);
    manifest_.set_lr_height(4);
    manifest_.set_hr_width(16);
    manifest_.set_hr_height(8);
    for (const char* role : {"lr", "hr"}) {
      auto* s = manifest_.add_sources();
      s->set_role(role);
      s->set_path(absl::StrCat("/footage/<script>alert(1)</script>", role, ".mkv"));
      s->set_frames_decoded(24);
    }
    manifest_.mutable_stats()->mutable_accounting()->add_warnings("HR: 50 % <unpaired>");
    ASSERT_TRUE(WriteManifest(dir_.string(), manifest_).ok());

    data_.set_format(1);
    data_.set_window(2);
    for (const char* role : {"lr", "hr"}) {
      auto* r = data_.add_recordings();
      r->set_role(role);
      r->set_fps(30);
      r->set_frames(24);
      std::string cls(24, static_cast<char>(framepair::v1::FRAME_PAIRED));
      cls[5] = static_cast<char>(framepair::v1::FRAME_DUPLICATE);
      cls[20] = static_cast<char>(framepair::v1::FRAME_UNPAIRED);
      r->set_frame_class(cls);
    }
    for (int i = 0; i < 10; ++i) {
      data_.add_lr_frame(2 * i);
      data_.add_hr_frame(2 * i + 1);
      data_.add_residual(i == 7 ? 9.5f : 1.0f + 0.1f * i);
    }
    data_.add_segment_begin(0);
    data_.add_segment_end(5);
    data_.add_segment_begin(5);
    data_.add_segment_end(10);
    for (int start : {0, 3, 6}) {
      data_.add_window_start(start);
      data_.add_window_shard(0);
    }
    data_.add_shard_sha256(manifest_.shards(0).sha256());
    ASSERT_TRUE(WriteReportData(dir_.string(), data_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  framepair::v1::Manifest manifest_;
  framepair::v1::ReportData data_;
};

TEST_F(ReportTest, PageHasEverySectionAndIsSelfContained) {
  absl::StatusOr<std::string> html = RenderReport(dir_.string(), {});
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(Count(*html, "<svg class=\"timeline\""), 2);
  EXPECT_EQ(Count(*html, "<svg class=\"residuals\""), 1);
  EXPECT_EQ(Count(*html, "class=\"gate\""), 1);
  // 3 sampled windows + the worst-pairs sheet.
  EXPECT_EQ(Count(*html, "<img class=\"sheet\""), 4);
  EXPECT_EQ(Count(*html, "src=\"data:image/png;base64,"), 4);
  EXPECT_THAT(*html, HasSubstr("residual 9.50"));
  EXPECT_THAT(*html, HasSubstr("LR 12<br>HR 13"));  // the third window's first frame
  EXPECT_THAT(*html, Not(HasSubstr("://")));
  EXPECT_THAT(*html, Not(HasSubstr("<script")));
  EXPECT_THAT(*html, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(*html, HasSubstr("50 % &lt;unpaired&gt;"));
  // Deterministic: the same directory gives the same page.
  EXPECT_EQ(*html, *RenderReport(dir_.string(), {}));
}

// Pairs a gate refused are their own class on the timeline (not "unpaired") and marks on the
// residual plot, each naming its gate; frames with no partner stay "unpaired".
TEST_F(ReportTest, GatedPairsAreDrawnWithTheirGate) {
  for (int i = 0; i < data_.recordings_size(); ++i) {
    std::string cls = data_.recordings(i).frame_class();
    cls[21] = static_cast<char>(framepair::v1::FRAME_GATED);
    cls[22] = static_cast<char>(framepair::v1::FRAME_GATED);
    data_.mutable_recordings(i)->set_frame_class(cls);
  }
  for (auto [frame, gate, residual] : {std::tuple{21, 2, 14.5f}, std::tuple{22, 1, 3.0f}}) {
    data_.add_gated_lr_frame(frame);
    data_.add_gated_hr_frame(frame);
    data_.add_gated_residual(residual);
    data_.add_gated_gate(gate);
  }
  ASSERT_TRUE(WriteReportData(dir_.string(), data_).ok());
  absl::StatusOr<std::string> html = RenderReport(dir_.string(), {});
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_GE(Count(*html, "<rect class=\"gated\""), 2);  // a column per recording at least
  EXPECT_GE(Count(*html, "<rect class=\"unpaired\""), 2);
  EXPECT_THAT(*html, HasSubstr("frame(s) of refused pairs:"));
  EXPECT_THAT(*html,
              HasSubstr("refused by the residual gate: residual 14.50, LR frame 21, HR frame 21"));
  EXPECT_THAT(*html, HasSubstr("refused by the spike gate: residual 3.00"));
  EXPECT_THAT(*html, HasSubstr("gated (its pair refused by a gate"));
}

TEST_F(ReportTest, SampleSizeAndWorstPairsFollowOptions) {
  ReportOptions o;
  o.sample_windows = 1;
  o.worst_pairs = 0;
  absl::StatusOr<std::string> html = RenderReport(dir_.string(), o);
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(Count(*html, "<img class=\"sheet\""), 1);
}

TEST_F(ReportTest, StaleSidecarIsNamedNotUsedAndVerifyWarns) {
  data_.set_shard_sha256(0, std::string(64, '0'));
  ASSERT_TRUE(WriteReportData(dir_.string(), data_).ok());
  absl::StatusOr<std::string> html = RenderReport(dir_.string(), {});
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_THAT(*html, HasSubstr("report.binpb is stale"));
  EXPECT_EQ(Count(*html, "<svg class=\"timeline\""), 0);
  EXPECT_EQ(Count(*html, "<img class=\"sheet\""), 3);  // examples sampled from the shards
  VerifyOptions v;
  absl::StatusOr<VerifyReport> report = VerifyDataset(dir_.string(), v);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_THAT(report->warnings, ::testing::Contains(HasSubstr("report.binpb: stale")));
}

TEST_F(ReportTest, DamagedSidecarIsADefectAndTheReportStillRenders) {
  ASSERT_TRUE(WriteFileAtomically((dir_ / kReportSidecarName).string(), "garbage\xff").ok());
  absl::StatusOr<VerifyReport> report = VerifyDataset(dir_.string(), {});
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(report->defects, ::testing::Contains(HasSubstr("report.binpb")));
  absl::StatusOr<std::string> html = RenderReport(dir_.string(), {});
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(*html, HasSubstr("no usable report.binpb"));
}

TEST_F(ReportTest, SoundSidecarPassesVerify) {
  absl::StatusOr<VerifyReport> report = VerifyDataset(dir_.string(), {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << ::testing::PrintToString(report->defects);
  EXPECT_TRUE(report->warnings.empty()) << ::testing::PrintToString(report->warnings);
}

TEST_F(ReportTest, SidecarWithWindowsOutsideThePairsIsDataLoss) {
  data_.set_window_start(2, 9);
  ASSERT_TRUE(WriteReportData(dir_.string(), data_).ok());
  EXPECT_TRUE(absl::IsDataLoss(ReadReportData(dir_.string()).status()));
}

TEST_F(ReportTest, NoDatasetIsAnError) {
  EXPECT_FALSE(RenderReport((dir_ / "missing").string(), {}).ok());
}

}  // namespace
}  // namespace framepair
