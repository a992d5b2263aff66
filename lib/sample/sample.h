// Pipeline step 4a: choose windows of N consecutive aligned pairs inside segments, seeded,
// and assign them to shards. Deterministic: same inputs + options => same windows.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "scene/scene.h"

namespace framepair {

enum class OverlapPolicy {
  kAllow,     // windows may share frames (draws with replacement, duplicates removed)
  kDisjoint,  // no two windows share a pair
};

struct SampleOptions {
  int window = 10;      // N consecutive pairs per window
  int64_t windows = 0;  // how many windows to draw; 0 = use density
  // When windows == 0: round(density * eligible starts) windows (before the static filter).
  double density = 0.1;
  uint64_t seed = 0;  // drives a std::mt19937_64; same seed => same windows on any platform
  OverlapPolicy overlap = OverlapPolicy::kAllow;
  // Optional static filter: reject windows whose mean consecutive thumbnail distance is
  // below this (mean absolute difference per byte). <= 0 disables; never applies when
  // window == 1 (no steps to measure).
  double min_motion = 0;
  // Windows are assigned to shards in contiguous blocks of start order (sizes differ by at
  // most one), so windows that share frames share a shard.
  int shards = 1;
  // Validation split (--val-windows, --val-fraction): windows drawn from whole scenes that
  // no training window touches. val_fraction gives round(val_fraction x the training windows
  // requested) when val_windows is 0. Both 0: no split.
  int64_t val_windows = 0;
  double val_fraction = 0;
};

// The seed of the validation draw: a stream of its own, so asking for a split changes which
// scenes training sees but no other seed-driven choice.
uint64_t ValidationSeed(uint64_t seed);

struct Window {
  int64_t start = 0;  // position of the first pair in the aligned pair list
  int shard = 0;
};

struct SampleStats {
  int64_t eligible_starts = 0;  // starts whose window fits inside one segment
  int64_t requested = 0;        // windows, or round(density * eligible_starts)
  int64_t drawn = 0;            // distinct starts drawn (accepted or not)
  int64_t rejected_static = 0;  // drawn starts refused by the static filter
};

struct SampleResult {
  std::vector<Window> windows;  // sorted by (shard, start)
  SampleStats stats;
};

// `motion[i]` is the thumbnail distance between pair i and pair i+1 (size pairs-1), used only
// by the static filter (may be empty when min_motion <= 0). Returns fewer than `requested`
// windows when the eligible starts run out (or, with kDisjoint, there is no room left).
// INVALID_ARGUMENT when no segment is long enough for one window (the message gives the
// longest segment), for unordered segments, or options out of range. Pure; thread-safe.
// Scenes held out for validation.
struct SceneSplit {
  std::vector<int64_t> held_out;           // scene numbers, ascending
  std::vector<Segment> train, validation;  // the segments of the other and the held-out scenes
  int64_t eligible_starts = 0;             // window starts inside the held-out scenes
};

// Holds whole scenes out for `windows` validation windows. `scene_of_segment[i]` is the scene
// of segments[i] (non-decreasing). Scenes with room for a window are taken in a seeded random
// order until they hold `windows / density` window starts (validation gets the spacing
// training gets; `density` = training windows per eligible start, clamped to (0, 1]), but
// at least one such scene always stays with training. INVALID_ARGUMENT when fewer than two
// scenes have room for a window (the message says what to change). Pure; thread-safe.
absl::StatusOr<SceneSplit> HoldOutScenes(const std::vector<Segment>& segments,
                                         const std::vector<int64_t>& scene_of_segment, int window,
                                         int64_t windows, double density, uint64_t seed);

absl::StatusOr<SampleResult> SampleWindows(const std::vector<Segment>& segments,
                                           const std::vector<double>& motion,
                                           const SampleOptions& options);

}  // namespace framepair
