#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "media/decode_plan.h"
#include "media/video.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

// Clips are generated with the ffmpeg CLI once per test binary, into one temp directory.
class Clips {
 public:
  static Clips& Get() {
    static Clips* clips = new Clips();
    return *clips;
  }
  const std::string& dir() const { return dir_; }

  // Runs `ffmpeg <args> <dir>/<name>` unless the file exists; returns the path.
  std::string Make(const std::string& name, const std::string& args) {
    std::string path = dir_ + "/" + name;
    if (!fs::exists(path)) {
      std::string cmd =
          absl::StrCat("ffmpeg -v error -nostdin -y ", args, " '", path, "' > /dev/null 2>&1");
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    return path;
  }

 private:
  Clips() {
    std::string tmpl = ::testing::TempDir() + "/media_test_XXXXXX";
    char* d = mkdtemp(tmpl.data());
    dir_ = d != nullptr ? d : ::testing::TempDir();
    std::atexit([] { fs::remove_all(Get().dir_); });
  }
  std::string dir_;
};

struct ClipSpec {
  std::string name;  // output file (or "<dir>/%05d.png" pattern)
  std::string args;  // ffmpeg input and encoder arguments
  int frames;        // frames encoded
  int width;
  int height;
};

std::ostream& operator<<(std::ostream& os, const ClipSpec& c) { return os << c.name; }

const char kTestSrc[] = "-f lavfi -i testsrc2=size=160x96:rate=30 ";

std::vector<ClipSpec> AllClips() {
  return {
      {"h264_bframes.mp4",
       absl::StrCat(kTestSrc, "-frames:v 90 -c:v libx264 -g 12 -bf 2 -pix_fmt yuv420p"), 90, 160,
       96},
      {"h264_opengop.mkv",
       absl::StrCat(kTestSrc,
                    "-frames:v 60 -c:v libx264 -bf 3 -pix_fmt yuv420p "
                    "-x264-params keyint=12:min-keyint=12:open-gop=1"),
       60, 160, 96},
      {"hevc.mkv",
       absl::StrCat(kTestSrc,
                    "-frames:v 48 -c:v libx265 -pix_fmt yuv420p "
                    "-x265-params keyint=12:min-keyint=12:log-level=error"),
       48, 160, 96},
      {"vp9.webm",
       absl::StrCat(kTestSrc,
                    "-frames:v 48 -c:v libvpx-vp9 -g 12 -deadline realtime -cpu-used 8 "
                    "-b:v 300k"),
       48, 160, 96},
      {"ffv1_10bit.mkv", absl::StrCat(kTestSrc, "-frames:v 30 -c:v ffv1 -g 8 -pix_fmt yuv420p10le"),
       30, 160, 96},
      {"utvideo_rgb.avi", absl::StrCat(kTestSrc, "-frames:v 30 -c:v utvideo -pix_fmt gbrp"), 30,
       160, 96},
      {"png/%05d.png", absl::StrCat(kTestSrc, "-frames:v 24"), 24, 160, 96},
  };
}

std::string MakeClip(const ClipSpec& spec) {
  if (spec.name.find('/') != std::string::npos) {
    fs::create_directories(Clips::Get().dir() + "/" + spec.name.substr(0, spec.name.find('/')));
  }
  return Clips::Get().Make(spec.name, spec.args);
}

struct Straight {
  std::vector<RgbImage> rgb;
  std::vector<FramePosition> positions;
  DecodeCounters counters;
};

Straight DecodeStraight(const std::string& path) {
  Straight s;
  auto decoder = VideoDecoder::Open(path);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  if (!decoder.ok()) return s;
  RgbConverter converter;
  while (true) {
    auto frame = (*decoder)->Next();
    EXPECT_TRUE(frame.ok()) << frame.status();
    if (!frame.ok() || *frame == nullptr) break;
    EXPECT_EQ((*frame)->index, static_cast<int64_t>(s.rgb.size()));
    s.positions.push_back({(*frame)->pts, (*frame)->keyframe});
    RgbImage rgb;
    EXPECT_TRUE(converter.ToRgb((*frame)->frame, &rgb).ok());
    s.rgb.push_back(std::move(rgb));
  }
  s.counters = (*decoder)->counters();
  return s;
}

class CodecTest : public ::testing::TestWithParam<ClipSpec> {};

TEST_P(CodecTest, ProbeReportsSize) {
  const std::string path = MakeClip(GetParam());
  auto info = ProbeVideo(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->width, GetParam().width);
  EXPECT_EQ(info->height, GetParam().height);
  EXPECT_EQ(info->path, path);
  EXPECT_FALSE(info->codec.empty());
  EXPECT_GT(info->fps, 0);
}

TEST_P(CodecTest, StraightDecodeCountsEveryEncodedFrame) {
  Straight s = DecodeStraight(MakeClip(GetParam()));
  EXPECT_EQ(static_cast<int>(s.rgb.size()), GetParam().frames);
  EXPECT_EQ(s.counters.corrupt_frames, 0);
  EXPECT_EQ(s.counters.seeks, 0);
  std::set<int64_t> pts;
  for (const FramePosition& p : s.positions) pts.insert(p.pts);
  EXPECT_EQ(pts.size(), s.positions.size()) << "pts must identify frames";
  ASSERT_FALSE(s.positions.empty());
  EXPECT_TRUE(s.positions[0].keyframe);
  // Every clip has a keyframe at least every 12 frames; random access relies on seeing them.
  const auto keyframes = std::count_if(s.positions.begin(), s.positions.end(),
                                       [](const FramePosition& p) { return p.keyframe; });
  EXPECT_GE(keyframes, GetParam().frames / 12);
  // Distinct content per frame, so a wrong frame cannot pass the comparisons below.
  for (size_t i = 1; i < s.rgb.size(); ++i) EXPECT_NE(s.rgb[i], s.rgb[i - 1]) << i;
}

// The key property: random access returns exactly the frames of a straight decode.
TEST_P(CodecTest, DecodeAtRandomOrderMatchesStraightDecode) {
  const std::string path = MakeClip(GetParam());
  Straight s = DecodeStraight(path);
  ASSERT_EQ(static_cast<int>(s.rgb.size()), GetParam().frames);
  const int n = GetParam().frames;
  std::vector<int64_t> order;
  for (int i = 0; i < n; ++i) order.push_back(i);
  std::mt19937 rng(1234);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(std::min(n, 20));
  order.push_back(n - 1);
  order.push_back(0);
  order.push_back(0);  // repeat: served from the current frame

  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  RgbConverter converter;
  for (int64_t index : order) {
    auto frame = (*decoder)->DecodeAt(index, s.positions);
    ASSERT_TRUE(frame.ok()) << frame.status();
    ASSERT_NE(*frame, nullptr);
    EXPECT_EQ((*frame)->index, index);
    EXPECT_EQ((*frame)->pts, s.positions[index].pts);
    RgbImage rgb;
    ASSERT_TRUE(converter.ToRgb((*frame)->frame, &rgb).ok());
    EXPECT_TRUE(rgb == s.rgb[index]) << "frame " << index << " differs from straight decode";
  }
  const DecodeCounters& c = (*decoder)->counters();
  EXPECT_GT(c.seeks, 0);
  EXPECT_EQ(c.reopens, 0) << "seeking failed and fell back to decoding from the start";
}

TEST_P(CodecTest, DecodeAtSortedDecodesEachFrameAtMostOnce) {
  const std::string path = MakeClip(GetParam());
  Straight s = DecodeStraight(path);
  const int n = GetParam().frames;
  ASSERT_EQ(static_cast<int>(s.rgb.size()), n);
  // Sparse windows: runs of 3 frames every 10, as the packer asks for them.
  std::vector<int64_t> wanted;
  for (int start = 1; start + 3 <= n; start += 10) {
    for (int k = 0; k < 3; ++k) wanted.push_back(start + k);
  }
  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  RgbConverter converter;
  for (int64_t index : wanted) {
    auto frame = (*decoder)->DecodeAt(index, s.positions);
    ASSERT_TRUE(frame.ok()) << frame.status();
    RgbImage rgb;
    ASSERT_TRUE(converter.ToRgb((*frame)->frame, &rgb).ok());
    EXPECT_TRUE(rgb == s.rgb[index]) << "frame " << index;
  }
  const DecodeCounters& c = (*decoder)->counters();
  EXPECT_LE(c.frames_decoded, n) << "a frame was decoded twice";
  EXPECT_LT(c.seeks, static_cast<int64_t>(wanted.size()));
  EXPECT_EQ(c.reopens, 0);
}

// The packer's walk: sparse windows in plan order. The decoder produces no frame twice (no more
// frames than the plan's minimum), and each frame equals what a fresh decoder seeking to it
// alone returns.
TEST_P(CodecTest, PlannedDecodeReachesTheMinimumAndMatchesIndependentSeeks) {
  const std::string path = MakeClip(GetParam());
  Straight s = DecodeStraight(path);
  const int n = GetParam().frames;
  ASSERT_EQ(static_cast<int>(s.rgb.size()), n);
  std::vector<int64_t> wanted;
  for (int start = n - 4; start >= 2; start -= 9) {  // unsorted, with repeats
    for (int k = 0; k < 3; ++k) wanted.push_back(start + k);
    wanted.push_back(start);
  }
  const DecodePlan plan = PlanDecode(wanted, s.positions);
  ASSERT_TRUE(std::is_sorted(plan.frames.begin(), plan.frames.end()));
  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  RgbConverter converter;
  for (int64_t index : plan.frames) {
    auto frame = (*decoder)->DecodeAt(index, s.positions);
    ASSERT_TRUE(frame.ok()) << frame.status();
    RgbImage planned;
    ASSERT_TRUE(converter.ToRgb((*frame)->frame, &planned).ok());
    auto alone = VideoDecoder::Open(path);
    ASSERT_TRUE(alone.ok());
    auto single = (*alone)->DecodeAt(index, s.positions);
    ASSERT_TRUE(single.ok()) << single.status();
    RgbImage independent;
    ASSERT_TRUE(converter.ToRgb((*single)->frame, &independent).ok());
    EXPECT_TRUE(planned == independent) << "frame " << index;
    EXPECT_TRUE(planned == s.rgb[index]) << "frame " << index;
  }
  const DecodeCounters& c = (*decoder)->counters();
  EXPECT_LE(c.frames_decoded, plan.minimum_decodes) << "a frame was decoded twice";
  EXPECT_EQ(c.seeks, plan.seeks);
  EXPECT_EQ(c.reopens, 0);
}

TEST(DecodePlan, MinimumIsTheUnionOfKeyframeRuns) {
  // Keyframes at 0, 10, 20, 30 in a 40-frame table.
  std::vector<FramePosition> positions(40);
  for (size_t i = 0; i < positions.size(); ++i)
    positions[i] = {static_cast<int64_t>(i), i % 10 == 0};
  EXPECT_EQ(KeyframeAtOrBefore(positions, 0), 0);
  EXPECT_EQ(KeyframeAtOrBefore(positions, 19), 10);
  EXPECT_EQ(KeyframeAtOrBefore(positions, 20), 20);
  // 3: run 0..3 (4). 5, 5: 4..5 (2). 12: seek to 10, 10..12 (3). 13: 1. 25: seek, 20..25 (6).
  // 29: 26..29 (4). 30: its keyframe is the next frame anyway, so no seek (1).
  const DecodePlan plan = PlanDecode({25, 5, 3, 13, 12, 5, 30, 29}, positions);
  EXPECT_EQ(plan.frames, (std::vector<int64_t>{3, 5, 12, 13, 25, 29, 30}));
  EXPECT_EQ(plan.minimum_decodes, 4 + 2 + 3 + 1 + 6 + 4 + 1);
  EXPECT_EQ(plan.seeks, 2);
  EXPECT_EQ(PlanDecode({}, positions).minimum_decodes, 0);
  EXPECT_EQ(PlanDecode({39}, positions).seeks, 1);
  EXPECT_EQ(PlanDecode({39}, positions).minimum_decodes, 10);
}

TEST_P(CodecTest, DecodeAtSequentialNeverSeeks) {
  const std::string path = MakeClip(GetParam());
  Straight s = DecodeStraight(path);
  const int n = GetParam().frames;
  ASSERT_EQ(static_cast<int>(s.rgb.size()), n);
  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  for (int i = 0; i < n; ++i) {
    auto frame = (*decoder)->DecodeAt(i, s.positions);
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ((*frame)->index, i);
  }
  EXPECT_EQ((*decoder)->counters().seeks, 0);
  EXPECT_EQ((*decoder)->counters().frames_decoded, n);
}

TEST_P(CodecTest, LumaIsFullSizeAndFollowsContent) {
  auto decoder = VideoDecoder::Open(MakeClip(GetParam()));
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  auto frame = (*decoder)->Next();
  ASSERT_TRUE(frame.ok() && *frame != nullptr);
  PlaneView luma = (*frame)->Luma();
  ASSERT_NE(luma.data, nullptr);
  EXPECT_EQ(luma.width, GetParam().width);
  EXPECT_EQ(luma.height, GetParam().height);
  EXPECT_GE(luma.stride, luma.width);
  // testsrc2 has bright and dark areas; a wrong plane or an unconverted format would not.
  int lo = 255, hi = 0;
  for (int y = 0; y < luma.height; ++y) {
    for (int x = 0; x < luma.width; ++x) {
      lo = std::min<int>(lo, luma.data[y * luma.stride + x]);
      hi = std::max<int>(hi, luma.data[y * luma.stride + x]);
    }
  }
  EXPECT_LT(lo, 40);
  EXPECT_GT(hi, 200);
}

INSTANTIATE_TEST_SUITE_P(Codecs, CodecTest, ::testing::ValuesIn(AllClips()),
                         [](const ::testing::TestParamInfo<ClipSpec>& info) {
                           std::string name = info.param.name;
                           name = name.substr(0, name.find_first_of("./"));
                           return name;
                         });

TEST(ImageSequence, DirectoryOfPngsEqualsPattern) {
  const ClipSpec png = AllClips().back();
  const std::string pattern = MakeClip(png);
  Straight a = DecodeStraight(pattern);
  Straight b = DecodeStraight(Clips::Get().dir() + "/png");
  ASSERT_EQ(static_cast<int>(a.rgb.size()), png.frames);
  ASSERT_EQ(a.rgb.size(), b.rgb.size());
  for (size_t i = 0; i < a.rgb.size(); ++i) EXPECT_TRUE(a.rgb[i] == b.rgb[i]) << i;
  auto info = ProbeVideo(pattern);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->container, "image2");
  EXPECT_EQ(info->color_matrix, "rgb");
}

