#include "sample/sample.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

// Uniform integer in [0, n) by rejection on full 64-bit draws (the arc4random_uniform
// scheme). std::uniform_int_distribution would be shorter, but its algorithm is left to the
// standard library, and shards must be byte-identical whichever library built the binary;
// std::mt19937_64's output sequence itself is fixed by the standard.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  // 2^64 mod n: values below it would make the low residues more likely.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

}  // namespace

uint64_t ValidationSeed(uint64_t seed) { return seed ^ 0x76616c6964617465ULL; /* "validate" */ }

absl::StatusOr<SceneSplit> HoldOutScenes(const std::vector<Segment>& segments,
                                         const std::vector<int64_t>& scene_of_segment, int window,
                                         int64_t windows, double density, uint64_t seed) {
  if (scene_of_segment.size() != segments.size() || window < 1 || windows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid validation split: ", segments.size(), " segments, ", scene_of_segment.size(),
        " scene numbers, window ", window, ", ", windows, " windows"));
  }
  // Window starts per scene, in scene order.
  std::vector<std::pair<int64_t, int64_t>> starts;  // (scene, eligible starts)
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0 && scene_of_segment[i] < scene_of_segment[i - 1]) {
      return absl::InvalidArgumentError("scene numbers of segments must not decrease");
    }
    const int64_t n = std::max<int64_t>(0, segments[i].size() - window + 1);
    if (n == 0) continue;
    if (starts.empty() || starts.back().first != scene_of_segment[i]) {
      starts.push_back({scene_of_segment[i], 0});
    }
    starts.back().second += n;
  }
  if (starts.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        starts.size(), " scene(s) have room for a window of ", window,
        " pairs; a validation split holds out whole scenes and needs at least two (use longer "
        "footage, or drop --val-windows/--val-fraction)"));
  }
  if (!(density > 0) || !std::isfinite(density)) density = 1;
  density = std::min(density, 1.0);
  const double need = std::ceil(static_cast<double>(windows) / density);

  std::vector<size_t> order(starts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  SceneSplit split;
  std::vector<bool> held(starts.size(), false);
  for (size_t k = 0; k + 1 < order.size() && static_cast<double>(split.eligible_starts) < need;
       ++k) {
    const size_t j = k + static_cast<size_t>(UniformBelow(rng, order.size() - k));
    std::swap(order[k], order[j]);
    held[order[k]] = true;
    split.eligible_starts += starts[order[k]].second;
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    if (held[i]) split.held_out.push_back(starts[i].first);
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    const bool out =
        std::binary_search(split.held_out.begin(), split.held_out.end(), scene_of_segment[i]);
    (out ? split.validation : split.train).push_back(segments[i]);
  }
  return split;
}

absl::StatusOr<SampleResult> SampleWindows(const std::vector<Segment>& segments,
                                           const std::vector<double>& motion,
                                           const SampleOptions& options) {
  if (options.window < 1 || options.shards < 1 || options.windows < 0 || !(options.density >= 0) ||
      !std::isfinite(options.density)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid sample options: window ", options.window, ", shards ", options.shards,
                     ", windows ", options.windows, ", density ", options.density,
                     " (need window >= 1, shards >= 1, windows >= 0, finite density >= 0)"));
  }
  int64_t prev_end = 0;
  int64_t longest = 0;
  for (const Segment& s : segments) {
    if (s.begin < prev_end || s.end < s.begin) {
      return absl::InvalidArgumentError(absl::StrCat("segments must be ordered and disjoint; got [",
                                                     s.begin, ", ", s.end, ") after end ",
                                                     prev_end));
    }
    prev_end = s.end;
    longest = std::max(longest, s.size());
  }
  if (longest < options.window) {
    return absl::InvalidArgumentError(absl::StrCat("longest usable segment is ", longest,
                                                   " pairs; a window needs ", options.window));
  }
  const bool filter_static = options.min_motion > 0 && options.window > 1;
  if (filter_static && static_cast<int64_t>(motion.size()) < prev_end - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "static filter needs ", prev_end - 1, " motion values (pairs - 1); got ", motion.size()));
  }

  SampleResult result;
  // Every start whose window [s, s + window) lies inside one segment: the first pair of a
  // segment may start a window and its last pair may end one.
  std::vector<int64_t> eligible;
  for (const Segment& s : segments) {
    for (int64_t start = s.begin; start + options.window <= s.end; ++start) {
      eligible.push_back(start);
    }
  }
  const int64_t n = static_cast<int64_t>(eligible.size());
  result.stats.eligible_starts = n;
  result.stats.requested =
      options.windows > 0
          ? options.windows
          : static_cast<int64_t>(std::llround(options.density * static_cast<double>(n)));

  // Mean motion of a window from a prefix sum, so the filter costs O(1) per candidate.
  std::vector<double> motion_prefix;
  if (filter_static) {
    motion_prefix.assign(static_cast<size_t>(prev_end), 0.0);
    for (int64_t i = 0; i + 1 < prev_end; ++i) motion_prefix[i + 1] = motion_prefix[i] + motion[i];
  }
  auto is_static = [&](int64_t start) {
    const int64_t steps = options.window - 1;
    const double sum = motion_prefix[start + steps] - motion_prefix[start];
    return sum / static_cast<double>(steps) < options.min_motion;
  };

  // Drawing with replacement and dropping repeats until k distinct starts are in hand gives
  // the same distribution as the first k steps of a Fisher-Yates shuffle; the shuffle is
  // used because it needs exactly one draw per candidate and ends by itself when the
  // eligible set runs out.
  std::vector<bool> occupied;
  if (options.overlap == OverlapPolicy::kDisjoint)
    occupied.assign(static_cast<size_t>(prev_end), false);
  std::mt19937_64 rng(options.seed);
  std::vector<int64_t> accepted;
  for (int64_t k = 0; k < n && static_cast<int64_t>(accepted.size()) < result.stats.requested;
       ++k) {
    const int64_t j = k + static_cast<int64_t>(UniformBelow(rng, static_cast<uint64_t>(n - k)));
    std::swap(eligible[k], eligible[j]);
    const int64_t start = eligible[k];
    ++result.stats.drawn;
    if (filter_static && is_static(start)) {
      ++result.stats.rejected_static;
      continue;
    }
    if (options.overlap == OverlapPolicy::kDisjoint) {
      const auto first = occupied.begin() + start;
      const auto last = first + options.window;
      if (std::find(first, last, true) != last) continue;
      std::fill(first, last, true);
    }
    accepted.push_back(start);
  }

  // Contiguous blocks in start order: shard k takes windows [k*n/K, (k+1)*n/K). Overlapping
  // windows then share a shard, so each distinct frame is decoded and PNG-encoded once, and a
  // packer decodes one stretch of each video instead of seeking across all of it. Training
  // interleaves shards and shuffles records, which restores the mixing. Sizes differ by <= 1.
  std::sort(accepted.begin(), accepted.end());
  result.windows.reserve(accepted.size());
  const size_t count = accepted.size();
  const size_t shards = static_cast<size_t>(options.shards);
  for (size_t k = 0; k < count; ++k) {
    result.windows.push_back({accepted[k], static_cast<int>(k * shards / count)});
  }
  return result;
}

}  // namespace framepair
