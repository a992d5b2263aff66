#include "ingest/ingest.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

std::string Numbered(int n) {
  char name[32];
  std::snprintf(name, sizeof(name), "/%05d.png", n);
  return name;
}

class IngestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = ::testing::TempDir() + "/ingest_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = new std::string(tmpl);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }
  // Runs ffmpeg writing `name` in the temp dir, once.
  static std::string Ffmpeg(const std::string& name, const std::string& args) {
    const std::string path = Path(name);
    if (!fs::exists(path)) {
      const std::string cmd =
          absl::StrCat("ffmpeg -v error -nostdin -y ", args, " '", path, "' > /dev/null 2>&1");
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    return path;
  }

  // 30 distinct testsrc2 frames as PNGs, then a sequence that repeats some of them.
  // Returns the directory of the sequence; `dups` receives the indexes of the repeats.
  static std::string MakeSequenceWithDuplicates(std::set<int64_t>* dups) {
    const std::string src = Path("distinct");
    if (!fs::exists(src)) {
      fs::create_directories(src);
      Ffmpeg("distinct/%05d.png", "-f lavfi -i testsrc2=size=160x96:rate=30 -frames:v 30");
    }
    // Source frame per output frame: 2 twice, 5 three times, 9..10 each twice, 20 twice, and
    // the last one twice (a duplicate at the very end).
    const std::vector<int> order = {0,  1,  2,  2,  3,  4,  5,  5,  5,  6,  7,  8,  9,
                                    9,  10, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 29};
    const std::string seq = Path("dupseq");
    const bool exists = fs::exists(seq);
    fs::create_directories(seq);
    for (size_t i = 0; i < order.size(); ++i) {
      if (i > 0 && order[i] == order[i - 1]) dups->insert(static_cast<int64_t>(i));
      if (exists) continue;
      fs::copy_file(src + Numbered(order[i] + 1), seq + Numbered(static_cast<int>(i)));
    }
    return seq;
  }

  static std::set<int64_t> Duplicates(const FrameTable& t) {
    std::set<int64_t> out;
    for (const FrameRecord& f : t.frames) {
      if (f.dup != DupKind::kKept) out.insert(f.index);
    }
    return out;
  }

  static std::string* dir_;
};

std::string* IngestTest::dir_ = nullptr;

TEST_F(IngestTest, FindsExactlyTheInsertedDuplicates) {
  std::set<int64_t> expected;
  const std::string seq = MakeSequenceWithDuplicates(&expected);
  ASSERT_EQ(expected.size(), 7u);
  const std::string pattern = seq + "/%05d.png";
  const std::string ffv1 =
      Ffmpeg("dups_ffv1.mkv", absl::StrCat("-framerate 30 -i '", pattern, "' -c:v ffv1"));
  const std::string x264 = Ffmpeg(
      "dups_x264.mp4",
      absl::StrCat("-framerate 30 -i '", pattern, "' -c:v libx264 -crf 18 -pix_fmt yuv420p"));

  for (const std::string& path : {seq, ffv1, x264}) {
    SCOPED_TRACE(path);
    auto table = IngestVideo(path, IngestOptions{});
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(table->frames.size(), 37u);
    EXPECT_EQ(Duplicates(*table), expected);
    EXPECT_EQ(table->kept.size(), 30u);
    EXPECT_EQ(table->thumbs.size(), table->kept.size());
    EXPECT_EQ(table->thumbs.record_bytes(),
              static_cast<size_t>(table->thumb_width) * table->thumb_height * 3);
    EXPECT_TRUE(table->damaged.empty());
    for (size_t i = 0; i < table->frames.size(); ++i) {
      EXPECT_EQ(table->frames[i].index, static_cast<int64_t>(i));
    }
    if (path != x264) {
      // Lossless: repeats are bit-identical.
      EXPECT_EQ(table->exact_duplicates(), 7);
      EXPECT_EQ(table->noise_duplicates(), 0);
    }
  }
}