// A known solid colour, encoded with each matrix and range, must come back within +-3.
struct ColorCase {
  std::string matrix;  // scale filter name
  std::string space;   // stream tag
  std::string range;   // "full" / "limited"
};

std::ostream& operator<<(std::ostream& os, const ColorCase& c) {
  return os << c.matrix << "/" << c.range;
}

class ColorTest : public ::testing::TestWithParam<ColorCase> {};

TEST_P(ColorTest, SolidColourRoundTrips) {
  const ColorCase& c = GetParam();
  const std::string name = absl::StrCat("colour_", c.matrix, "_", c.range, ".mp4");
  const std::string path = Clips::Get().Make(
      name,
      absl::StrCat("-f lavfi -i color=c=0x3080C0:size=64x48:rate=10,format=rgb24 "
                   "-frames:v 2 -vf scale=out_color_matrix=",
                   c.matrix, ":out_range=", c.range, ",format=yuv420p -colorspace ", c.space,
                   " -color_range ", c.range == "full" ? "pc" : "tv", " -c:v libx264 -crf 10"));
  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  EXPECT_EQ((*decoder)->info().color_matrix, c.matrix);
  EXPECT_EQ((*decoder)->info().full_range, c.range == "full");
  auto frame = (*decoder)->Next();
  ASSERT_TRUE(frame.ok() && *frame != nullptr);
  RgbConverter converter;
  RgbImage rgb;
  ASSERT_TRUE(converter.ToRgb((*frame)->frame, &rgb).ok());
  ASSERT_EQ(rgb.width, 64);
  ASSERT_EQ(rgb.height, 48);
  const int expected[3] = {0x30, 0x80, 0xC0};
  for (int y = 0; y < rgb.height; y += 7) {
    for (int x = 0; x < rgb.width; x += 5) {
      for (int ch = 0; ch < 3; ++ch) {
        EXPECT_NEAR(rgb.row(y)[3 * x + ch], expected[ch], 3)
            << "pixel " << x << "," << y << " channel " << ch;
      }
    }
  }
  RgbImage thumb;
  ASSERT_TRUE(converter.Thumbnail((*frame)->frame, 16, 12, &thumb).ok());
  ASSERT_EQ(thumb.pixels.size(), 16u * 12u * 3u);
  for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(thumb.row(5)[3 * 7 + ch], expected[ch], 3);
}

