#include "align/align.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace framepair {
namespace {

constexpr int kW = 64;
constexpr int kH = 36;
constexpr size_t kBytes = static_cast<size_t>(kW) * kH * 3;

// ---------------------------------------------------------------------------------------------
// A synthetic "world": scenes of smoothly moving patterns. Each scene has its own pattern
// family and parameters, so a scene change is a discontinuity like a cut in a game. A frame
// is a pure function of (scene, scene time), so both recordings can render any world frame.

struct Blob {
  float x, y, vx, vy, radius, r, g, b;
};

struct Scene {
  int family = 0;  // 0 blobs on a gradient, 1 moving stripes, 2 rings around a moving centre
  float bg0[3], bg1[3];
  Blob blobs[4];
  float angle, freq, phase_speed, angle2, freq2, phase_speed2;
};

class World {
 public:
  // `frames` world frames, scenes of [min_scene, max_scene] frames.
  World(int64_t frames, uint64_t seed, int min_scene = 300, int max_scene = 900) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(0, 1);
    std::uniform_int_distribution<int> scene_len(min_scene, max_scene);
    scene_of_.resize(static_cast<size_t>(frames));
    time_of_.resize(static_cast<size_t>(frames));
    int64_t w = 0;
    while (w < frames) {
      Scene s;
      s.family = static_cast<int>(scenes_.size() % 3 == 0 ? rng() % 3 : (scenes_.size() % 3));
      for (int c = 0; c < 3; ++c) {
        s.bg0[c] = 20 + 200 * u(rng);
        s.bg1[c] = 20 + 200 * u(rng);
      }
      for (Blob& b : s.blobs) {
        // Every blob moves: a frame that does not change at all would have been removed by
        // deduplication upstream.
        const float heading = 6.2832f * u(rng);
        const float speed = 0.15f + 0.2f * u(rng);
        b = Blob{kW * u(rng),
                 kH * u(rng),
                 speed * std::cos(heading),
                 speed * std::sin(heading),
                 4 + 8 * u(rng),
                 200 * (u(rng) - 0.5f),
                 200 * (u(rng) - 0.5f),
                 200 * (u(rng) - 0.5f)};
      }
      s.angle = 3.14159f * u(rng);
      s.freq = 0.15f + 0.25f * u(rng);
      s.phase_speed = 0.04f + 0.05f * u(rng);
      s.angle2 = 3.14159f * u(rng);
      s.freq2 = 0.1f + 0.2f * u(rng);
      s.phase_speed2 = 0.02f + 0.04f * u(rng);
      scenes_.push_back(s);
      const int64_t len = std::min<int64_t>(scene_len(rng), frames - w);
      // Speed in units of "mean abs change per byte between consecutive frames": 1.5..6
      // normally, 0.5..1 in the near-static fifth of the time (calibrated per scene).
      std::vector<uint8_t> f0(kBytes), f1(kBytes);
      RenderScene(s, 0, f0.data());
      RenderScene(s, 0.1f, f1.data());
      const float unit =
          0.1f / static_cast<float>(std::max(0.01, ThumbDistance(f0.data(), f1.data(), kBytes)));
      float t = 0;
      float speed = 1;
      for (int64_t k = 0; k < len; ++k, ++w) {
        if (k % 40 == 0)
          speed = unit * (u(rng) < 0.2f ? 0.5f + 0.5f * u(rng) : 1.5f + 4.5f * u(rng));
        scene_of_[static_cast<size_t>(w)] = static_cast<int>(scenes_.size() - 1);
        time_of_[static_cast<size_t>(w)] = t;
        t += speed;
      }
    }
  }

  int64_t size() const { return static_cast<int64_t>(scene_of_.size()); }
  int scene_of(int64_t w) const { return scene_of_[static_cast<size_t>(w)]; }

  void Render(int64_t w, uint8_t* out) const {
    RenderScene(scenes_[static_cast<size_t>(scene_of_[static_cast<size_t>(w)])],
                time_of_[static_cast<size_t>(w)], out);
  }