TEST_F(IngestTest, HashesIdentifyIdenticalContentAcrossContainers) {
  std::set<int64_t> expected;
  const std::string seq = MakeSequenceWithDuplicates(&expected);
  auto table = IngestVideo(seq, IngestOptions{});
  ASSERT_TRUE(table.ok()) << table.status();
  std::set<uint64_t> hashes;
  for (const FrameRecord& f : table->frames) hashes.insert(f.content_hash);
  EXPECT_EQ(hashes.size(), 30u);
  for (int64_t d : expected) {
    EXPECT_EQ(table->frames[d].content_hash, table->frames[d - 1].content_hash) << d;
  }
}

TEST_F(IngestTest, StaticNoisyImageThroughLossyCodecIsNoiseDuplicates) {
  const std::string path = Ffmpeg("static_noise.mp4",
                                  "-f lavfi -i testsrc2=size=160x96:rate=30 -vf "
                                  "trim=end_frame=1,loop=loop=59:size=1,noise=alls=6:allf=t+u "
                                  "-c:v libx264 -crf 23 -pix_fmt yuv420p");
  auto table = IngestVideo(path, IngestOptions{});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->frames.size(), 60u);
  EXPECT_EQ(table->frames[0].dup, DupKind::kKept);
  EXPECT_GE(table->noise_duplicates(), 50) << "kept " << table->kept.size();
  EXPECT_LE(table->kept.size(), 3u);
  // The same clip with dedup disabled keeps everything.
  IngestOptions no_dedup;
  no_dedup.dedup_enabled = false;
  auto all = IngestVideo(path, no_dedup);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->kept.size(), 60u);
}

TEST_F(IngestTest, SpriteMovingOnePixelThroughLossyCodecKeepsEveryMove) {
  // A white 8x8 sprite moves 1 px per frame over a static textured picture (testsrc2's first
  // frame), stopping for one or two frames now and then; libx264 crf 28 adds codec noise.
  // Its rows 36..43 straddle the 8-row tile grid the old detector used. Every move must be
  // kept and every stop removed: precision and recall of duplicate removal are 1. The stops
  // are found independently, as equal frame MD5s (ffmpeg's framemd5) of the lossless render.
  // (The overlay runs in 4:4:4: in 4:2:0 it rounds x to even, repeating frames itself.)
  std::string x = "30+n";
  for (int r : {5, 12, 13, 20, 31, 38}) x += absl::StrCat("-gte(n\\,", r, ")");
  const std::string lossless = Ffmpeg(
      "sprite_1px.mkv",
      absl::StrCat("-f lavfi -i testsrc2=size=320x192:rate=30 -f lavfi -i "
                   "color=c=white:s=8x8:r=30 -filter_complex "
                   "\"[0]trim=end_frame=1,loop=loop=39:size=1,setpts=N/30/TB,format=yuv444p[bg];"
                   "[1]format=yuv444p[fg];[bg][fg]overlay=x='",
                   x, "':y=36:eval=frame:format=yuv444:shortest=1,trim=end_frame=40\" ",
                   "-c:v ffv1"));
  const std::string path = Ffmpeg(
      "sprite_1px.mp4", absl::StrCat("-i '", lossless, "' -c:v libx264 -crf 28 -pix_fmt yuv420p"));
  std::set<int64_t> repeats;
  {
    const std::string cmd = absl::StrCat("ffmpeg -v error -nostdin -i '", lossless,
                                         "' -pix_fmt yuv420p -f framemd5 - 2>/dev/null");
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char line[512];
    std::string previous;
    int64_t frame = 0;
    while (std::fgets(line, sizeof(line), pipe) != nullptr) {
      if (line[0] == '#') continue;
      std::string md5 = line;
      md5 = md5.substr(md5.rfind(',') + 1);
      if (frame > 0 && md5 == previous) repeats.insert(frame);
      previous = md5;
      ++frame;
    }
    ASSERT_EQ(pclose(pipe), 0);
    ASSERT_EQ(frame, 40);
  }
  ASSERT_EQ(repeats.size(), 6u);
  auto table = IngestVideo(path, IngestOptions{});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->frames.size(), 40u);
  EXPECT_EQ(Duplicates(*table), repeats);
  EXPECT_EQ(table->kept.size(), 40u - repeats.size());
}