INSTANTIATE_TEST_SUITE_P(Matrices, ColorTest,
                         ::testing::Values(ColorCase{"bt709", "bt709", "full"},
                                           ColorCase{"bt709", "bt709", "limited"},
                                           ColorCase{"bt601", "smpte170m", "full"},
                                           ColorCase{"bt601", "smpte170m", "limited"}),
                         [](const ::testing::TestParamInfo<ColorCase>& info) {
                           return info.param.matrix + "_" + info.param.range;
                         });

// Untagged streams are BT.601 at every size (what ffmpeg writes), so an untagged LR/HR pair is
// converted consistently and ffmpeg's own untagged encodes round-trip.
TEST(ColorDefaults, UntaggedIsBt601AtEverySize) {
  for (const char* size : {"64x48", "64x720"}) {
    const std::string path = Clips::Get().Make(
        absl::StrCat("untagged_", size, ".mp4"),
        absl::StrCat("-f lavfi -i color=c=0x3080C0:size=", size,
                     ":rate=10,format=rgb24 -frames:v 1 -pix_fmt yuv420p -c:v libx264 -crf 10"));
    auto decoder = VideoDecoder::Open(path);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    EXPECT_EQ((*decoder)->info().color_matrix, "bt601") << size;
    EXPECT_FALSE((*decoder)->info().full_range);
    auto frame = (*decoder)->Next();
    ASSERT_TRUE(frame.ok() && *frame != nullptr);
    RgbConverter converter;
    RgbImage rgb;
    ASSERT_TRUE(converter.ToRgb((*frame)->frame, &rgb).ok());
    const int expected[3] = {0x30, 0x80, 0xC0};
    for (int ch = 0; ch < 3; ++ch) {
      EXPECT_NEAR(rgb.row(rgb.height / 2)[3 * 32 + ch], expected[ch], 3) << size << " ch " << ch;
    }
  }
}