 private:
  static void RenderScene(const Scene& s, float t, uint8_t* out) {
    float bx[4], by[4];
    for (int k = 0; k < 4; ++k) {
      // Bounce inside the frame so blobs stay visible.
      bx[k] = Bounce(s.blobs[k].x + s.blobs[k].vx * t, kW);
      by[k] = Bounce(s.blobs[k].y + s.blobs[k].vy * t, kH);
    }
    const float ca = std::cos(s.angle), sa = std::sin(s.angle);
    const float ca2 = std::cos(s.angle2), sa2 = std::sin(s.angle2);
    for (int y = 0; y < kH; ++y) {
      for (int x = 0; x < kW; ++x) {
        float v[3];
        const float gx = static_cast<float>(x) / kW;
        for (int c = 0; c < 3; ++c) v[c] = s.bg0[c] * (1 - gx) + s.bg1[c] * gx;
        if (s.family == 1) {
          const float p = std::sin((x * ca + y * sa) * s.freq + t * s.phase_speed * 6);
          const float q = std::sin((x * ca2 + y * sa2) * s.freq2 - t * s.phase_speed2 * 6);
          v[0] += 60 * p;
          v[1] += 50 * q;
          v[2] += 40 * p * q;
        } else if (s.family == 2) {
          const float dx = x - bx[0], dy = y - by[0];
          const float r = std::sqrt(dx * dx + dy * dy);
          const float p = std::sin(r * s.freq * 2 - t * s.phase_speed * 5);
          for (int c = 0; c < 3; ++c) v[c] += 55 * p * (c == 1 ? -1.0f : 1.0f);
        }
        const int blobs = s.family == 0 ? 4 : 1;
        for (int k = 4 - blobs; k < 4; ++k) {
          const float dx = x - bx[k], dy = y - by[k];
          const float f = 1 / (1 + (dx * dx + dy * dy) / (s.blobs[k].radius * s.blobs[k].radius));
          v[0] += s.blobs[k].r * f;
          v[1] += s.blobs[k].g * f;
          v[2] += s.blobs[k].b * f;
        }
        uint8_t* p = out + (static_cast<size_t>(y) * kW + x) * 3;
        for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>(std::clamp(v[c], 0.0f, 255.0f));
      }
    }
  }

  static float Bounce(float v, int size) {
    const float period = 2.0f * static_cast<float>(size);
    float m = std::fmod(v, period);
    if (m < 0) m += period;
    return m < static_cast<float>(size) ? m : period - m;
  }

  std::vector<Scene> scenes_;
  std::vector<int> scene_of_;
  std::vector<float> time_of_;
};

// One recording of the world: which world frames it kept, their thumbnails with independent
// noise, and made-up source frame indexes (the recording also had duplicates, removed earlier).
struct Recording {
  std::vector<int64_t> world;  // world frame of each kept frame
  std::vector<int64_t> frame_index;
  std::vector<uint8_t> pixels;
  int64_t index_scale = 1;
  int64_t index_base = 0;

  ThumbSequence Thumbs() const {
    return ThumbSequence{kW, kH, frame_index.data(), pixels.data(), world.size()};
  }
  int64_t WorldOf(int64_t frame) const {
    return world[static_cast<size_t>((frame - index_base) / index_scale)];
  }
};

struct SideSpec {
  int64_t start = 0;     // world frames before this are missing (start offset)
  int64_t end_trim = 0;  // world frames missing at the end
  int runs = 0;          // drop runs of 1..max_run frames
  int max_run = 40;
  double singles = 0;  // fraction of scattered single drops
  int every = 0;       // drop every n-th world frame (a recorder whose clock runs slow)
  int noise = 2;       // +-noise per byte
  // Each frame's noise amplitude drawn from 1..2*noise-1 instead, like a codec whose quality
  // varies from frame to frame.
  bool noise_varies = false;
  // A stall: world frames [gap_at, gap_at + gap_len) are missing (gap_len 0: none).
  int64_t gap_at = 0;
  int64_t gap_len = 0;
  // Renders only every n-th world frame (a game at 1/n of the other recording's rate).
  int render_every = 1;
};