TEST_F(IngestTest, IgnoreRegionsMaskDecisionsAndThumbnails) {
  // A counter-like box flickers in the top-left corner on every frame of an otherwise static
  // picture: without an ignore region every frame is distinct; with it, all but the first
  // are duplicates, and the kept thumbnail is 0 where the region maps.
  const std::string path =
      Ffmpeg("flicker.mkv",
             "-f lavfi -i testsrc2=size=160x96:rate=30 -f lavfi -i color=c=white:s=16x8:r=30 "
             "-filter_complex \"[0]trim=end_frame=1,loop=loop=19:size=1,setpts=N/30/TB[bg];"
             "[bg][1]overlay=x=4:y=4:enable='eq(mod(n\\,2)\\,1)':shortest=1,trim=end_frame=20\" "
             "-c:v ffv1");
  auto all = IngestVideo(path, IngestOptions{});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->kept.size(), 20u);
  IngestOptions options;
  options.ignore_regions = {{4, 4, 16, 8}};
  auto masked = IngestVideo(path, options);
  ASSERT_TRUE(masked.ok()) << masked.status();
  EXPECT_EQ(masked->kept.size(), 1u);
  // 160x96 -> 64x38 thumbnail: the region covers thumbnail columns 1..7, rows 1..3.
  const uint8_t* thumb = masked->thumb(0);
  const int tw = masked->thumb_width;
  EXPECT_EQ(thumb[(2 * tw + 3) * 3], 0);
  EXPECT_NE(thumb[(20 * tw + 30) * 3] + thumb[(20 * tw + 30) * 3 + 1], 0);

  options.ignore_regions = {{150, 0, 11, 10}};
  auto outside = IngestVideo(path, options);
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(outside.status().message().find("--ignore-region 150,0,11,10"), std::string::npos)
      << outside.status();
  EXPECT_NE(outside.status().message().find("160x96"), std::string::npos) << outside.status();
}

TEST_F(IngestTest, ChromaOnlyMotionIsKept) {
  // A magenta box moving 2 px per frame over grey of nearly the same luma: luma alone sees
  // (almost) nothing, the analysis thumbnail sees the colour move. Every frame is distinct.
  const std::string path =
      Ffmpeg("chroma_motion.mp4",
             "-f lavfi -i color=c=0x808080:s=160x96:r=30 -f lavfi -i color=c=0xC864C8:s=16x12:r=30 "
             "-filter_complex \"[0][1]overlay=x=n*2+10:y=40,trim=end_frame=30\" "
             "-c:v libx264 -crf 18 -pix_fmt yuv420p");
  auto table = IngestVideo(path, IngestOptions{});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->frames.size(), 30u);
  EXPECT_EQ(table->kept.size(), 30u) << "noise duplicates " << table->noise_duplicates();
}

TEST_F(IngestTest, ThumbnailsOfDifferentResolutionsAgree) {
  const std::string hr =
      Ffmpeg("thumb_hr.mkv", "-f lavfi -i testsrc2=size=640x360:rate=30 -frames:v 6 -c:v ffv1");
  const std::string lr =
      Ffmpeg("thumb_lr.mkv",
             absl::StrCat("-i '", hr, "' -vf scale=160:90:flags=area -c:v ffv1 -pix_fmt yuv420p"));
  auto a = IngestVideo(hr, IngestOptions{});
  auto b = IngestVideo(lr, IngestOptions{});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->thumb_width, 64);
  EXPECT_EQ(a->thumb_height, 36);
  EXPECT_EQ(a->thumb_width, b->thumb_width);
  EXPECT_EQ(a->thumb_height, b->thumb_height);
  ASSERT_EQ(a->kept.size(), 6u);
  ASSERT_EQ(b->kept.size(), 6u);
  const size_t bytes = static_cast<size_t>(a->thumb_width) * a->thumb_height * 3;
  for (size_t k = 0; k < a->kept.size(); ++k) {
    double sum = 0;
    for (size_t i = 0; i < bytes; ++i) sum += std::abs(a->thumb(k)[i] - b->thumb(k)[i]);
    EXPECT_LT(sum / bytes, 3.0) << "kept frame " << k;
  }
  // Different frames must not look alike, or the comparison above proves nothing.
  double cross = 0;
  for (size_t i = 0; i < bytes; ++i) cross += std::abs(a->thumb(0)[i] - b->thumb(5)[i]);
  EXPECT_GT(cross / bytes, 3.0);
}