// --- errors ---------------------------------------------------------------------------

void ExpectErrorNamingPath(const std::string& path, absl::StatusCode code) {
  auto probe = ProbeVideo(path);
  ASSERT_FALSE(probe.ok()) << path;
  EXPECT_EQ(probe.status().code(), code) << probe.status();
  EXPECT_NE(probe.status().message().find(path), std::string::npos) << probe.status();
  auto decoder = VideoDecoder::Open(path);
  ASSERT_FALSE(decoder.ok());
  EXPECT_EQ(decoder.status().code(), code);
}

TEST(Errors, MissingFileIsNotFound) {
  ExpectErrorNamingPath(Clips::Get().dir() + "/does_not_exist.mp4", absl::StatusCode::kNotFound);
  ExpectErrorNamingPath(Clips::Get().dir() + "/nodir/%05d.png", absl::StatusCode::kNotFound);
}

TEST(Errors, ZeroByteFile) {
  const std::string path = Clips::Get().dir() + "/empty.mp4";
  std::ofstream(path).close();
  ExpectErrorNamingPath(path, absl::StatusCode::kInvalidArgument);
}

TEST(Errors, TextFile) {
  for (const char* name : {"notes.txt", "notes.mp4"}) {
    const std::string path = Clips::Get().dir() + "/" + name;
    std::ofstream(path) << "This is not a video.\nJust some text.\n";
    ExpectErrorNamingPath(path, absl::StatusCode::kInvalidArgument);
  }
}

