// Hot kernels of the pipeline, measured in isolation:
//   build/bench/framepair_micro_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <random>
#include <utility>
#include <vector>

#include "align/align.h"
#include "dedup/dedup.h"
#include "png/png.h"
#include "util/crc32c.h"

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

void BM_EncodePng1280x720(benchmark::State& state) {
  RgbImage image = GameLikeFrame(1280, 720);
  PngOptions options;
  options.compression_level = static_cast<int>(state.range(0));
  size_t bytes = 0;
  for (auto _ : state) bytes = EncodePng(image, options)->size();
  state.counters["png_kb"] = static_cast<double>(bytes) / 1024;
}
BENCHMARK(BM_EncodePng1280x720)->Arg(1)->Arg(3)->Arg(6)->Unit(benchmark::kMillisecond);

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
