// Bad input through the real `framepair` binary: every case must end with exit code 2 and a
// message that names the offending file and the problem — never a crash, a hang, or a
// partial shard — and a previous complete dataset in the output directory must survive.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/footage.h"
#include "support/process.h"

namespace framepair::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr int kBadInput = 2;

// The ffmpeg commands that make the videos the cases read, into "{dir}". They are made once
// per machine and shared by every test process (ctest runs each case as its own process):
// footage::CachedFfmpegOutputs, keyed by these very commands.
std::vector<std::vector<std::string>> InputCommands() {
  return {
      // A good pair: the same moving test pattern rendered at 640x384 (lossless) and at 160x96.
      {"-f", "lavfi", "-i", "testsrc2=size=640x384:rate=30", "-frames:v", "90", "-c:v", "ffv1",
       "{dir}/hr.mkv"},
      {"-i", "{dir}/hr.mkv", "-vf", "scale=160:96:flags=area", "-c:v", "libx264", "-crf", "18",
       "-pix_fmt", "yuv420p", "{dir}/lr.mp4"},
      // Unrelated content at the right size.
      {"-f", "lavfi", "-i", "mandelbrot=size=640x384:rate=30", "-frames:v", "90", "-c:v", "ffv1",
       "{dir}/unrelated_hr.mkv"},
      // HR at the wrong size (3x).
      {"-i", "{dir}/hr.mkv", "-vf", "scale=480:288", "-c:v", "ffv1", "{dir}/hr_3x.mkv"},
      // Too short for one window: 6 frames.
      {"-i", "{dir}/hr.mkv", "-frames:v", "6", "-c:v", "ffv1", "{dir}/short_hr.mkv"},
      {"-i", "{dir}/lr.mp4", "-frames:v", "6", "-c:v", "ffv1", "{dir}/short_lr.mkv"},
      // Odd dimensions, HR not divisible by 4 (for --hr-only).
      {"-f", "lavfi", "-i", "testsrc2=size=642x362:rate=30", "-frames:v", "30", "-c:v", "ffv1",
       "{dir}/odd_hr.mkv"},
      {"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "{dir}/audio.m4a"},
      // What the playlists below point at, in another directory than theirs.
      {"-i", "{dir}/lr.mp4", "-c", "copy", "-f", "mpegts", "{dir}/elsewhere/private.ts"},
      // A 12-Mpixel frame in a few KB.
      {"-f", "lavfi", "-i", "color=c=black:s=4000x3000", "-frames:v", "1", "-c:v", "libx264",
       "-preset", "ultrafast", "{dir}/huge.mkv"},
  };
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::string> inputs = footage::CachedFfmpegOutputs("bad-input", InputCommands());
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    inputs_ = new fs::path(*inputs);
    // Outputs, and inputs that take no encoding, are this process's own.
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("framepair-bad-input-" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    std::ofstream(Path("text.mp4")) << "this is not a video\n";
    std::ofstream(Path("empty.mp4"));
    std::string lr = Slurp(Input("lr.mp4"));
    std::ofstream(Path("truncated.mp4"), std::ios::binary) << lr.substr(0, lr.size() / 3);
    std::ofstream(Path("a_file"));
    // Hostile uploads: playlists (no extension) that point at a real video in another
    // directory, one of them live (no end, a day per segment).
    const std::string hls = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n";
    std::ofstream(Path("playlist")) << hls << "#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n"
                                    << Input("elsewhere/private.ts") << "\n#EXT-X-ENDLIST\n";
    std::ofstream(Path("live")) << hls << "#EXT-X-TARGETDURATION:86400\n#EXTINF:86400.0,\n"
                                << Input("elsewhere/private.ts") << "\n";
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete inputs_;
  }

  // A file of this process's directory; Input: a shared video (read, never change).
  static std::string Path(const std::string& name) { return (*dir_ / name).string(); }
  static std::string Input(const std::string& name) { return (*inputs_ / name).string(); }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static ProcessResult Framepair(std::vector<std::string> args) {
    args.insert(args.begin(), BuiltBinary("client/framepair"));
    return RunProcess(args, 120);
  }
  static ProcessResult Run(const std::string& lr, const std::string& hr, const std::string& out,
                           std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", "--quiet", "--lr", lr,          "--hr",
                                     hr,    "--out",   out,    "--windows", "5"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Framepair(args);
  }
  // No shard files and no staging leftovers in `out`.
  static void ExpectNoPartialOutput(const std::string& out) {
    if (!fs::exists(out)) return;
    for (const auto& e : fs::recursive_directory_iterator(out)) {
      EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr("tfrecord"))) << e.path();
      EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr("staging"))) << e.path();
    }
  }
  void ExpectBadInput(const ProcessResult& r, const std::string& names,
                      const std::string& problem) {
    EXPECT_EQ(r.signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, kBadInput) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(names));
    EXPECT_THAT(r.err, HasSubstr(problem));
  }

  static fs::path* dir_;
  static fs::path* inputs_;
};
fs::path* BadInputTest::dir_ = nullptr;
fs::path* BadInputTest::inputs_ = nullptr;