TEST(Errors, AudioOnlyFile) {
  const std::string path =
      Clips::Get().Make("audio.m4a", "-f lavfi -i sine=frequency=440:duration=1 -c:a aac");
  ExpectErrorNamingPath(path, absl::StatusCode::kInvalidArgument);
  auto probe = ProbeVideo(path);
  EXPECT_NE(probe.status().message().find("audio"), std::string::npos) << probe.status();
}

TEST(Errors, DirectoryWithoutPngs) {
  const std::string dir = Clips::Get().dir() + "/nopng";
  fs::create_directories(dir);
  ExpectErrorNamingPath(dir, absl::StatusCode::kInvalidArgument);
}

TEST(Errors, TruncatedMp4) {
  // Without +faststart the index (moov) is at the end: cutting the file loses it.
  const std::string full = MakeClip(AllClips()[0]);
  const std::string path = Clips::Get().dir() + "/truncated.mp4";
  const auto size = fs::file_size(full);
  fs::copy_file(full, path, fs::copy_options::overwrite_existing);
  fs::resize_file(path, size / 2);
  ExpectErrorNamingPath(path, absl::StatusCode::kInvalidArgument);
}

TEST(Errors, TruncatedFaststartMp4DecodesWhatIsThere) {
  const std::string full = Clips::Get().Make(
      "faststart.mp4",
      absl::StrCat(kTestSrc, "-frames:v 60 -c:v libx264 -g 12 -movflags +faststart"));
  const std::string path = Clips::Get().dir() + "/faststart_cut.mp4";
  const auto size = fs::file_size(full);
  fs::copy_file(full, path, fs::copy_options::overwrite_existing);
  fs::resize_file(path, size * 6 / 10);
  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  int frames = 0;
  while (true) {
    auto frame = (*decoder)->Next();
    if (!frame.ok()) {
      EXPECT_NE(frame.status().message().find(path), std::string::npos);
      break;
    }
    if (*frame == nullptr) break;
    ++frames;
  }
  EXPECT_GT(frames, 0);
  EXPECT_LT(frames, 60);
}

