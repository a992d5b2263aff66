// Files that carry a job's intermediate results between workers through shared storage
// (proto/framepair/v1/artifacts.proto). Every write is atomic (util/file.h), so a reader sees
// a complete artifact or none. The round trip is exact: a step fed a loaded artifact produces
// the same bytes as `framepair run` feeding it from memory.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "align/align.h"
#include "framepair/v1/manifest.pb.h"
#include "ingest/ingest.h"
#include "sample/sample.h"
#include "scene/scene.h"

namespace framepair {

// A frame table with the manifest identity of its source.
struct StoredFrameTable {
  FrameTable table;
  framepair::v1::SourceEntry source;
};

absl::Status WriteFrameTable(const std::string& path, const FrameTable& table,
                             const framepair::v1::SourceEntry& source);
// with_thumbs = false skips the thumbnails (the bulk of the file) for steps that only need
// frame positions. Errors name the file (DATA_LOSS for a damaged or foreign file).
absl::StatusOr<StoredFrameTable> ReadFrameTable(const std::string& path, bool with_thumbs = true);

// Step 2's output: the aligned pairs (without LR, every kept HR frame pairs with itself).
struct AlignOutput {
  std::vector<AlignedPair> pairs;
  std::vector<GatedPair> gated;  // matched pairs a gate refused (the report draws them)
  AlignStats stats;  // stored: the gates' counts, reanchors, rate ratio, mean residual, offset
  std::vector<std::string> warnings;  // for the user: shown in the summary and the manifest
};

absl::Status WritePairs(const std::string& path, const AlignOutput& aligned);
absl::StatusOr<AlignOutput> ReadPairs(const std::string& path);

struct WindowPlan {
  std::vector<Segment> segments;
  int64_t scenes = 0;
  // Sorted by (shard, start); validation windows (--val-windows) carry ValidationShard().
  std::vector<Window> windows;
  int shards = 1;
  framepair::v1::Accounting accounting;  // of the whole run so far (pipeline/accounting.h)

  // The windows of one shard, in start order.
  std::vector<Window> WindowsOfShard(int shard) const;
  // The pseudo-shard of the validation windows: one past the training shards.
  int ValidationShard() const { return shards; }
};

absl::Status WriteWindowPlan(const std::string& path, const WindowPlan& plan);
absl::StatusOr<WindowPlan> ReadWindowPlan(const std::string& path);

}  // namespace framepair
