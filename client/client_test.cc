// TerminalProgress with a fake clock into a memory stream, and cli::Json's numbers. The real
// binary on a pseudo-terminal: tests/e2e/cli_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "client/commands.h"
#include "client/terminal_progress.h"
#include "framepair/v1/manifest.pb.h"
#include "tests/support/terminal_screen.h"

namespace framepair::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = TerminalProgress::Clock;
using ::framepair::testing::TerminalScreen;

class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override { out_ = open_memstream(&buffer_, &size_); }
  void TearDown() override {
    std::fclose(out_);
    std::free(buffer_);
  }
  std::string Text() {
    std::fflush(out_);
    return std::string(buffer_, size_);
  }
  TerminalProgress Make(ProgressMode mode) {
    return TerminalProgress(mode, out_, [this] { return now_; });
  }
  void Advance(double seconds) {
    now_ += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  std::FILE* out_ = nullptr;
  char* buffer_ = nullptr;
  size_t size_ = 0;
  Clock::time_point now_ = Clock::time_point() + std::chrono::hours(1);
};

TEST_F(ProgressTest, TerminalLineShowsRateElapsedAndEtaAndIsClearedAtTheEnd) {
  TerminalProgress p = Make(ProgressMode::kTerminal);
  p.StageStarted("ingest");
  Advance(2);
  p.StageProgress("ingest lr", 100, 400);
  Advance(2);
  p.StageProgress("ingest hr", 200, 400);
  const std::string mid = Text();
  // The parent is represented by its sub-stages: no "ingest 0" of its own.
  EXPECT_THAT(TerminalScreen(mid).back(), HasSubstr("ingest hr 200/400 50/s 0:04 ETA 0:04"));
  EXPECT_THAT(TerminalScreen(mid).back(), HasSubstr("ingest lr 100/400"));
  EXPECT_THAT(TerminalScreen(mid).back(), Not(HasSubstr("ingest 0")));
  Advance(1);
  p.StageProgress("ingest hr", 400, 400);
  p.StageFinished("ingest", 5);
  p.StageStarted("align");
  p.StageFinished("align", 0.5);
  p.Finish();
  const std::vector<std::string> screen = TerminalScreen(Text());
  EXPECT_EQ(screen.back(), "");  // nothing stale where the summary will go
  EXPECT_THAT(screen, ::testing::Contains("framepair: ingest done in 5.00 s"));
  for (const std::string& line : screen) EXPECT_THAT(line, Not(HasSubstr("400/400")));
}

TEST_F(ProgressTest, StoppedStageNeverSaysDone) {
  for (ProgressMode mode : {ProgressMode::kTerminal, ProgressMode::kLines, ProgressMode::kJson}) {
    TerminalProgress p = Make(mode);
    p.StageStarted("pack");
    Advance(11);
    p.StageProgress("pack", 3, 10);
    p.StageStopped("pack", 11);
    p.Finish();
  }
  const std::string text = Text();
  EXPECT_THAT(text, Not(HasSubstr("done in")));
  EXPECT_THAT(text, Not(HasSubstr(R"("event": "done")")));
  EXPECT_THAT(text, HasSubstr("framepair: pack stopped after 11.00 s"));
  EXPECT_THAT(text, HasSubstr(R"({"event": "stopped", "stage": "pack")"));
}

TEST_F(ProgressTest, PlainLinesEveryTenSeconds) {
  TerminalProgress p = Make(ProgressMode::kLines);
  p.StageStarted("pack");
  for (int i = 1; i <= 25; ++i) {
    Advance(1);
    p.StageProgress("pack", i, 25);
  }
  p.StageFinished("pack", 25);
  const std::string text = Text();
  EXPECT_THAT(text, Not(HasSubstr("\r")));
  EXPECT_THAT(text, HasSubstr("framepair: pack 10/25 1.0/s 0:10 ETA 0:15\n"));
  EXPECT_THAT(text, HasSubstr("framepair: pack 20/25 1.0/s 0:20 ETA 0:05\n"));
  EXPECT_THAT(text, Not(HasSubstr("pack 15/25")));
  EXPECT_THAT(text, HasSubstr("framepair: pack done in 25.00 s\n"));
}

TEST_F(ProgressTest, JsonLines) {
  TerminalProgress p = Make(ProgressMode::kJson);
  p.StageStarted("pack");
  Advance(2);
  p.StageProgress("pack", 5, 10);
  p.StageFinished("pack", 4);
  EXPECT_EQ(Text(),
            "{\"event\": \"started\", \"stage\": \"pack\"}\n"
            "{\"event\": \"progress\", \"stage\": \"pack\", \"done\": 5, \"total\": 10, \"rate\": "
            "2.5, \"elapsed_seconds\": 2.0, \"eta_seconds\": 2.0}\n"
            "{\"event\": \"done\", \"stage\": \"pack\", \"seconds\": 4.000}\n");
}

TEST(FormatDurationTest, MinutesAndHours) {
  EXPECT_EQ(FormatDuration(0), "0:00");
  EXPECT_EQ(FormatDuration(65), "1:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
}

TEST(JsonTest, SixtyFourBitCountsAreNumbersWhenExact) {
  framepair::v1::ShardEntry e;
  e.set_file("123");  // a string that looks like a number stays a string
  e.set_examples(533);
  e.set_bytes(int64_t{1} << 60);  // beyond 2^53: stays a string, exactly
  EXPECT_EQ(Json(e, /*one_line=*/true),
            R"({"file":"123","examples":533,"bytes":"1152921504606846976"})");
  framepair::v1::Accounting a;
  a.add_recordings()->set_frames_decoded(90);
  EXPECT_THAT(Json(a), HasSubstr("\"frames_decoded\": 90"));
}

TEST(JsonTest, StringsAreEscaped) {
  EXPECT_EQ(JsonString("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
}

}  // namespace
}  // namespace framepair::cli