TEST(Errors, DecodeAtOutsideTable) {
  const std::string path = MakeClip(AllClips()[0]);
  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok());
  std::vector<FramePosition> positions(3);
  auto frame = (*decoder)->DecodeAt(5, positions);
  ASSERT_FALSE(frame.ok());
  EXPECT_NE(frame.status().message().find(path), std::string::npos);
}

// --- hostile inputs (uploads) ----------------------------------------------------------
// Files built to make FFmpeg read other files, wait forever, decode forever or allocate huge
// frames. Each must be refused quickly with an error naming the file.

std::string WriteText(const std::string& relative, const std::string& text) {
  const std::string path = Clips::Get().dir() + "/" + relative;
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// A real video in a directory of its own: what a hostile list tries to make us read.
std::string SecretVideo(const std::string& name) {
  fs::create_directories(Clips::Get().dir() + "/elsewhere");
  return Clips::Get().Make("elsewhere/" + name,
                           absl::StrCat(kTestSrc, "-frames:v 30 -c:v libx264 -g 10"));
}

// Opens `path` on another thread so that a decoder stuck inside FFmpeg fails the test
// instead of hanging it (the stuck thread is abandoned).
absl::StatusOr<VideoInfo> OpenWithin(const std::string& path, const DecoderOptions& options,
                                     std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto task = std::make_shared<std::packaged_task<absl::StatusOr<VideoInfo>()>>(
      [path, options]() -> absl::StatusOr<VideoInfo> {
        auto decoder = VideoDecoder::Open(path, options);
        if (!decoder.ok()) return decoder.status();
        while (true) {  // decode everything it offers
          auto frame = (*decoder)->Next();
          if (!frame.ok()) return frame.status();
          if (*frame == nullptr) return (*decoder)->info();
        }
      });
  std::future<absl::StatusOr<VideoInfo>> result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    return absl::DeadlineExceededError(
        absl::StrCat(path, ": still inside FFmpeg after ", limit.count(), " s"));
  }
  return result.get();
}

void ExpectRefused(const std::string& path, const std::string& problem,
                   const DecoderOptions& options = {}) {
  absl::StatusOr<VideoInfo> opened = OpenWithin(path, options);
  ASSERT_FALSE(opened.ok()) << path << " was accepted as " << opened->container << ", "
                            << opened->width << "x" << opened->height;
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << opened.status();
  EXPECT_NE(opened.status().message().find(path), std::string::npos) << opened.status();
  EXPECT_NE(opened.status().message().find(problem), std::string::npos) << opened.status();
  auto probe = ProbeVideo(path, options);
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kInvalidArgument) << probe.status();
}

TEST(HostileInput, HlsPlaylistReferencingAnotherFileIsRefused) {
  const std::string secret = SecretVideo("secret.mp4");
  const std::string playlist = absl::StrCat(
      "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
      "#EXTINF:1.0,\n",
      secret, "\n#EXT-X-ENDLIST\n");
  for (const char* name : {"uploads/playlist", "uploads/playlist.mp4", "uploads/playlist.m3u8"}) {
    ExpectRefused(WriteText(name, playlist), "'hls'");
  }
}

TEST(HostileInput, LivePlaylistIsRefusedWithoutWaiting) {
  const std::string secret = SecretVideo("secret.mp4");
  // No EXT-X-ENDLIST and a day-long target duration: FFmpeg would wait for the next segment.
  const std::string path = WriteText(
      "uploads/live", absl::StrCat("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:86400\n"
                                   "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:86400.0,\n",
                                   secret, "\n"));
  ExpectRefused(path, "'hls'");
}

