#include "dedup/dedup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace framepair {
namespace {

// An owned 8-bit plane with padding, like a decoder's (stride > width).
struct Plane {
  Plane(int w, int h) : width(w), height(h), stride(w + 24), data(stride * h, 0) {}
  uint8_t& at(int x, int y) { return data[y * stride + x]; }
  PlaneView view() const { return {data.data(), stride, width, height}; }
  int width, height, stride;
  std::vector<uint8_t> data;
};

// Textured content in [40, 215], so noise and shifts never clip.
Plane Textured(int w, int h, uint32_t seed = 7) {
  Plane p(w, h);
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) p.at(x, y) = 40 + (x * 3 + y * 5 + rng() % 16) % 176;
  }
  return p;
}

void DrawSprite(Plane* p, int x0, int y0, int size, uint8_t value) {
  for (int y = y0; y < y0 + size; ++y) {
    for (int x = x0; x < x0 + size; ++x) p->at(x, y) = value;
  }
}

int ReferenceSad(const uint8_t* a, int as, const uint8_t* b, int bs) {
  int sad = 0;
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) sad += std::abs(a[y * as + x] - b[y * bs + x]);
  }
  return sad;
}

TEST(BlockSad8x8, MatchesScalarReference) {
  std::mt19937 rng(3);
  std::vector<uint8_t> a(40 * 16), b(24 * 16);
  for (int trial = 0; trial < 200; ++trial) {
    for (auto& v : a) v = rng();
    for (auto& v : b) v = trial % 2 ? rng() : 255;
    const int ox = rng() % 8;
    EXPECT_EQ(BlockSad8x8(a.data() + ox, 40, b.data(), 24),
              ReferenceSad(a.data() + ox, 40, b.data(), 24));
  }
  std::vector<uint8_t> zeros(64, 0), full(64, 255);
  EXPECT_EQ(BlockSad8x8(zeros.data(), 8, full.data(), 8), 64 * 255);
}

TEST(DuplicateDetector, FirstFrameIsKeptIdenticalIsExact) {
  DuplicateDetector d;
  Plane a = Textured(64, 48);
  Plane copy = a;
  EXPECT_EQ(d.Classify(a.view(), 42), DupKind::kKept);
  EXPECT_EQ(d.Classify(copy.view(), 42), DupKind::kExact);
  EXPECT_EQ(d.Classify(a.view(), 42), DupKind::kExact);
}

TEST(DuplicateDetector, SmallNoiseEverywhereIsNoise) {
  const int w = 640, h = 360;
  DuplicateDetector d;
  Plane base = Textured(w, h);
  ASSERT_EQ(d.Classify(base.view(), 1), DupKind::kKept);
  std::mt19937 rng(11);
  for (int frame = 0; frame < 5; ++frame) {
    Plane noisy = base;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) noisy.at(x, y) += static_cast<int>(rng() % 5) - 2;
    }
    EXPECT_EQ(d.Classify(noisy.view(), 100 + frame), DupKind::kNoise) << frame;
  }
}

TEST(DuplicateDetector, SmallSpriteMovingThreePixelsIsKept) {
  const int w = 640, h = 360;
  DuplicateDetector d;
  Plane a = Textured(w, h);
  Plane b = a;
  DrawSprite(&a, 300, 170, 6, 250);
  DrawSprite(&b, 303, 170, 6, 250);
  ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
  EXPECT_EQ(d.Classify(b.view(), 2), DupKind::kKept);
}

TEST(DuplicateDetector, SpriteAtBottomRightEdgeIsKept) {
  // 637x357: the last 5 columns and rows form partial tiles.
  for (auto [w, h] : {std::pair{637, 357}, std::pair{640, 360}}) {
    DuplicateDetector d;
    Plane a = Textured(w, h);
    Plane b = a;
    DrawSprite(&b, w - 5, h - 5, 5, 250);
    ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
    EXPECT_EQ(d.Classify(b.view(), 2), DupKind::kKept) << w << "x" << h;
  }
  // A 2x2 sprite in the corner of a 637x357 frame: only the partial 5x5 tile sees it.
  DuplicateDetector d;
  Plane a = Textured(637, 357);
  Plane b = a;
  DrawSprite(&b, 635, 355, 2, 250);
  ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
  EXPECT_EQ(d.Classify(b.view(), 2), DupKind::kKept);
}

