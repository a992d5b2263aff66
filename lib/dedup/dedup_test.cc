#include "dedup/dedup.h"

#include <gtest/gtest.h>

#include <algorithm>
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

TEST(DuplicateDetector, FewChangedBlocksBelowFractionAreNoise) {
  // A weak change (SAD just over lo) in 30% of the blocks: below frac, a duplicate; 40%: kept.
  const int w = 160, h = 96;  // 20 x 12 = 240 blocks
  for (double part : {0.30, 0.40}) {
    DuplicateDetector d;
    Plane a = Textured(w, h);
    Plane b = a;
    const int changed_rows = static_cast<int>(part * 12 * 8);
    for (int y = 0; y < changed_rows; ++y) {
      for (int x = 0; x < w; ++x) b.at(x, y) += 7;
    }
    ASSERT_EQ(d.Classify(a.view(), 1), DupKind::kKept);
    EXPECT_EQ(d.Classify(b.view(), 2), part < 0.33 ? DupKind::kNoise : DupKind::kKept) << part;
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
  EXPECT_EQ(d.blocks_compared() - before, 1);
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

}  // namespace
}  // namespace framepair
