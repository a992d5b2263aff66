// YuvToRgb against libswscale itself, byte for byte: the converter exists only to produce what
// swscale produces, faster.
#include "media/yuv_rgb.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "media/video.h"

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace framepair {
namespace {

namespace fs = std::filesystem;

constexpr int kFlags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT;

// RGB24 rows of width * 3 bytes, converted by swscale as RgbConverter::ToRgb sets it up.
std::vector<uint8_t> SwscaleRgb(AVPixelFormat format, int width, int height,
                                const uint8_t* const planes[3], const int strides[3],
                                int sws_matrix, bool full_range) {
  SwsContext* ctx = sws_getContext(width, height, format, width, height, AV_PIX_FMT_RGB24, kFlags,
                                   nullptr, nullptr, nullptr);
  EXPECT_NE(ctx, nullptr);
  if (ctx == nullptr) return {};
  sws_setColorspaceDetails(ctx, sws_getCoefficients(sws_matrix), full_range ? 1 : 0,
                           sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  const int stride = (width * 3 + 63) & ~63;
  std::vector<uint8_t> padded(static_cast<size_t>(stride) * height + 64);
  uint8_t* dst[4] = {padded.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {stride, 0, 0, 0};
  const uint8_t* src[4] = {planes[0], planes[1], planes[2], nullptr};
  int src_stride[4] = {strides[0], strides[1], strides[2], 0};
  EXPECT_EQ(sws_scale(ctx, src, src_stride, 0, height, dst, dst_stride), height);
  sws_freeContext(ctx);
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * 3 * height);
  for (int y = 0; y < height; ++y) {
    std::memcpy(rgb.data() + static_cast<size_t>(y) * width * 3,
                padded.data() + static_cast<size_t>(y) * stride, width * 3);
  }
  return rgb;
}

// Index of the first differing byte, or -1.
int64_t FirstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

struct Layout {
  AVPixelFormat format;
  const char* name;
};

TEST(YuvToRgb, MatchesSwscaleOnNoiseForEveryLayoutRangeAndMatrix) {
  const Layout layouts[] = {{AV_PIX_FMT_YUV420P, "yuv420p"},
                            {AV_PIX_FMT_YUV422P, "yuv422p"},
                            {AV_PIX_FMT_YUV444P, "yuv444p"},
                            {AV_PIX_FMT_YUV440P, "yuv440p"}};
  const int matrices[] = {SWS_CS_ITU601, SWS_CS_ITU709, SWS_CS_BT2020};
  const int sizes[][2] = {{160, 96}, {161, 97}, {322, 181}, {37, 23}, {8, 6}, {1280, 8}};
  std::mt19937 rng(12);
  for (const Layout& layout : layouts) {
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(layout.format);
    for (const auto& size : sizes) {
      const int width = size[0], height = size[1];
      // Noise with a quarter of the samples at 0 or 255, so the bicubic chroma overshoots and
      // the clipping and 32-bit wrap-around of swscale's matrix are exercised.
      std::vector<uint8_t> planes[3];
      const uint8_t* src[3];
      int strides[3];
      for (int k = 0; k < 3; ++k) {
        const int w = k == 0 ? width : AV_CEIL_RSHIFT(width, d->log2_chroma_w);
        const int h = k == 0 ? height : AV_CEIL_RSHIFT(height, d->log2_chroma_h);
        strides[k] = w + 7;  // a stride wider than the row, as decoders give
        planes[k].resize(static_cast<size_t>(strides[k]) * h);
        for (uint8_t& v : planes[k]) {
          const int r = static_cast<int>(rng() % 256);
          v = static_cast<uint8_t>(r < 32 ? 0 : r < 64 ? 255 : r);
        }
        src[k] = planes[k].data();
      }
      for (int matrix : matrices) {
        for (bool full : {false, true}) {
          SCOPED_TRACE(absl::StrCat(layout.name, " ", width, "x", height, " matrix ", matrix,
                                    full ? " full" : " limited"));
          YuvToRgbSpec spec;
          spec.width = width;
          spec.height = height;
          spec.log2_chroma_w = d->log2_chroma_w;
          spec.log2_chroma_h = d->log2_chroma_h;
          std::memcpy(spec.inv_table, sws_getCoefficients(matrix), sizeof(spec.inv_table));
          spec.full_range = full;
          auto fast = YuvToRgb::Create(spec);
          if (width < 16 || height < 16) {
            if (!fast) continue;  // tiny images may be left to swscale
          }
          ASSERT_NE(fast, nullptr);
          std::vector<uint8_t> mine(static_cast<size_t>(width) * 3 * height);
          fast->Convert(src, strides, mine.data(), width * 3);
          const auto reference =
              SwscaleRgb(layout.format, width, height, src, strides, matrix, full);
          const int64_t diff = FirstDifference(mine, reference);
          EXPECT_EQ(diff, -1) << "pixel " << diff / 3 % width << "," << diff / 3 / width
                              << " channel " << diff % 3 << ": "
                              << int{mine[std::max<int64_t>(diff, 0)]} << " vs "
                              << int{reference[std::max<int64_t>(diff, 0)]};
        }
      }
    }
  }
}

// Real decoded frames through RgbConverter::ToRgb, which must take the fast path and still
// give swscale's bytes.
struct Clip {
  std::string name;
  std::string args;
  AVPixelFormat format;
  int sws_matrix;
  bool full_range;
};

TEST(YuvToRgb, RgbConverterMatchesSwscaleOnDecodedFrames) {
  std::string tmpl = ::testing::TempDir() + "/yuv_rgb_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  const std::string src = "-f lavfi -i testsrc2=size=322x182:rate=30 -frames:v 6 ";
  const std::string odd = "-f lavfi -i testsrc2=size=161x97:rate=30 -frames:v 6 ";
  const Clip clips[] = {
      {"untagged.mp4", src + "-c:v libx264 -pix_fmt yuv420p", AV_PIX_FMT_YUV420P, SWS_CS_ITU601,
       false},
      {"bt709.mp4",
       src + "-c:v libx264 -pix_fmt yuv420p -colorspace bt709 -color_primaries bt709 "
             "-color_trc bt709 -color_range tv",
       AV_PIX_FMT_YUV420P, SWS_CS_ITU709, false},
      {"full.mp4", src + "-c:v libx264 -pix_fmt yuvj420p", AV_PIX_FMT_YUV420P, SWS_CS_ITU601, true},
      {"odd444.mkv", odd + "-c:v ffv1 -pix_fmt yuv444p", AV_PIX_FMT_YUV444P, SWS_CS_ITU601, false},
      {"odd422.mkv", odd + "-c:v ffv1 -pix_fmt yuv422p -colorspace bt709", AV_PIX_FMT_YUV422P,
       SWS_CS_ITU709, false},
      {"odd420.mkv", odd + "-c:v ffv1 -pix_fmt yuv420p", AV_PIX_FMT_YUV420P, SWS_CS_ITU601, false},
  };
  for (const Clip& clip : clips) {
    SCOPED_TRACE(clip.name);
    const std::string path = dir + "/" + clip.name;
    const std::string cmd =
        absl::StrCat("ffmpeg -v error -nostdin -y ", clip.args, " '", path, "' > /dev/null 2>&1");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto decoder = VideoDecoder::Open(path);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    RgbConverter converter;
    int frames = 0;
    while (true) {
      auto frame = (*decoder)->Next();
      ASSERT_TRUE(frame.ok()) << frame.status();
      if (*frame == nullptr) break;
      const AVFrame* f = (*frame)->frame;
      RgbImage rgb;
      ASSERT_TRUE(converter.ToRgb(f, &rgb).ok());
      const uint8_t* planes[3] = {f->data[0], f->data[1], f->data[2]};
      const int strides[3] = {f->linesize[0], f->linesize[1], f->linesize[2]};
      const auto reference = SwscaleRgb(clip.format, f->width, f->height, planes, strides,
                                        clip.sws_matrix, clip.full_range);
      EXPECT_EQ(FirstDifference(rgb.pixels, reference), -1) << "frame " << frames;
      ++frames;
    }
    EXPECT_EQ(frames, 6);
    EXPECT_EQ(converter.fast_conversions(), frames);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace framepair