TEST(DuplicateDetector, GlobalBrightnessShiftUsesFractionRule) {
  const int w = 640, h = 360;
  for (int shift : {4, 6}) {
    DuplicateDetector d;
    Plane a = Textured(w, h);
    Plane b = a;
    for (auto& v : b.data) v += shift;
    ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
    // 6 levels: every block SAD 384 > lo (320), none > hi (768): kept by the fraction rule.
    // 4 levels: SAD 256 < lo: codec-noise territory.
    EXPECT_EQ(d.Classify(b.view(), 2), shift == 6 ? DupKind::kKept : DupKind::kNoise) << shift;
  }
}

TEST(DuplicateDetector, ComparesWithLastKeptFrameNotPrevious) {
  // A drift of one level per frame: each step is tiny, but the sixth frame is 6 levels away
  // from the last kept one.
  DuplicateDetector d;
  Plane base = Textured(320, 180);
  ASSERT_EQ(d.Classify(base.view(), 0), DupKind::kKept);
  std::vector<DupKind> kinds;
  for (int step = 1; step <= 7; ++step) {
    Plane p = base;
    for (auto& v : p.data) v += step;
    kinds.push_back(d.Classify(p.view(), step));
  }
  const std::vector<DupKind> expected = {DupKind::kNoise, DupKind::kNoise, DupKind::kNoise,
                                         DupKind::kNoise, DupKind::kNoise, DupKind::kKept,
                                         DupKind::kNoise};
  EXPECT_EQ(kinds, expected);
}

TEST(DuplicateDetector, CountRuleUsesMpdecimatesLimitPerPlane) {
  // A weak change (+7 levels: block SAD 448, between lo and hi) over a square. On a 160x96
  // plane t = (10 * 6) * 0.33 = 19 blocks. A 16x16 square fills 3 x 3 overlapping blocks
  // (the others see at most half of it, SAD <= 224): a duplicate. A 24x24 square fills 5 x 5.
  for (int side : {16, 24}) {
    DuplicateDetector d;
    Plane a = Textured(160, 96);
    Plane b = a;
    for (int y = 48; y < 48 + side; ++y) {
      for (int x = 64; x < 64 + side; ++x) b.at(x, y) += 7;
    }
    ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
    EXPECT_EQ(d.Classify(b.view(), 2), side == 24 ? DupKind::kKept : DupKind::kNoise) << side;
  }
}

TEST(DuplicateDetector, ColourChangeInThumbnailKeepsFrameLumaCallsNoise) {
  // Identical luma (a chroma-only change): the RGB thumbnail decides. Codec noise of up to 14
  // levels in the thumbnail (the worst measured on re-encoded duplicates) stays a duplicate;
  // one thumbnail byte moving by more than colour_hi (32) keeps the frame.
  const Plane luma = Textured(160, 96);
  std::vector<uint8_t> thumb(64 * 38 * 3, 100);
  DuplicateDetector d;
  ASSERT_EQ(d.Classify(luma.view(), 1, thumb), DupKind::kKept);
  std::mt19937 rng(5);
  std::vector<uint8_t> noisy = thumb;
  for (auto& v : noisy) v = static_cast<uint8_t>(100 + static_cast<int>(rng() % 29) - 14);
  EXPECT_EQ(d.Classify(luma.view(), 2, noisy), DupKind::kNoise);
  std::vector<uint8_t> moved = thumb;
  moved[1234] = 100 + 33;
  EXPECT_EQ(d.Classify(luma.view(), 3, moved), DupKind::kKept);
  // The kept thumbnail is now `moved`: going back is a change too, repeating it is not.
  EXPECT_EQ(d.Classify(luma.view(), 4, moved), DupKind::kNoise);
  EXPECT_EQ(d.Classify(luma.view(), 5, thumb), DupKind::kKept);
  // Without thumbnails (or with the rule disabled) only luma counts.
  EXPECT_EQ(d.Classify(luma.view(), 6), DupKind::kNoise);
  DedupOptions off;
  off.colour_hi = 0;
  DuplicateDetector luma_only(off);
  ASSERT_EQ(luma_only.Classify(luma.view(), 1, thumb), DupKind::kKept);
  EXPECT_EQ(luma_only.Classify(luma.view(), 2, moved), DupKind::kNoise);
}

