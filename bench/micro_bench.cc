// Hot kernels of the pipeline, measured in isolation:
//   build/bench/framepair_micro_bench --benchmark_min_time=0.2
// FRAMEPAIR_BENCH_PNG=frame.png makes the PNG benchmarks use that frame (see PngFrame()).
#include <benchmark/benchmark.h>
#include <libdeflate.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "align/align.h"
#include "dedup/dedup.h"
#include "media/yuv_rgb.h"
#include "png/fast_deflate.h"
#include "png/png.h"
#include "png/png_filter.h"
#include "util/crc32c.h"

extern "C" {
#include <libswscale/swscale.h>
}

namespace framepair {
namespace {

// A 1280x720 frame with smooth gradients plus mild noise: compresses like rendered game
// content rather than like white noise or a flat colour.
RgbImage GameLikeFrame(int width, int height) {
  RgbImage image{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  std::mt19937 rng(7);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      int noise = static_cast<int>(rng() % 5);
      p[0] = static_cast<uint8_t>((x * 255 / width + noise) & 0xff);
      p[1] = static_cast<uint8_t>((y * 255 / height + ((x / 40 + y / 40) % 2) * 40) & 0xff);
      p[2] = static_cast<uint8_t>(((x + y) / 8 + noise) & 0xff);
    }
  }
  return image;
}

void BM_Crc32c(benchmark::State& state) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32c(data.data(), data.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(Crc32cUsesHardware() ? "sse4.2" : "table");
}
BENCHMARK(BM_Crc32c)->Arg(1 << 20);

// The frame the PNG benchmarks encode: FRAMEPAIR_BENCH_PNG names a real frame (for example
// one that went through libx264: `ffmpeg -i hr.mp4 -frames:v 1 frame.png`), otherwise the
// synthetic 1280x720 one.
const RgbImage& PngFrame() {
  static const RgbImage frame = [] {
    if (const char* path = std::getenv("FRAMEPAIR_BENCH_PNG"); path != nullptr && *path) {
      std::ifstream in(path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      absl::StatusOr<RgbImage> image = DecodePng(bytes);
      if (image.ok()) return *std::move(image);
      std::fprintf(stderr, "FRAMEPAIR_BENCH_PNG: %s\n", image.status().ToString().c_str());
      std::exit(2);
    }
    return GameLikeFrame(1280, 720);
  }();
  return frame;
}

constexpr PngFilter kFilters[] = {PngFilter::kNone,    PngFilter::kSub,   PngFilter::kUp,
                                  PngFilter::kAverage, PngFilter::kPaeth, PngFilter::kAdaptive};
constexpr const char* kFilterNames[] = {"none", "sub", "up", "average", "paeth", "adaptive"};

// Args: level, filter (index into kFilters).
void BM_EncodePng(benchmark::State& state) {
  const RgbImage& image = PngFrame();
  PngOptions options;
  options.compression_level = static_cast<int>(state.range(0));
  options.filter = kFilters[state.range(1)];
  size_t bytes = 0;
  for (auto _ : state) bytes = EncodePng(image, options)->size();
  state.counters["png_kb"] = static_cast<double>(bytes) / 1024;
  state.SetItemsProcessed(state.iterations() * image.width * image.height);  // pixels/s
  state.SetLabel(kFilterNames[state.range(1)]);
}
BENCHMARK(BM_EncodePng)
    ->ArgsProduct({{0, 1, 2, 3, 4, 6, 9, 12}, {2}})
    ->ArgsProduct({{1}, {0, 1, 3, 4, 5}})
    ->ArgsProduct({{6}, {5}})
    ->Unit(benchmark::kMillisecond);

// The filter alone, in pixels per second.
void BM_PngFilter(benchmark::State& state) {
  const RgbImage& image = PngFrame();
  std::vector<uint8_t> out((image.stride() + 1) * image.height);
  for (auto _ : state) {
    FilterImage(image, kFilters[state.range(0)], out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * image.width * image.height);
  state.SetLabel(kFilterNames[state.range(0)]);
}
BENCHMARK(BM_PngFilter)->DenseRange(0, 5)->Unit(benchmark::kMicrosecond);

// Deflate alone on the Up-filtered frame, in input MB/s: zlib (what libpng used), libdeflate
// (levels 2-12 of --png-level) and the run-only encoder of level 1 (fast_deflate.h). Args:
// 0 zlib / 1 libdeflate / 2 run-only, level (ignored by the run-only encoder).
void BM_Deflate(benchmark::State& state) {
  const RgbImage& image = PngFrame();
  std::vector<uint8_t> in((image.stride() + 1) * image.height);
  FilterImage(image, PngFilter::kUp, in.data());
  const int level = static_cast<int>(state.range(1));
  size_t size = 0;
  if (state.range(0) == 0) {
    std::vector<Bytef> out(compressBound(static_cast<uLong>(in.size())));
    for (auto _ : state) {
      uLongf n = static_cast<uLongf>(out.size());
      compress2(out.data(), &n, in.data(), static_cast<uLong>(in.size()), level);
      size = n;
    }
    state.SetLabel("zlib");
  } else if (state.range(0) == 2) {
    std::vector<uint8_t> out;
    for (auto _ : state) size = FastZlibCompress(in.data(), in.size(), &out);
    state.SetLabel("run-only");
  } else {
    libdeflate_compressor* c = libdeflate_alloc_compressor(level);
    std::vector<uint8_t> out(libdeflate_zlib_compress_bound(c, in.size()));
    for (auto _ : state) {
      size = libdeflate_zlib_compress(c, in.data(), in.size(), out.data(), out.size());
    }
    libdeflate_free_compressor(c);
    state.SetLabel("libdeflate");
  }
  state.counters["out_kb"] = static_cast<double>(size) / 1024;
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(in.size()));
}
BENCHMARK(BM_Deflate)
    ->ArgsProduct({{0, 1}, {1, 2, 6}})
    ->Args({2, 1})
    ->Unit(benchmark::kMillisecond);

// Same-size yuv420p -> RGB24 of one 1920x1080 frame: Arg(0) swscale with RgbConverter's
// bit-exact flags, Arg(1) YuvToRgb (the same bytes, lib/media/yuv_rgb_test.cc).
void BM_YuvToRgb1080p(benchmark::State& state) {
  constexpr int kW = 1920, kH = 1080;
  std::vector<uint8_t> planes[3];
  std::mt19937 rng(3);
  const uint8_t* src[4] = {};
  int strides[4] = {};
  for (int k = 0; k < 3; ++k) {
    const int w = k == 0 ? kW : kW / 2, h = k == 0 ? kH : kH / 2;
    planes[k].resize(static_cast<size_t>(w) * h);
    for (size_t i = 0; i < planes[k].size(); ++i) {
      planes[k][i] = static_cast<uint8_t>((i % w) / 8 + (i / w) / 8 + rng() % 4);
    }
    src[k] = planes[k].data();
    strides[k] = w;
  }
  std::vector<uint8_t> rgb(static_cast<size_t>(kW) * 3 * kH);
  uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {kW * 3, 0, 0, 0};
  const int* coefficients = sws_getCoefficients(SWS_CS_ITU709);
  if (state.range(0) == 0) {
    SwsContext* ctx =
        sws_getContext(kW, kH, AV_PIX_FMT_YUV420P, kW, kH, AV_PIX_FMT_RGB24,
                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT, nullptr,
                       nullptr, nullptr);
    sws_setColorspaceDetails(ctx, coefficients, 0, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                             1 << 16, 1 << 16);
    for (auto _ : state) sws_scale(ctx, src, strides, 0, kH, dst, dst_stride);
    sws_freeContext(ctx);
  } else {
    YuvToRgbSpec spec;
    spec.width = kW;
    spec.height = kH;
    spec.log2_chroma_w = spec.log2_chroma_h = 1;
    std::copy(coefficients, coefficients + 4, spec.inv_table);
    auto fast = YuvToRgb::Create(spec);
    for (auto _ : state) fast->Convert(src, strides, rgb.data(), kW * 3);
  }
  state.SetItemsProcessed(state.iterations() * kW * kH);
}
BENCHMARK(BM_YuvToRgb1080p)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_BlockSad8x8(benchmark::State& state) {
  std::vector<uint8_t> a(64 * 64, 10), b(64 * 64, 12);
  for (auto _ : state) benchmark::DoNotOptimize(BlockSad8x8(a.data(), 64, b.data(), 64));
}
BENCHMARK(BM_BlockSad8x8);

// Worst case for the duplicate detector: a codec-noise duplicate of a 1280x720 frame, where
// no block reaches `hi` and every block must be compared. Arg 0: luma only; 1: yuv420p.
void BM_ClassifyNoiseDuplicate720p(benchmark::State& state) {
  std::mt19937 rng(5);
  struct Planes {
    std::vector<uint8_t> a, b;
    int w, h;
  };
  std::vector<Planes> planes;
  for (auto [w, h] : {std::pair{1280, 720}, std::pair{640, 360}, std::pair{640, 360}}) {
    Planes p{std::vector<uint8_t>(static_cast<size_t>(w) * h), {}, w, h};
    p.b.resize(p.a.size());
    for (size_t i = 0; i < p.a.size(); ++i) {
      p.a[i] = static_cast<uint8_t>(60 + (i % w) / 10 + rng() % 8);
      p.b[i] = static_cast<uint8_t>(p.a[i] + rng() % 3);
    }
    planes.push_back(std::move(p));
  }
  YuvView a, b;
  a.count = b.count = state.range(0) == 0 ? 1 : 3;
  a.log2_chroma_w = b.log2_chroma_w = a.log2_chroma_h = b.log2_chroma_h = 1;
  for (int k = 0; k < a.count; ++k) {
    const Planes& p = planes[k];
    a.planes[k] = PlaneView{p.a.data(), p.w, p.w, p.h};
    b.planes[k] = PlaneView{p.b.data(), p.w, p.w, p.h};
  }
  DuplicateDetector d;
  d.Classify(a, 1);
  for (auto _ : state) benchmark::DoNotOptimize(d.Classify(b, 2));
}
BENCHMARK(BM_ClassifyNoiseDuplicate720p)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_ThumbDistance64x36(benchmark::State& state) {
  std::vector<uint8_t> a(64 * 36 * 3, 10), b(64 * 36 * 3, 13);
  for (auto _ : state) benchmark::DoNotOptimize(ThumbDistance(a.data(), b.data(), a.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(a.size()));
}
BENCHMARK(BM_ThumbDistance64x36);

}  // namespace
}  // namespace framepair

BENCHMARK_MAIN();