TEST(HostileInput, ConcatListIsRefused) {
  // Names in the list's own directory pass the concat demuxer's `safe` check; an absolute
  // name does not, but is refused by us first either way.
  const std::string secret = SecretVideo("secret.mp4");
  fs::create_directories(Clips::Get().dir() + "/uploads");
  fs::copy_file(secret, Clips::Get().dir() + "/uploads/other_upload",
                fs::copy_options::overwrite_existing);
  ExpectRefused(WriteText("uploads/list", "ffconcat version 1.0\nfile other_upload\n"), "'concat'");
  ExpectRefused(WriteText("uploads/list.mp4", absl::StrCat("ffconcat version 1.0\nfile ", secret,
                                                           "\nfile other_upload\n")),
                "'concat'");
}

TEST(HostileInput, ImagePatternOutsideItsDirectoryIsRefused) {
  // "inside/%d/../../outside/frame.png" expands to inside/0/../../outside/frame.png, ...:
  // the number would pick directories, and the frames would come from elsewhere.
  const std::string dir = Clips::Get().dir() + "/pattern";
  for (int i = 0; i < 5; ++i) fs::create_directories(absl::StrCat(dir, "/inside/", i));
  fs::create_directories(dir + "/outside");
  Clips::Get().Make("pattern/outside/frame.png", absl::StrCat(kTestSrc, "-frames:v 1"));
  ExpectRefused(dir + "/inside/%d/../../outside/frame.png", "file name");
}

TEST(HostileInput, SingleImageAndRawStreamAreRefused) {
  const std::string png =
      Clips::Get().Make("single.png", absl::StrCat(kTestSrc, "-frames:v 1 -f image2"));
  ExpectRefused(png, "not accepted");
  const std::string raw =
      Clips::Get().Make("raw.h264", absl::StrCat(kTestSrc, "-frames:v 5 -c:v libx264 -f h264"));
  ExpectRefused(raw, "not accepted");
}

TEST(HostileInput, AcceptedContainersStillOpen) {
  for (const auto& [name, args] : std::vector<std::pair<std::string, std::string>>{
           {"accepted.ts", "-c:v libx264 -f mpegts"},
           {"accepted.flv", "-c:v libx264 -f flv"},
           {"accepted.nut", "-c:v ffv1 -f nut"},
           {"accepted.y4m", "-pix_fmt yuv420p -f yuv4mpegpipe"},
           {"accepted.mov", "-c:v libx264"}}) {
    const std::string path = Clips::Get().Make(name, absl::StrCat(kTestSrc, "-frames:v 6 ", args));
    absl::StatusOr<VideoInfo> info = OpenWithin(path, {});
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->width, 160) << name;
  }
}

// --- frame size ---

TEST(FrameSize, HeaderLargerThanTheDefaultLimitIsRefused) {
  // 4000x3000 = 12 Mpixel, one black frame: a few KB of file.
  const std::string path =
      Clips::Get().Make("huge.mkv",
                        "-f lavfi -i color=c=black:s=4000x3000 -frames:v 1 -c:v libx264 -preset "
                        "ultrafast");
  ExpectRefused(path, "--max-frame-pixels");
  auto probe = ProbeVideo(path);
  EXPECT_NE(probe.status().message().find("4000x3000"), std::string::npos) << probe.status();
}

TEST(FrameSize, LimitBelowANormalVideoRefusesIt) {
  const std::string path = MakeClip(AllClips()[0]);  // 160x96
  DecoderOptions options;
  options.max_frame_pixels = 160 * 96 - 1;
  ExpectRefused(path, "--max-frame-pixels", options);
  options.max_frame_pixels = 160 * 96;
  EXPECT_TRUE(ProbeVideo(path, options).ok());
  // PNG sequences: the size comes from decoding the first image, not from a header, so the
  // probe cannot tell; the first frame is refused before it is allocated.
  options.max_frame_pixels = 160 * 96 - 1;
  const std::string pattern = MakeClip(AllClips().back());
  absl::StatusOr<VideoInfo> decoded = OpenWithin(pattern, options);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << decoded.status();
  EXPECT_NE(decoded.status().message().find("160x96"), std::string::npos) << decoded.status();
  EXPECT_NE(decoded.status().message().find("--max-frame-pixels"), std::string::npos)
      << decoded.status();
}

TEST(FrameSize, FourKUnderTheDefaultLimitIsAccepted) {
  const std::string path =
      Clips::Get().Make("uhd.mkv",
                        "-f lavfi -i color=c=black:s=3840x2160 -frames:v 1 -c:v libx264 -preset "
                        "ultrafast");
  auto probe = ProbeVideo(path);  // probes only; no 4K frames decoded by the test itself
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->width, 3840);
}