TEST(DuplicateDetector, StopsAtFirstBlockOverHi) {
  DuplicateDetector d;
  Plane a = Textured(640, 360);
  Plane b = a;
  DrawSprite(&b, 0, 0, 8, 250);
  ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
  const int64_t before = d.blocks_compared();
  EXPECT_EQ(d.Classify(b.view(), 2), DupKind::kKept);
  // The first row of blocks decides: 159 blocks of 8x8 at x = 0, 4, ..., 632.
  EXPECT_EQ(d.blocks_compared() - before, 159);
}

TEST(DuplicateDetector, SizeChangeIsKept) {
  DuplicateDetector d;
  Plane a = Textured(64, 48);
  Plane b = Textured(48, 64);
  ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
  EXPECT_EQ(d.Classify(b.view(), 1), DupKind::kKept);
}

TEST(DuplicateDetector, EqualHashDifferentContentIsNotExact) {
  DuplicateDetector d;
  Plane a = Textured(64, 48);
  Plane b = a;
  DrawSprite(&b, 10, 10, 6, 250);
  ASSERT_EQ(d.Classify(a.view(), 5), DupKind::kKept);
  EXPECT_EQ(d.Classify(b.view(), 5), DupKind::kKept);  // a hash collision must not hide it
}

// ---------------------------------------------------------------------------------------
// Planar YUV frames.

int CeilShift(int v, int s) { return -((-v) >> s); }  // AV_CEIL_RSHIFT

struct Yuv {
  Yuv(int w, int h, int sx, int sy)
      : sx(sx),
        sy(sy),
        planes{Plane(w, h), Plane(CeilShift(w, sx), CeilShift(h, sy)),
               Plane(CeilShift(w, sx), CeilShift(h, sy))} {}
  YuvView view() const {
    YuvView v;
    v.count = 3;
    v.log2_chroma_w = sx;
    v.log2_chroma_h = sy;
    for (int k = 0; k < 3; ++k) v.planes[k] = planes[k].view();
    return v;
  }
  int sx, sy;
  Plane planes[3];
};

Yuv TexturedYuv(int w, int h, int sx = 1, int sy = 1, uint32_t seed = 7) {
  Yuv f(w, h, sx, sy);
  for (int k = 0; k < 3; ++k)
    f.planes[k] = Textured(f.planes[k].width, f.planes[k].height, seed + k);
  return f;
}

Yuv FlatYuv(int w, int h, uint8_t y, uint8_t u, uint8_t v, int sx = 1, int sy = 1) {
  Yuv f(w, h, sx, sy);
  const uint8_t values[3] = {y, u, v};
  for (int k = 0; k < 3; ++k)
    std::fill(f.planes[k].data.begin(), f.planes[k].data.end(), values[k]);
  return f;
}

// Keep (true) or drop, for `cur` after `kept`, by a fresh detector.
bool Keeps(const Yuv& kept, const Yuv& cur, const std::vector<PixelRect>& ignore = {}) {
  DuplicateDetector d({}, ignore);
  EXPECT_EQ(d.Classify(kept.view(), 1), DupKind::kKept);
  return d.Classify(cur.view(), 2) == DupKind::kKept;
}

TEST(CellRowSad, MatchesScalarReference) {
  std::mt19937 rng(9);
  for (int trial = 0; trial < 300; ++trial) {
    const int width = 1 + static_cast<int>(rng() % 70);
    const int rows = 1 + static_cast<int>(rng() % 4);
    std::vector<uint8_t> a(80 * 4), b(72 * 4);
    for (auto& v : a) v = static_cast<uint8_t>(rng());
    for (auto& v : b) v = trial % 3 == 0 ? 0 : static_cast<uint8_t>(rng());
    std::vector<int32_t> out((width + 3) / 4, -1);
    CellRowSad(a.data(), 80, b.data(), 72, width, rows, out.data());
    for (int i = 0; i < (width + 3) / 4; ++i) {
      int expected = 0;
      for (int y = 0; y < rows; ++y) {
        for (int x = 4 * i; x < std::min(width, 4 * i + 4); ++x) {
          expected += std::abs(a[y * 80 + x] - b[y * 72 + x]);
        }
      }
      ASSERT_EQ(out[i], expected) << "width " << width << " rows " << rows << " cell " << i;
    }
  }
}