TEST_F(BadInputTest, GoodPairWorks) {
  ProcessResult r = Run(Input("lr.mp4"), Input("hr.mkv"), Path("out_good"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Framepair({"verify", Path("out_good")}).exit_code, 0);
}

TEST_F(BadInputTest, NotAVideo) {
  ExpectBadInput(Run(Path("text.mp4"), Input("hr.mkv"), Path("out1")), "text.mp4", "");
  ExpectNoPartialOutput(Path("out1"));
}

TEST_F(BadInputTest, ZeroBytes) {
  ExpectBadInput(Run(Path("empty.mp4"), Input("hr.mkv"), Path("out2")), "empty.mp4", "");
  ExpectNoPartialOutput(Path("out2"));
}

TEST_F(BadInputTest, AudioOnly) {
  ExpectBadInput(Run(Input("lr.mp4"), Input("audio.m4a"), Path("out3")), "audio.m4a", "video");
  ExpectNoPartialOutput(Path("out3"));
}

TEST_F(BadInputTest, Missing) {
  ExpectBadInput(Run(Path("nope.mp4"), Input("hr.mkv"), Path("out4")), "nope.mp4", "");
  ExpectNoPartialOutput(Path("out4"));
}

TEST_F(BadInputTest, Truncated) {
  // The mp4 index (moov) sits at the end, so a truncated file cannot be read at all.
  ProcessResult r = Run(Path("truncated.mp4"), Input("hr.mkv"), Path("out5"));
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, kBadInput) << r.err;
  EXPECT_THAT(r.err, HasSubstr("truncated.mp4"));
  ExpectNoPartialOutput(Path("out5"));
}

TEST_F(BadInputTest, PlaylistIsRefused) {
  ExpectBadInput(Run(Path("playlist"), Input("hr.mkv"), Path("out_hls")), "playlist", "'hls'");
  ExpectNoPartialOutput(Path("out_hls"));
}

TEST_F(BadInputTest, LivePlaylistIsRefusedWithoutWaiting) {
  // A hang would end in RunProcess's timeout and a signal, not exit code 2.
  ExpectBadInput(Run(Input("lr.mp4"), Path("live"), Path("out_live")), "live", "'hls'");
  ExpectNoPartialOutput(Path("out_live"));
}

TEST_F(BadInputTest, FrameLargerThanMaxFramePixels) {
  ExpectBadInput(Run(Input("lr.mp4"), Input("huge.mkv"), Path("out_huge")), "huge.mkv",
                 "--max-frame-pixels");
  // 160x96 LR passes, 640x384 HR does not.
  ExpectBadInput(
      Run(Input("lr.mp4"), Input("hr.mkv"), Path("out_small"), {"--max-frame-pixels", "20000"}),
      "hr.mkv", "--max-frame-pixels");
  ExpectBadInput(
      Run(Input("lr.mp4"), Input("hr.mkv"), Path("out_zero"), {"--max-frame-pixels", "0"}),
      "--max-frame-pixels", ">= 1");
  ExpectNoPartialOutput(Path("out_huge"));
  ExpectNoPartialOutput(Path("out_small"));
}

TEST_F(BadInputTest, HrNotScaleTimesLr) {
  ExpectBadInput(Run(Input("lr.mp4"), Input("hr_3x.mkv"), Path("out6")), "hr_3x.mkv",
                 "must be exactly");
  ExpectNoPartialOutput(Path("out6"));
}

TEST_F(BadInputTest, UnrelatedRecordings) {
  ExpectBadInput(Run(Input("lr.mp4"), Input("unrelated_hr.mkv"), Path("out7")), "unrelated_hr.mkv",
                 "unrelated");
  ExpectNoPartialOutput(Path("out7"));
}

TEST_F(BadInputTest, TooShortForOneWindow) {
  ExpectBadInput(Run(Input("short_lr.mkv"), Input("short_hr.mkv"), Path("out8")), "short_",
                 "window");
  ExpectNoPartialOutput(Path("out8"));
}