TEST(FrameSize, StreamGrowingMidwayIsRefusedAtTheLargeFrame) {
  // Two MPEG-TS segments concatenated: 160x96, then 320x192. The header says 160x96.
  const std::string small =
      Clips::Get().Make("grow_a.ts", absl::StrCat(kTestSrc, "-frames:v 10 -c:v libx264 -f mpegts"));
  const std::string big = Clips::Get().Make(
      "grow_b.ts", "-f lavfi -i testsrc2=size=320x192:rate=30 -frames:v 10 -c:v libx264 -f mpegts");
  const std::string path = Clips::Get().dir() + "/grow.ts";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::ifstream(small, std::ios::binary).rdbuf()
        << std::ifstream(big, std::ios::binary).rdbuf();
  }
  DecoderOptions options;
  options.max_frame_pixels = 160 * 96;
  auto decoder = VideoDecoder::Open(path, options);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  EXPECT_EQ((*decoder)->info().width, 160);
  absl::Status status;
  int frames = 0;
  while (status.ok()) {
    auto frame = (*decoder)->Next();
    if (!frame.ok()) status = frame.status();
    if (!frame.ok() || *frame == nullptr) break;
    ++frames;
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("320x192"), std::string::npos) << status;
  EXPECT_NE(status.message().find("--max-frame-pixels"), std::string::npos) << status;
  EXPECT_LE(frames, 10);
}

// --- decoding no more than the container promises ---

TEST(FrameCount, StreamFarLongerThanItsDurationIsStopped) {
  // 500 frames at 30 fps whose Matroska Duration claims half a second (15 frames).
  const std::string source =
      Clips::Get().Make("long.mkv",
                        "-f lavfi -i color=c=black:s=64x48:rate=30 -frames:v 500 -c:v libx264 "
                        "-preset ultrafast");
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string duration_id("\x44\x89\x88", 3);  // Duration, 8-byte float, milliseconds
  const size_t at = bytes.find(duration_id);
  ASSERT_NE(at, std::string::npos);
  const double half_second = 500.0;
  uint64_t bits = 0;
  std::memcpy(&bits, &half_second, sizeof(bits));
  for (int i = 0; i < 8; ++i) bytes[at + 3 + i] = static_cast<char>(bits >> (56 - 8 * i));
  const std::string path = WriteText("short_claim.mkv", bytes);

  auto decoder = VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  ASSERT_GT((*decoder)->info().frame_count_estimate, 0);
  ASSERT_LT((*decoder)->info().frame_count_estimate, 30);
  absl::Status status;
  int frames = 0;
  while (true) {
    auto frame = (*decoder)->Next();
    if (!frame.ok()) status = frame.status();
    if (!frame.ok() || *frame == nullptr) break;
    ++frames;
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(path), std::string::npos) << status;
  EXPECT_LT(frames, 500);
}

// --- cancel and deadline ---

TEST(Stop, CancelFlagInterruptsOpening) {
  std::atomic<bool> cancel{true};
  DecoderOptions options;
  options.cancel = &cancel;
  for (const std::string& path : {MakeClip(AllClips()[0]), MakeClip(AllClips().back())}) {
    auto decoder = VideoDecoder::Open(path, options);
    ASSERT_FALSE(decoder.ok()) << path;
    EXPECT_EQ(decoder.status().code(), absl::StatusCode::kCancelled) << decoder.status();
    EXPECT_NE(decoder.status().message().find(path), std::string::npos) << decoder.status();
  }
}

TEST(Stop, CancelDuringDecodeIsCancelled) {
  std::atomic<bool> cancel{false};
  DecoderOptions options;
  options.cancel = &cancel;
  const std::string path = MakeClip(AllClips()[0]);
  auto decoder = VideoDecoder::Open(path, options);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  ASSERT_TRUE((*decoder)->Next().ok());
  cancel = true;
  auto frame = (*decoder)->Next();
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kCancelled) << frame.status();
  Straight s = DecodeStraight(path);
  auto at = (*decoder)->DecodeAt(5, s.positions);
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.status().code(), absl::StatusCode::kCancelled) << at.status();
}

TEST(Stop, PastDeadlineIsDeadlineExceeded) {
  DecoderOptions options;
  options.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const std::string path = MakeClip(AllClips()[0]);
  auto decoder = VideoDecoder::Open(path, options);
  ASSERT_FALSE(decoder.ok());
  EXPECT_EQ(decoder.status().code(), absl::StatusCode::kDeadlineExceeded) << decoder.status();
}

}  // namespace
}  // namespace framepair