TEST(DuplicateDetector, SpriteMovingOnePixelAcrossTheOldTileGridIsKept) {
  // An 8x8 sprite at (4 + 8k, 4 + 8m) straddles the 8x8 tile grid in both directions. Moving
  // 1 px right changes one column of 8 pixels at each side; the old non-overlapping tiles saw
  // 4 of them per tile (SAD 4 * contrast, under hi for a contrast up to 192), an overlapping
  // block at (4 + 8k, 4 + 8m) sees all 8.
  for (bool textured : {false, true}) {
    Yuv a = textured ? TexturedYuv(320, 180) : FlatYuv(320, 180, 60, 128, 128);
    for (int dx : {1, 0}) {
      Yuv b = a;
      Yuv before = a;
      DrawSprite(&before.planes[0], 100, 52, 8, 200);
      DrawSprite(&b.planes[0], 100 + dx, 52 + (1 - dx), 8, 200);  // right or down by 1 px
      EXPECT_TRUE(Keeps(before, b)) << "textured " << textured << " dx " << dx;
    }
  }
}

TEST(DuplicateDetector, StatusAreaChangingModestlyIsKept) {
  // A 30x30 status area whose content shifts by 16 levels (a counter ticking, a bar filling):
  // any 8x8 block inside has SAD 1024 > hi, however the area sits on the block grid.
  for (int x0 : {200, 203}) {
    Yuv a = TexturedYuv(640, 360);
    Yuv b = a;
    for (int y = 300; y < 330; ++y) {
      for (int x = x0; x < x0 + 30; ++x) b.planes[0].at(x, y) += 16;
    }
    EXPECT_TRUE(Keeps(a, b)) << x0;
  }
}

TEST(DuplicateDetector, ChromaOnlyChangeIsKept) {
  // Luma identical; a 16x16 area (8x8 chroma samples in 4:2:0) changes hue by 25 levels. At
  // least 6x6 of any 8x8 area falls into one block at step 4: SAD >= 36 * 25 = 900 > hi.
  for (int plane : {1, 2}) {
    Yuv a = TexturedYuv(320, 180);
    Yuv b = a;
    for (int y = 30; y < 38; ++y) {
      for (int x = 50; x < 58; ++x) b.planes[plane].at(x, y) += 25;
    }
    EXPECT_TRUE(Keeps(a, b)) << plane;
    // Luma alone sees nothing.
    DuplicateDetector luma_only;
    ASSERT_EQ(luma_only.Classify(a.planes[0].view(), 1), DupKind::kKept);
    EXPECT_EQ(luma_only.Classify(b.planes[0].view(), 2), DupKind::kNoise);
  }
  // 4:4:4 chroma: a 6x6 chroma box moving by 2 px at a hue contrast of 40 levels.
  Yuv a = TexturedYuv(160, 96, 0, 0);
  Yuv b = a;
  DrawSprite(&a.planes[1], 40, 40, 6, 200);
  DrawSprite(&b.planes[1], 42, 40, 6, 200);
  EXPECT_TRUE(Keeps(a, b));
}

TEST(DuplicateDetector, CodecNoiseOnEveryPlaneIsRemoved) {
  std::mt19937 rng(13);
  for (int amplitude : {2, 3}) {
    Yuv a = TexturedYuv(640, 360);
    DuplicateDetector d;
    ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
    for (int frame = 0; frame < 3; ++frame) {
      Yuv b = a;
      for (Plane& p : b.planes) {
        for (int y = 0; y < p.height; ++y) {
          for (int x = 0; x < p.width; ++x) {
            p.at(x, y) += static_cast<int>(rng() % (2 * amplitude + 1)) - amplitude;
          }
        }
      }
      EXPECT_EQ(d.Classify(b.view(), 10 + frame), DupKind::kNoise) << amplitude << " " << frame;
    }
  }
}