TEST_F(BadInputTest, OddDimensionsNotDivisibleByScale) {
  ProcessResult r = Framepair({"run", "--quiet", "--hr-only", "--hr", Input("odd_hr.mkv"), "--out",
                               Path("out9"), "--windows", "2"});
  ExpectBadInput(r, "odd_hr.mkv", "divisible");
  ExpectNoPartialOutput(Path("out9"));
}

TEST_F(BadInputTest, UnwritableOutputDirectory) {
  // A path under a regular file can never be created, even as root.
  ExpectBadInput(Run(Input("lr.mp4"), Input("hr.mkv"), Path("a_file") + "/out"), "a_file", "");
}

TEST_F(BadInputTest, PreviousCompleteRunSurvivesAFailedRun) {
  const std::string out = Path("out_keep");
  ASSERT_EQ(Run(Input("lr.mp4"), Input("hr.mkv"), out).exit_code, 0);
  const std::string manifest = Slurp(out + "/manifest.json");
  const std::string shard = Slurp(out + "/train_00000-of-00001.tfrecord");
  ProcessResult bad = Run(Input("lr.mp4"), Input("unrelated_hr.mkv"), out);
  EXPECT_EQ(bad.exit_code, kBadInput);
  EXPECT_EQ(Slurp(out + "/manifest.json"), manifest);
  EXPECT_EQ(Slurp(out + "/train_00000-of-00001.tfrecord"), shard);
  EXPECT_EQ(Framepair({"verify", out}).exit_code, 0);
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr("staging")));
  }
}

TEST_F(BadInputTest, IgnoreRegions) {
  // Malformed values are usage errors naming the flag; a region outside the LR frame (the
  // pair is 160x96) names the flag and the frame size; a good one runs.
  for (const char* bad : {"1,2,3", "1,2,0,4", "-1,2,3,4", "a,2,3,4", "1,2,3,4,5"}) {
    ProcessResult r =
        Run(Input("lr.mp4"), Input("hr.mkv"), Path("out_region"), {"--ignore-region", bad});
    EXPECT_EQ(r.exit_code, kBadInput) << bad;
    EXPECT_THAT(r.err, HasSubstr("--ignore-region")) << bad;
  }
  ExpectBadInput(
      Run(Input("lr.mp4"), Input("hr.mkv"), Path("out_region"), {"--ignore-region", "150,0,20,10"}),
      "--ignore-region", "160x96");
  ProcessResult good = Run(Input("lr.mp4"), Input("hr.mkv"), Path("out_region_good"),
                           {"--ignore-region", "0,0,40,12", "--ignore-region", "150,80,10,16"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
}

TEST_F(BadInputTest, UsageErrors) {
  EXPECT_EQ(Framepair({"run", "--lr", Input("lr.mp4")}).exit_code, kBadInput);
  EXPECT_EQ(Framepair({"run", "--bogus"}).exit_code, kBadInput);
  EXPECT_EQ(Framepair({"frobnicate"}).exit_code, kBadInput);
  ProcessResult help = Framepair({"run", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--max-frame-pixels"));
  ProcessResult r = Framepair({"verify", Path("does-not-exist")});
  EXPECT_EQ(r.exit_code, kBadInput);
  EXPECT_THAT(r.err, HasSubstr("does-not-exist"));
}

TEST_F(BadInputTest, ManifestNamingFilesOutsideTheDirectoryIsRefused) {
  const std::string absolute_victim = Path("absolute_victim.txt");
  for (const std::string& name :
       {std::string("../victim.txt"), absolute_victim, std::string("a/b.tfrecord")}) {
    const std::string out = Path("out_hostile");
    fs::remove_all(out);
    fs::create_directories(out + "/a");
    for (const std::string& victim : {Path("victim.txt"), absolute_victim, out + "/a/b.tfrecord"}) {
      std::ofstream(victim) << "keep me";
    }
    std::ofstream(out + "/manifest.json")
        << R"({"shards": [{"file": ")" << name << R"(", "examples": 1, "bytes": 7}]})";
    ExpectBadInput(Run(Input("lr.mp4"), Input("hr.mkv"), out), "manifest.json", "not a shard file");
    ExpectBadInput(Framepair({"verify", out}), "manifest.json", "not a shard file");
    for (const std::string& victim : {Path("victim.txt"), absolute_victim, out + "/a/b.tfrecord"}) {
      EXPECT_EQ(Slurp(victim), "keep me") << name << ": " << victim;
    }
    EXPECT_TRUE(fs::exists(out + "/manifest.json"));
  }
}

}  // namespace
}  // namespace framepair::testing