TEST_F(IngestTest, ThumbHeightFollowsAspectRatio) {
  EXPECT_EQ(ThumbHeightFor(1920, 1080, 64), 36);
  EXPECT_EQ(ThumbHeightFor(480, 270, 64), 36);
  EXPECT_EQ(ThumbHeightFor(640, 480, 64), 48);
  EXPECT_EQ(ThumbHeightFor(4000, 10, 64), 1);
}

TEST_F(IngestTest, ReportsProgressAndHonoursCancellation) {
  const std::string path =
      Ffmpeg("progress.mkv", "-f lavfi -i testsrc2=size=160x96:rate=30 -frames:v 90 -c:v ffv1");
  std::vector<int64_t> calls;
  auto table =
      IngestVideo(path, IngestOptions{}, [&](int64_t done, int64_t) { calls.push_back(done); });
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(calls, (std::vector<int64_t>{30, 60, 90, 90}));

  std::atomic<bool> cancel{false};
  auto cancelled = IngestVideo(
      path, IngestOptions{},
      [&](int64_t done, int64_t) {
        if (done >= 30) cancel = true;
      },
      &cancel);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(cancelled.status().message().find(path), std::string::npos);
}

TEST_F(IngestTest, NoDecodableFramesIsInvalidArgument) {
  const std::string dir = Path("garbage_png");
  fs::create_directories(dir);
  std::mt19937 rng(5);
  for (const char* name : {"00000.png", "00001.png", "00002.png"}) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    for (int i = 0; i < 4000; ++i) out.put(static_cast<char>(rng()));
  }
  auto table = IngestVideo(dir, IngestOptions{});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(table.status().message().find(dir + ": no decodable video frames"), std::string::npos)
      << table.status();
}

TEST_F(IngestTest, MissingAndAudioOnlyFiles) {
  auto missing = IngestVideo(Path("missing.mkv"), IngestOptions{});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  const std::string audio = Ffmpeg("audio.wav", "-f lavfi -i sine=frequency=440:duration=0.5");
  auto table = IngestVideo(audio, IngestOptions{});
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(table.status().message().find(audio), std::string::npos);
}

TEST_F(IngestTest, DamagedMiddleIsRecordedNotFatal) {
  const std::string good =
      Ffmpeg("intact.mkv",
             "-f lavfi -i testsrc2=size=160x96:rate=30 -frames:v 30 -c:v ffv1 -slicecrc 1 -g 1");
  const std::string path = Path("damaged.mkv");
  fs::copy_file(good, path, fs::copy_options::overwrite_existing);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    const std::string zeros(3000, '\0');
    f.write(zeros.data(), zeros.size());
  }
  auto table = IngestVideo(path, IngestOptions{});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_GT(table->frames.size(), 20u);
  EXPECT_LT(table->frames.size(), 30u);
  ASSERT_FALSE(table->damaged.empty());
  for (const DamagedRange& d : table->damaged) {
    EXPECT_GT(d.first_index, 0);
    EXPECT_LE(d.first_index, static_cast<int64_t>(table->frames.size()));
    EXPECT_GT(d.corrupt_frames, 0);
  }
}

}  // namespace
}  // namespace framepair