TEST(DuplicateDetector, ChangeInsideIgnoredRegionIsRemoved) {
  const std::vector<PixelRect> clock = {{500, 10, 101, 31}};  // odd edges: chroma rounds out
  Yuv a = TexturedYuv(640, 360);
  Yuv inside = a;
  // The clock's digits change completely, luma and chroma.
  for (int y = 10; y < 41; ++y) {
    for (int x = 500; x < 601; ++x) inside.planes[0].at(x, y) = 255 - a.planes[0].at(x, y);
  }
  for (int y = 5; y < 21; ++y) {
    for (int x = 250; x < 301; ++x) inside.planes[1].at(x, y) = 0;
  }
  EXPECT_FALSE(Keeps(a, inside, clock));
  EXPECT_TRUE(Keeps(a, inside));
  // The same frame with a small change just outside the region is kept: the cells next to the
  // region are still compared (a 4x4 dot 1 px right of the region; the cell at 600..603
  // touches the region, the one at 604..607 sees half of the dot).
  Yuv outside = inside;
  for (int y = 20; y < 24; ++y) {
    for (int x = 602; x < 606; ++x) {
      outside.planes[0].at(x, y) = a.planes[0].at(x, y) < 128 ? 255 : 0;
    }
  }
  EXPECT_TRUE(Keeps(a, outside, clock));
}

TEST(DuplicateDetector, IgnoredRegionCoveringEverythingKeepsOnlyExactLogic) {
  Yuv a = TexturedYuv(64, 48);
  Yuv b = TexturedYuv(64, 48, 1, 1, 99);
  EXPECT_FALSE(Keeps(a, b, {{0, 0, 64, 48}}));
}

TEST(MaskThumbnail, MasksThePixelsWhoseSourceAreaOverlapsTheRegion) {
  // 640x360 -> 64x36: each thumbnail pixel covers 10x10 source pixels.
  RgbImage thumb{64, 36, std::vector<uint8_t>(64 * 36 * 3, 77)};
  MaskThumbnail(&thumb, 640, 360, {{95, 20, 11, 10}});  // columns 95..105, rows 20..29
  for (int y = 0; y < 36; ++y) {
    for (int x = 0; x < 64; ++x) {
      const bool masked = (x == 9 || x == 10) && y == 2;
      EXPECT_EQ(thumb.row(y)[3 * x], masked ? 0 : 77) << x << "," << y;
    }
  }
  // LR region r and HR region 4r mask the same thumbnail pixels.
  std::mt19937 rng(4);
  for (int trial = 0; trial < 200; ++trial) {
    const PixelRect r{static_cast<int>(rng() % 300), static_cast<int>(rng() % 170),
                      1 + static_cast<int>(rng() % 20), 1 + static_cast<int>(rng() % 10)};
    RgbImage lr{64, 36, std::vector<uint8_t>(64 * 36 * 3, 1)};
    RgbImage hr = lr;
    MaskThumbnail(&lr, 320, 180, {r});
    MaskThumbnail(&hr, 1280, 720, {{r.x * 4, r.y * 4, r.width * 4, r.height * 4}});
    ASSERT_EQ(lr, hr) << r.x << "," << r.y << "," << r.width << "," << r.height;
  }
}

TEST(DuplicateDetector, DifferenceOnlyInIgnoredThumbnailAreaIsRemoved) {
  // Same planes apart from the ignored region; the thumbnails differ only where the region
  // maps. Masked as ingest masks them, the colour test sees no difference.
  const std::vector<PixelRect> ignore = {{95, 20, 11, 10}};
  Yuv a = TexturedYuv(640, 360);
  Yuv b = a;
  DrawSprite(&b.planes[0], 96, 21, 8, 255);
  RgbImage ta{64, 36, std::vector<uint8_t>(64 * 36 * 3, 100)};
  RgbImage tb = ta;
  tb.row(2)[3 * 9] = 250;
  tb.row(2)[3 * 10 + 1] = 0;
  MaskThumbnail(&ta, 640, 360, ignore);
  MaskThumbnail(&tb, 640, 360, ignore);
  DuplicateDetector d({}, ignore);
  ASSERT_EQ(d.Classify(a.view(), 1, ta.pixels), DupKind::kKept);
  EXPECT_EQ(d.Classify(b.view(), 2, tb.pixels), DupKind::kNoise);
  // Unmasked, the thumbnail difference alone keeps the frame.
  tb.row(3)[0] = 250;
  EXPECT_EQ(d.Classify(b.view(), 3, tb.pixels), DupKind::kKept);
}

// ---------------------------------------------------------------------------------------
// ffmpeg's mpdecimate, transcribed plainly from libavfilter/vf_mpdecimate.c (diff_planes and
// decimate_frame with the default options), as the ground truth this detector must cover.

struct MpdecimateReference {
  int hi = 64 * 12;
  int lo = 64 * 5;
  float frac = 0.33f;  // a float option in the filter