Recording Record(const World& world, const SideSpec& spec, uint64_t seed, int64_t index_scale,
                 int64_t index_base) {
  std::mt19937_64 rng(seed);
  const int64_t k = world.size();
  std::vector<bool> present(static_cast<size_t>(k), false);
  for (int64_t w = spec.start; w < k - spec.end_trim; ++w) present[static_cast<size_t>(w)] = true;
  std::uniform_int_distribution<int64_t> pos(spec.start, k - spec.end_trim - 1);
  std::uniform_int_distribution<int> run(1, spec.max_run);
  for (int r = 0; r < spec.runs; ++r) {
    const int64_t at = pos(rng);
    const int len = run(rng);
    for (int64_t w = at; w < std::min(k, at + len); ++w) present[static_cast<size_t>(w)] = false;
  }
  std::bernoulli_distribution single(spec.singles);
  for (int64_t w = 0; w < k; ++w) {
    if (single(rng)) present[static_cast<size_t>(w)] = false;
    if (spec.every > 0 && w % spec.every == spec.every - 1) present[static_cast<size_t>(w)] = false;
    if (w % spec.render_every != 0) present[static_cast<size_t>(w)] = false;
    if (w >= spec.gap_at && w < spec.gap_at + spec.gap_len) present[static_cast<size_t>(w)] = false;
  }
  Recording rec;
  rec.index_scale = index_scale;
  rec.index_base = index_base;
  for (int64_t w = 0; w < k; ++w) {
    if (present[static_cast<size_t>(w)]) rec.world.push_back(w);
  }
  rec.pixels.resize(rec.world.size() * kBytes);
  for (size_t i = 0; i < rec.world.size(); ++i) {
    const int noise = spec.noise_varies
                          ? 1 + static_cast<int>(rng() % static_cast<uint64_t>(2 * spec.noise - 1))
                          : spec.noise;
    const int span = 2 * noise + 1;
    rec.frame_index.push_back(index_base + static_cast<int64_t>(i) * index_scale);
    uint8_t* out = &rec.pixels[i * kBytes];
    world.Render(rec.world[i], out);
    for (size_t b = 0; b < kBytes; ++b) {
      const int v = out[b] + static_cast<int>(rng() % static_cast<uint64_t>(span)) - noise;
      out[b] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
  }
  return rec;
}

struct Score {
  double precision = 0;
  double recall = 0;
  int64_t correct = 0;
  int64_t output = 0;
  int64_t matchable = 0;
};

Score Evaluate(const AlignResult& result, const Recording& lr, const Recording& hr) {
  Score s;
  std::vector<int64_t> both;
  std::set_intersection(lr.world.begin(), lr.world.end(), hr.world.begin(), hr.world.end(),
                        std::back_inserter(both));
  s.matchable = static_cast<int64_t>(both.size());
  s.output = static_cast<int64_t>(result.pairs.size());
  for (const AlignedPair& p : result.pairs) {
    if (lr.WorldOf(p.lr_frame) == hr.WorldOf(p.hr_frame)) ++s.correct;
  }
  s.precision = s.output ? static_cast<double>(s.correct) / static_cast<double>(s.output) : 0;
  s.recall = s.matchable ? static_cast<double>(s.correct) / static_cast<double>(s.matchable) : 0;
  return s;
}

void ExpectStrictlyIncreasing(const AlignResult& result) {
  for (size_t k = 1; k < result.pairs.size(); ++k) {
    ASSERT_LT(result.pairs[k - 1].lr_frame, result.pairs[k].lr_frame) << "pair " << k;
    ASSERT_LT(result.pairs[k - 1].hr_frame, result.pairs[k].hr_frame) << "pair " << k;
  }
}

// ---------------------------------------------------------------------------------------------

TEST(ThumbDistanceTest, MatchesScalarSumForAllLengths) {
  std::mt19937 rng(7);
  std::vector<uint8_t> a(kBytes + 64), b(kBytes + 64);
  for (auto& v : a) v = static_cast<uint8_t>(rng());
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  std::vector<size_t> lengths;
  for (size_t n = 1; n <= 130; ++n) lengths.push_back(n);
  lengths.push_back(kBytes);
  lengths.push_back(kBytes + 63);
  for (size_t n : lengths) {
    // Unaligned starts too: thumbnails are not guaranteed to be 16-byte aligned.
    for (size_t shift : {0, 1}) {
      uint64_t sum = 0;
      for (size_t k = 0; k < n; ++k) sum += static_cast<uint64_t>(std::abs(a[k + shift] - b[k]));
      EXPECT_DOUBLE_EQ(ThumbDistance(a.data() + shift, b.data(), n),
                       static_cast<double>(sum) / static_cast<double>(n))
          << "n=" << n << " shift=" << shift;
    }
  }
  EXPECT_EQ(ThumbDistance(a.data(), b.data(), 0), 0);
  std::vector<uint8_t> zeros(100, 0), full(100, 255);
  EXPECT_DOUBLE_EQ(ThumbDistance(zeros.data(), full.data(), 100), 255.0);
}

TEST(SpikeFilterTest, KnownAnswer) {
  // k = 0, 1 have no full window and are kept however large. 4: 2 / mean(1, 1, 2) = 1.5 ->
  // drop. 6: the zero counts as 1: 1 / mean(2, 1, 1) = 0.75. 8: 1.3 / mean(1, 1, 1.3) = 1.18
  // -> keep. 9: 3 / mean(1, 1.3, 3) = 1.70 -> drop. 10: the window still holds the dropped 3:
  // 1.4 / mean(1.3, 3, 1.4) = 0.74 -> keep.
  const std::vector<double> r = {5, 5, 1, 1, 2, 1, 0, 0, 1.3, 3, 1.4};
  const std::vector<bool> expected = {true, true, true, true,  true, true,
                                      true, true, true, false, true};
  std::vector<bool> want = expected;
  want[4] = false;
  EXPECT_EQ(SpikeFilter(r, 1.2), want);
  // 1.698 < 1.7 and 1.5 < 1.7: nothing dropped.
  EXPECT_EQ(SpikeFilter(r, 1.7), std::vector<bool>(r.size(), true));
  EXPECT_EQ(SpikeFilter(r, 1.6), expected);
  EXPECT_EQ(SpikeFilter(r, 0), std::vector<bool>(r.size(), true));
  EXPECT_TRUE(SpikeFilter({}, 1.2).empty());
  // Without the zero rule 1 / mean(0, 0, 1) = 3 would be dropped.
  EXPECT_EQ(SpikeFilter({0, 0, 1}, 1.2), std::vector<bool>({true, true, true}));
}

// A 64x38 RGB thumbnail, as the aligner compares them.
constexpr size_t kThumbBytes = 64 * 38 * 3;

std::vector<uint8_t> Texture(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> t(kThumbBytes);
  for (uint8_t& b : t) b = static_cast<uint8_t>(40 + rng() % 160);
  return t;
}

// Moves every byte in `bytes` by `delta` (the sign alternating), as codec artefacts do.
void Disturb(std::vector<uint8_t>* t, const std::vector<size_t>& bytes, int delta) {
  for (size_t k = 0; k < bytes.size(); ++k) {
    const int d = (k % 2 == 0) ? delta : -delta;
    (*t)[bytes[k]] = static_cast<uint8_t>(std::clamp(int{(*t)[bytes[k]]} + d, 0, 255));
  }
}

// The held-frames failure: two kept encodes of one moment differ beyond the noise level on a
// few hundred bytes of codec artefacts (by a few levels past it). On those bytes the other
// recording's frame happens to be closer to the neighbour copy; it must not count as the
// neighbour showing a better-matching moment.
TEST(NeighbourVerdictTest, ArtefactsOfARepeatDoNotCompete) {
  const std::vector<uint8_t> moment = Texture(1);
  std::mt19937_64 rng(2);
  std::vector<size_t> artefacts;
  for (int k = 0; k < 300; ++k) artefacts.push_back(rng() % kThumbBytes);
  std::vector<uint8_t> partner = moment, neighbour = moment, self = moment;
  // residual 2 -> tau 8: the partner's artefacts cross it by 4 levels.
  Disturb(&partner, artefacts, 12);
  EXPECT_EQ(
      CompareWithNeighbour(self.data(), partner.data(), neighbour.data(), kThumbBytes, 2.0, 0.8),
      NeighbourVerdict::kSame);
}

// The control: a moved object (a 6x6-pixel block 60 levels brighter, 1.4 % of the thumbnail)
// is a different moment, and the verdict follows which of the two the frame shows.
TEST(NeighbourVerdictTest, AMovedObjectDecides) {
  const std::vector<uint8_t> background = Texture(3);
  auto with_block = [&](int x0) {
    std::vector<uint8_t> t = background;
    for (int y = 10; y < 16; ++y) {
      for (int x = x0; x < x0 + 6; ++x) {
        for (int c = 0; c < 3; ++c) {
          uint8_t& b = t[(static_cast<size_t>(y) * 64 + static_cast<size_t>(x)) * 3 + c];
          b = static_cast<uint8_t>(std::min(255, b + 60));
        }
      }
    }
    return t;
  };
  const std::vector<uint8_t> partner = with_block(20), neighbour = with_block(26);
  std::vector<uint8_t> shows_partner = partner, shows_neighbour = neighbour;
  std::mt19937_64 rng(4);
  for (uint8_t& b : shows_partner)
    b = static_cast<uint8_t>(std::clamp(b + int(rng() % 5) - 2, 0, 255));
  for (uint8_t& b : shows_neighbour)
    b = static_cast<uint8_t>(std::clamp(b + int(rng() % 5) - 2, 0, 255));
  EXPECT_EQ(CompareWithNeighbour(shows_partner.data(), partner.data(), neighbour.data(),
                                 kThumbBytes, 2.0, 0.8),
            NeighbourVerdict::kBeats);
  EXPECT_EQ(CompareWithNeighbour(shows_neighbour.data(), partner.data(), neighbour.data(),
                                 kThumbBytes, 2.0, 0.8),
            NeighbourVerdict::kLoses);
}

TEST(AlignTest, RejectsBadInput) {
  const World world(50, 1);
  const Recording lr = Record(world, {}, 2, 1, 0);
  ThumbSequence a = lr.Thumbs();
  ThumbSequence b = lr.Thumbs();
  b.width = 32;
  auto result = Align(a, b, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  b = lr.Thumbs();
  b.size = 0;
  result = Align(a, b, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AlignTest, UnrelatedRecordingsAreRejected) {
  const World world_a(3000, 11);
  const World world_b(3000, 12);
  const Recording lr = Record(world_a, {}, 1, 1, 0);
  const Recording hr = Record(world_b, {}, 2, 1, 0);
  for (AlignMode mode : {AlignMode::kSequence, AlignMode::kGreedy}) {
    AlignOptions options;
    options.mode = mode;
    const auto result = Align(lr.Thumbs(), hr.Thumbs(), options);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("unrelated"), std::string::npos)
        << result.status().message();
  }
  // The same world with a different noise draw is related.
  const Recording again = Record(world_a, {}, 3, 1, 0);
  const auto related = Align(lr.Thumbs(), again.Thumbs(), {});
  ASSERT_TRUE(related.ok()) << related.status();
  std::printf("unrelated check: related best %.2f vs random %.2f per byte\n",
              related->stats.offset_distance, related->stats.random_distance);
}

TEST(AlignTest, IdenticalWorldWithoutDropsIsAlignedOneToOne) {
  const World world(2000, 5);
  const Recording lr = Record(world, {}, 1, 3, 10);
  const Recording hr = Record(world, {}, 2, 2, 7);
  const auto result = Align(lr.Thumbs(), hr.Thumbs(), {});
  ASSERT_TRUE(result.ok()) << result.status();
  const Score s = Evaluate(*result, lr, hr);
  EXPECT_EQ(result->stats.start_offset, 0);
  EXPECT_GE(s.precision, 0.999);
  EXPECT_GE(s.recall, 0.99);
  ExpectStrictlyIncreasing(*result);
}

// Every pair a gate refuses is reported with its gate (the report draws them), in order.
TEST(AlignTest, RefusedPairsAreListedWithTheirGate) {
  const World world(600, 5);
  const Recording lr = Record(world, {}, 1, 3, 10);
  const Recording hr = Record(world, {}, 2, 2, 7);
  AlignOptions strict;
  strict.max_residual = 0.5;  // below the recordings' noise: most pairs are refused
  const auto result = Align(lr.Thumbs(), hr.Thumbs(), strict);
  ASSERT_TRUE(result.ok()) << result.status();
  const AlignStats& st = result->stats;
  ASSERT_GT(st.rejected_residual, 100);
  ASSERT_EQ(static_cast<int64_t>(result->gated.size()), st.rejected());
  int64_t by_gate[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < result->gated.size(); ++i) {
    const GatedPair& g = result->gated[i];
    ++by_gate[static_cast<int>(g.gate)];
    if (g.gate == Gate::kResidual) {
      EXPECT_GT(g.residual, strict.max_residual);
    }
    if (i > 0) {
      EXPECT_GT(g.hr_frame, result->gated[i - 1].hr_frame);
    }
  }
  EXPECT_EQ(by_gate[1], st.rejected_spike);
  EXPECT_EQ(by_gate[2], st.rejected_residual);
  EXPECT_EQ(by_gate[3], st.rejected_ambiguous);
  EXPECT_EQ(static_cast<int64_t>(result->pairs.size()) + st.rejected(), st.matched);
}

// Both recordings carry noise (encodes; the LR thumbnail's aliasing), and the colour fit
// must report the gain between their colours, not shrink it by the share of noise in the
// LR variance: an ordinary regression of HR on LR read 0.92 on a real capture whose streams
// agree in colour, and the colour check refused it.
TEST(AlignTest, ColourGainIsTheGainAppliedDespiteNoiseOnBothSides) {
  const World world(600, 5);
  SideSpec clean;
  clean.noise = 0;
  for (const double gain : {1.0, 219.0 / 255}) {
    const double offset = gain == 1.0 ? 0 : 16;
    Recording lr = Record(world, clean, 1, 3, 10);
    Recording hr = Record(world, clean, 2, 2, 7);
    std::mt19937_64 rng(99);
    std::normal_distribution<double> noise(0, 8);
    double sum = 0, sum2 = 0;
    for (uint8_t& v : lr.pixels) {
      sum += v;
      sum2 += static_cast<double>(v) * v;
      v = static_cast<uint8_t>(std::clamp(std::lround(v + noise(rng)), 0L, 255L));
    }
    for (uint8_t& v : hr.pixels) {
      v = static_cast<uint8_t>(std::clamp(std::lround(gain * v + offset + noise(rng)), 0L, 255L));
    }
    const double n = static_cast<double>(lr.pixels.size());
    std::printf("gain %.3f: signal variance %.0f, noise variance %.0f on each side\n", gain,
                sum2 / n - (sum / n) * (sum / n), 8.0 * 8);
    const auto result = Align(lr.Thumbs(), hr.Thumbs(), {});
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_GT(result->stats.colour_samples, 0) << result->pairs.size() << " pairs";
    std::printf("  fitted gains %.3f %.3f %.3f\n", result->stats.colour_gain[0],
                result->stats.colour_gain[1], result->stats.colour_gain[2]);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(result->stats.colour_gain[c], gain, 0.02) << "channel " << c;
      EXPECT_NEAR(result->stats.colour_gain[c] * 128 + result->stats.colour_offset[c],
                  gain * 128 + offset, 2)
          << "channel " << c;
    }
  }
}

// Moments that the pictures cannot tell apart (the game showed the same picture for three
// moments, or moved less than the recordings' noise) are told apart by their timestamps: both
// recordings ran in real time, so HR time - LR time is locally constant. LR misses the middle
// moment of every other group of three, so each of its frames there could take either of two
// identical HR moments.
TEST(AlignTest, TimestampsPickBetweenMomentsThePicturesCannotTellApart) {
  constexpr int kGroups = 200;
  constexpr double kTic = 1.0 / 35;
  std::mt19937_64 rng(7);
  std::vector<std::vector<uint8_t>> picture(kGroups, std::vector<uint8_t>(kBytes));
  for (auto& p : picture) {
    for (uint8_t& b : p) b = static_cast<uint8_t>(rng() % 256);
  }
  struct Side {
    std::vector<int64_t> moment, index;
    std::vector<uint8_t> pixels;
    std::vector<double> time;
    ThumbSequence Thumbs(bool with_time) const {
      ThumbSequence s{kW, kH, index.data(), pixels.data(), moment.size()};
      if (with_time) s.time = time.data();
      return s;
    }
  };
  // Each side captures every moment (but LR's dropped ones) once, 0-4 ms late, with noise.
  auto record = [&](bool lr, double start) {
    Side side;
    for (int64_t m = 0; m < 3 * kGroups; ++m) {
      if (lr && m % 6 == 1) continue;
      side.moment.push_back(m);
      side.index.push_back(3 * m);
      side.time.push_back(start + kTic * static_cast<double>(m) +
                          0.004 * static_cast<double>(rng() % 1000) / 1000);
      const std::vector<uint8_t>& p = picture[static_cast<size_t>(m / 3)];
      for (uint8_t b : p) {
        side.pixels.push_back(
            static_cast<uint8_t>(std::clamp(int{b} + static_cast<int>(rng() % 5) - 2, 0, 255)));
      }
    }
    return side;
  };
  const Side lr = record(true, 3.0), hr = record(false, 3.021);
  auto wrong_pairs = [&](bool with_time, int64_t* pairs) {
    const auto result = Align(lr.Thumbs(with_time), hr.Thumbs(with_time), {});
    EXPECT_TRUE(result.ok()) << result.status();
    int64_t wrong = 0;
    for (const AlignedPair& p : result->pairs) wrong += p.lr_frame != p.hr_frame;
    *pairs = static_cast<int64_t>(result->pairs.size());
    return wrong;
  };
  int64_t pairs_without = 0, pairs_with = 0;
  // The premise: by pictures alone, some LR frames take the wrong one of two identical moments.
  EXPECT_GT(wrong_pairs(false, &pairs_without), 10);
  EXPECT_EQ(wrong_pairs(true, &pairs_with), 0);
  // Every LR frame keeps a partner (recall).
  EXPECT_GE(pairs_with, static_cast<int64_t>(lr.moment.size()) * 98 / 100);
}

TEST(AlignTest, WorldHasVideoLikeMotion) {
  // The scenarios below are only meaningful if consecutive frames differ like real video.
  const World world(6000, 21);
  std::vector<uint8_t> f0(kBytes), f1(kBytes);
  std::vector<double> diffs;
  for (int64_t w = 0; w + 1 < world.size(); ++w) {
    if (world.scene_of(w) != world.scene_of(w + 1)) continue;
    world.Render(w, f0.data());
    world.Render(w + 1, f1.data());
    diffs.push_back(ThumbDistance(f0.data(), f1.data(), kBytes));
  }
  std::sort(diffs.begin(), diffs.end());
  const auto pct = [&](double q) { return diffs[static_cast<size_t>(q * (diffs.size() - 1))]; };
  std::printf("world consecutive-frame distance: p1 %.2f p5 %.2f p20 %.2f p50 %.2f p95 %.2f\n",
              pct(0.01), pct(0.05), pct(0.2), pct(0.5), pct(0.95));
  EXPECT_GE(pct(0.5), 1.0);
  EXPECT_LE(pct(0.5), 6.0);
  EXPECT_LE(pct(0.1), 1.0);   // near-static stretches exist
  EXPECT_GE(pct(0.01), 0.3);  // but no duplicates: dedup removes those upstream
}

// ---------------------------------------------------------------------------------------------
// Ground-truth scenarios.

struct Scenario {
  const char* name;
  int64_t world_frames;
  SideSpec lr, hr;
  int min_scene = 300;
  int max_scene = 900;
  // The rate prior AlignSources derives from the streams: distinct HR per distinct LR frame.
  double rate_ratio = 0;
};

const Scenario kScenarios[] = {
    {"lr_starts_300_early", 6000, {.runs = 4, .singles = 0.01}, {.start = 300, .runs = 4}},
    {"hr_starts_450_early", 6000, {.start = 450, .runs = 4}, {.runs = 4, .singles = 0.01}},
    {"drop_runs_both_sides", 6000, {.runs = 12}, {.runs = 12}},
    {"scattered_singles_3pct", 6000, {.singles = 0.03}, {.singles = 0.03}},
    {"different_ends", 6000, {.runs = 3, .singles = 0.02}, {.end_trim = 200, .runs = 3}},
    {"short_scenes", 6000, {.runs = 6, .singles = 0.02}, {.runs = 6, .singles = 0.02}, 40, 200},
    {"everything",
     8000,
     {.start = 300, .runs = 10, .singles = 0.03},
     {.end_trim = 200, .runs = 10, .singles = 0.03}},
    {"noise_varies_per_frame",
     6000,
     {.runs = 6, .singles = 0.02, .noise_varies = true},
     {.start = 200, .runs = 6, .singles = 0.02, .noise_varies = true}},
    // A drop every 97 frames moves the offset by 8 within the coarse search's 800-frame window:
    // the start must still be found (a fixed-offset score sees the true offset for 1/8 of it).
    {"periodic_drops_lr_late", 6000, {.start = 45, .every = 97}, {.runs = 2}},
    {"everything_hr_early",
     8000,
     {.end_trim = 250, .runs = 10, .singles = 0.04},
     {.start = 450, .runs = 10, .singles = 0.02}},
    // Stalls longer than the band on each side: LR misses 700 moments, later HR misses 650.
    // The path is lost after each and found again by a new coarse search.
    {"long_gap_each_side",
     8000,
     {.runs = 4, .singles = 0.01, .gap_at = 2000, .gap_len = 700},
     {.start = 100, .runs = 4, .gap_at = 5000, .gap_len = 650}},
    // A stall a few seconds in (LR frozen for 600 moments after 150) and a second one later
    // on the other side: most of the coarse window agrees on the offset after the first gap,
    // so the footage before it must be searched for on its own, and after the second gap
    // little footage is left to find the offset with.
    {"stall_near_start_then_other_side",
     1800,
     {.runs = 2, .gap_at = 150, .gap_len = 600},
     {.runs = 2, .gap_at = 1000, .gap_len = 600},
     100,
     300},
    // Different render rates: the faster recording's extra frames stay unpaired.
    {"lr_renders_at_half_rate",
     6000,
     {.runs = 3, .singles = 0.01, .render_every = 2},
     {.start = 120, .runs = 3},
     300,
     900,
     2.0},
    {"hr_renders_at_half_rate",
     6000,
     {.start = 80, .runs = 3},
     {.runs = 3, .singles = 0.01, .render_every = 2},
     300,
     900,
     0.5},
    // A 35 fps game captured at 30 fps (LR misses one moment in seven) and at 60 (HR has all).
    {"game_35fps_captured_30_and_60",
     6000,
     {.runs = 2, .every = 7},
     {.start = 60, .runs = 2},
     300,
     900,
     7.0 / 6.0},
};

struct ScenarioRun {
  Score sequence, greedy, sequence_no_spike;
  AlignStats stats;
};

ScenarioRun RunScenario(const Scenario& sc, uint64_t seed) {
  const World world(sc.world_frames, seed, sc.min_scene, sc.max_scene);
  const Recording lr = Record(world, sc.lr, seed * 3 + 1, 3, 100);
  const Recording hr = Record(world, sc.hr, seed * 3 + 2, 2, 7);
  ScenarioRun run;
  AlignOptions options;
  options.rate_ratio = sc.rate_ratio;
  auto seq = Align(lr.Thumbs(), hr.Thumbs(), options);
  EXPECT_TRUE(seq.ok()) << seq.status();
  if (!seq.ok()) return run;
  ExpectStrictlyIncreasing(*seq);
  run.sequence = Evaluate(*seq, lr, hr);
  run.stats = seq->stats;
  options.spike_ratio = 0;
  options.neighbour_margin = 0;
  auto raw = Align(lr.Thumbs(), hr.Thumbs(), options);
  EXPECT_TRUE(raw.ok()) << raw.status();
  if (raw.ok()) run.sequence_no_spike = Evaluate(*raw, lr, hr);
  options = AlignOptions{};
  options.mode = AlignMode::kGreedy;
  auto greedy = Align(lr.Thumbs(), hr.Thumbs(), options);
  EXPECT_TRUE(greedy.ok()) << greedy.status();
  if (greedy.ok()) {
    ExpectStrictlyIncreasing(*greedy);
    run.greedy = Evaluate(*greedy, lr, hr);
  }
  return run;
}

double F1(const Score& s) {
  return s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
}

void PrintTo(const Scenario& sc, std::ostream* os) { *os << sc.name; }

class ScenarioTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(ScenarioTest, SequenceIsAccurateAndBeatsGreedy) {
  const Scenario& sc = GetParam();
  for (uint64_t seed : {1, 2}) {
    const ScenarioRun run = RunScenario(sc, seed);
    std::printf(
        "%-24s seed %d | sequence P %.4f R %.4f (no spike or neighbour filter P %.4f R %.4f) | "
        "greedy P %.4f "
        "R %.4f | matchable %lld offset %lld T %.2f reanchors %lld ambiguous %lld\n",
        sc.name, static_cast<int>(seed), run.sequence.precision, run.sequence.recall,
        run.sequence_no_spike.precision, run.sequence_no_spike.recall, run.greedy.precision,
        run.greedy.recall, static_cast<long long>(run.sequence.matchable),
        static_cast<long long>(run.stats.start_offset), run.stats.match_threshold,
        static_cast<long long>(run.stats.reanchors),
        static_cast<long long>(run.stats.rejected_ambiguous));
    EXPECT_GE(run.sequence.precision, 0.995) << sc.name << " seed " << seed;
    EXPECT_GE(run.sequence.recall, 0.98) << sc.name << " seed " << seed;
    // Without a start offset greedy can be near perfect too; it must never be clearly better.
    EXPECT_GE(F1(run.sequence), F1(run.greedy) - 0.001) << sc.name << " seed " << seed;
    if (sc.lr.start > 0 || sc.hr.start > 0) {
      EXPECT_GT(F1(run.sequence), F1(run.greedy)) << sc.name << " seed " << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, ScenarioTest, ::testing::ValuesIn(kScenarios),
                         [](const auto& info) { return std::string(info.param.name); });

// Modelled on tests/support/footage.h's HardSpec, the encoded footage where alignment first
// fell short (precision 0.85): a recording short enough to fit whole in the coarse search
// window, LR 300 frames late, dense drop runs of up to 40 frames on both sides (so the offset
// drifts by tens of frames within that window), HR ending early, short scenes. The match
// threshold used to be measured within +-24 frames of the coarse offset line; here that
// measured unrelated frames for many samples, T came out several times the true-match level
// (6.96 here, 14 on the footage) and pass 1 paired frames that exist on one side only.
// Precision and recall are checked at 0.99: ~550 matchable pairs leave no room for the
// one-frame shifts at near-static drop junctions (see align.h step 5) that the long scenarios
// above average out; the threshold bound is the regression check.
TEST(AlignTest, DenseDropsInShortRecordingKeepThresholdAtTrueMatchLevel) {
  const Scenario sc{"dense_drops_short_recording",
                    1300,
                    {.start = 300, .runs = 10, .singles = 0.02},
                    {.end_trim = 110, .runs = 10, .singles = 0.02},
                    60,
                    130};
  for (uint64_t seed : {1, 2, 3}) {
    const ScenarioRun run = RunScenario(sc, seed);
    std::printf("%s seed %d | sequence P %.4f R %.4f | greedy P %.4f R %.4f | offset %lld T %.2f\n",
                sc.name, static_cast<int>(seed), run.sequence.precision, run.sequence.recall,
                run.greedy.precision, run.greedy.recall,
                static_cast<long long>(run.stats.start_offset), run.stats.match_threshold);
    // True matches differ by ~0.8 per byte (+-2 noise on both sides, 2x2 block averages) and
    // consecutive frames by ~3: T = max(2m, (m + n) / 2) is about 2.
    EXPECT_LE(run.stats.match_threshold, 3.0) << "seed " << seed;
    EXPECT_GE(run.sequence.precision, 0.99) << "seed " << seed;
    EXPECT_GE(run.sequence.recall, 0.99) << "seed " << seed;
    EXPECT_GT(F1(run.sequence), F1(run.greedy)) << "seed " << seed;
  }
}

TEST(AlignTest, TwentyThousandFramesComplete) {
  const Scenario sc{"large",
                    21000,
                    {.start = 300, .runs = 25, .singles = 0.03},
                    {.end_trim = 200, .runs = 25, .singles = 0.03}};
  const World world(sc.world_frames, 99);
  const Recording lr = Record(world, sc.lr, 1, 1, 0);
  const Recording hr = Record(world, sc.hr, 2, 1, 0);
  const auto start = std::chrono::steady_clock::now();
  const auto result = Align(lr.Thumbs(), hr.Thumbs(), {});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(result.ok()) << result.status();
  const Score s = Evaluate(*result, lr, hr);
  std::printf("large: %zu x %zu frames aligned in %.3f s, P %.4f R %.4f\n", lr.world.size(),
              hr.world.size(), seconds, s.precision, s.recall);
  EXPECT_GE(s.precision, 0.995);
  EXPECT_GE(s.recall, 0.98);
}

}  // namespace
}  // namespace framepair