  static int Sad8x8(const uint8_t* a, int as, const uint8_t* b, int bs) {
    int sad = 0;
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) sad += std::abs(a[y * as + x] - b[y * bs + x]);
    }
    return sad;
  }

  int DiffPlanes(const uint8_t* cur, int cur_linesize, const uint8_t* ref, int ref_linesize, int w,
                 int h) const {
    int x, y;
    int d, c = 0;
    int t = (w / 16) * (h / 16) * frac;
    for (y = 0; y < h - 7; y += 4) {
      for (x = 8; x < w - 7; x += 4) {
        d = Sad8x8(cur + y * cur_linesize + x, cur_linesize, ref + y * ref_linesize + x,
                   ref_linesize);
        if (d > hi) return 1;
        if (d > lo) {
          c++;
          if (c > t) return 1;
        }
      }
    }
    return 0;
  }

  // True: mpdecimate drops `cur` (decimate_frame returned 1).
  bool Drops(const Yuv& cur, const Yuv& ref) const {
    const int width = ref.planes[0].width;
    const int height = ref.planes[0].height;
    for (int plane = 0; plane < 3; ++plane) {
      const int vsub = plane == 1 || plane == 2 ? ref.sy : 0;
      const int hsub = plane == 1 || plane == 2 ? ref.sx : 0;
      if (DiffPlanes(cur.planes[plane].data.data(), cur.planes[plane].stride,
                     ref.planes[plane].data.data(), ref.planes[plane].stride,
                     CeilShift(width, hsub), CeilShift(height, vsub))) {
        return false;
      }
    }
    return true;
  }
};

// A random change near the thresholds: blobs (rectangles of a constant offset or of fresh
// texture), noise of a few levels, sometimes a weak shift of a whole plane.
void Perturb(Yuv* f, std::mt19937& rng) {
  auto uniform = [&rng](int lo, int hi) { return lo + static_cast<int>(rng() % (hi - lo + 1)); };
  const int blobs = uniform(0, 6);
  for (int n = 0; n < blobs; ++n) {
    Plane& p = f->planes[uniform(0, 5) < 3 ? 0 : uniform(1, 2)];
    const int bw = uniform(1, std::min(p.width, 14));
    const int bh = uniform(1, std::min(p.height, 14));
    const int x0 = uniform(0, p.width - bw);
    const int y0 = uniform(0, p.height - bh);
    const int delta = uniform(3, 60) * (rng() % 2 ? 1 : -1);
    const bool fresh = rng() % 4 == 0;
    for (int y = y0; y < y0 + bh; ++y) {
      for (int x = x0; x < x0 + bw; ++x) {
        const int v = fresh ? uniform(0, 255) : p.at(x, y) + delta;
        p.at(x, y) = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
    }
  }
  const int noise = uniform(0, 4);
  const int shift_plane = rng() % 5 == 0 ? uniform(0, 2) : -1;
  const int shift = uniform(3, 8);
  for (int k = 0; k < 3; ++k) {
    Plane& p = f->planes[k];
    for (int y = 0; y < p.height; ++y) {
      for (int x = 0; x < p.width; ++x) {
        int v = p.at(x, y) + (noise > 0 ? uniform(-noise, noise) : 0);
        if (k == shift_plane) v += shift;
        p.at(x, y) = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
    }
  }
}

TEST(DuplicateDetector, KeepsEveryFrameMpdecimateKeeps) {
  const MpdecimateReference reference;
  std::mt19937 rng(2024);
  const std::pair<int, int> subsampling[] = {{1, 1}, {1, 0}, {0, 0}, {2, 0}, {2, 2}};
  int reference_keeps = 0, reference_drops = 0, only_we_keep = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const int w = 8 + static_cast<int>(rng() % 90);
    const int h = 8 + static_cast<int>(rng() % 60);
    const auto [sx, sy] = subsampling[rng() % 5];
    const Yuv ref =
        trial % 3 == 0 ? FlatYuv(w, h, 90, 120, 140, sx, sy) : TexturedYuv(w, h, sx, sy, trial);
    Yuv cur = ref;
    Perturb(&cur, rng);
    const bool reference_keeps_it = !reference.Drops(cur, ref);
    const bool we_keep = Keeps(ref, cur);
    if (reference_keeps_it) {
      ++reference_keeps;
      ASSERT_TRUE(we_keep) << "trial " << trial << ": " << w << "x" << h << " subsampling " << sx
                           << "," << sy;
    } else {
      ++reference_drops;
      only_we_keep += we_keep ? 1 : 0;
    }
  }
  // Both outcomes must be common, or the comparison proves little.
  EXPECT_GT(reference_keeps, 800);
  EXPECT_GT(reference_drops, 800);
  std::printf("mpdecimate keeps %d, drops %d; of those drops we keep %d\n", reference_keeps,
              reference_drops, only_we_keep);
}

TEST(DuplicateDetector, KeepsEveryFrameMpdecimateKeepsForSingleBlocksAtTheThreshold) {
  // One 8x8 change of 11..14 levels (SAD 704..896 around hi = 768) on one plane, on
  // mpdecimate's block grid, half of the time in its last block column or row.
  const MpdecimateReference reference;
  std::mt19937 rng(5);
  const std::pair<int, int> subsampling[] = {{1, 1}, {1, 0}, {0, 0}};
  int reference_keeps = 0, reference_drops = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int w = 32 + static_cast<int>(rng() % 100);
    const int h = 32 + static_cast<int>(rng() % 60);
    const auto [sx, sy] = subsampling[rng() % 3];
    const Yuv ref = TexturedYuv(w, h, sx, sy, trial);
    Yuv cur = ref;
    Plane& p = cur.planes[rng() % 3];
    const int last_x = 8 + (p.width - 16) / 4 * 4;  // mpdecimate's last x: x < w - 7
    const int last_y = (p.height - 8) / 4 * 4;
    const int x0 = rng() % 2 ? last_x : 8 + 4 * static_cast<int>(rng() % ((last_x - 8) / 4 + 1));
    const int y0 = rng() % 2 ? last_y : 4 * static_cast<int>(rng() % (last_y / 4 + 1));
    const int delta = (11 + static_cast<int>(rng() % 4)) * (rng() % 2 ? 1 : -1);
    for (int y = y0; y < y0 + 8; ++y) {
      for (int x = x0; x < x0 + 8; ++x) p.at(x, y) = static_cast<uint8_t>(p.at(x, y) + delta);
    }
    const bool reference_keeps_it = !reference.Drops(cur, ref);
    (reference_keeps_it ? reference_keeps : reference_drops)++;
    if (reference_keeps_it) {
      ASSERT_TRUE(Keeps(ref, cur)) << "trial " << trial << ": " << w << "x" << h << " at " << x0
                                   << "," << y0 << " delta " << delta;
    }
  }
  // On small planes t is 0-2, so a block over lo already keeps: fewer drops than keeps.
  EXPECT_GT(reference_keeps, 1000);
  EXPECT_GT(reference_drops, 300);
}

TEST(DuplicateDetector, KeepsEveryFrameMpdecimateKeepsOnStructuredFrames) {
  // Larger frames where the count rule matters: many weak blobs at the `lo` boundary.
  const MpdecimateReference reference;
  std::mt19937 rng(77);
  int reference_keeps = 0, reference_drops = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const Yuv ref = TexturedYuv(160 + static_cast<int>(rng() % 7), 96 + static_cast<int>(rng() % 5),
                                1, 1, trial);
    Yuv cur = ref;
    const int blobs = 5 + static_cast<int>(rng() % 40);
    for (int n = 0; n < blobs; ++n) {
      Plane& p = cur.planes[rng() % 4 == 0 ? 1 : 0];
      const int side = 6 + static_cast<int>(rng() % 6);
      const int x0 = static_cast<int>(rng() % (p.width - side));
      const int y0 = static_cast<int>(rng() % (p.height - side));
      const int delta = 4 + static_cast<int>(rng() % 5);  // 4..8 levels: around lo
      for (int y = y0; y < y0 + side; ++y) {
        for (int x = x0; x < x0 + side; ++x) p.at(x, y) += delta;
      }
    }
    const bool reference_keeps_it = !reference.Drops(cur, ref);
    (reference_keeps_it ? reference_keeps : reference_drops)++;
    if (reference_keeps_it) {
      ASSERT_TRUE(Keeps(ref, cur)) << "trial " << trial;
    }
  }
  EXPECT_GT(reference_keeps, 30);
  EXPECT_GT(reference_drops, 30);
}

}  // namespace
}  // namespace framepair
