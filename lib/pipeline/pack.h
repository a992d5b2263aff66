// Pipeline step 4b: pack sampled windows into one TFRecord shard. Decodes only the frames the
// windows need, in increasing order and each once (media/decode_plan.h), converts them to RGB
// with the stream's colour matrix, encodes each distinct frame to PNG exactly once and reuses
// the bytes for every window that shares it, and streams examples into the shard file.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "align/align.h"
#include "framepair/v1/manifest.pb.h"
#include "ingest/ingest.h"
#include "png/png.h"
#include "sample/sample.h"

namespace framepair {

enum class ExampleFormat {
  kPair,    // features `input` (LR PNGs) and `target` (HR PNGs)
  kSingle,  // feature `images` (HR PNGs); training derives LR itself (HR-only footage)
};

struct PackOptions {
  int window = 10;
  int scale = 4;
  // LR made from HR by nearest-neighbour downscale (pixel (s*x, s*y)); the LR table is unused.
  bool hr_only = false;
  ExampleFormat format = ExampleFormat::kPair;
  // Adds int64 lists `input_frame` / `target_frame`: the source frame index of each PNG.
  bool provenance = true;
  PngOptions png;
  bool gzip = false;
  int threads = 0;  // PNG encoder threads; 0 = hardware concurrency
  // Each recording's colour tags as ingest used them (RunOptions::lr_colour / hr_colour).
  ColourOverride lr_colour;
  ColourOverride hr_colour;
  // Limits for the decoders (max_frame_pixels; PackShard adds its cancel flag).
  DecoderOptions decoder;
};

struct PackCounters {
  int64_t frames_decoded = 0;  // all frames the decoders produced (including skipped ones)
  int64_t seeks = 0;
  // Distinct frames the windows need from the decoders, and the fewest frames any decoder must
  // produce to reach them (PlanDecode: each from its keyframe, no frame twice). frames_decoded
  // above the minimum means decoding was wasted; frames_decoded / frames_needed is what sparse
  // windows cost.
  int64_t frames_needed = 0;
  int64_t frames_decoded_minimum = 0;
  int64_t distinct_lr_frames = 0;
  int64_t distinct_hr_frames = 0;
  int64_t pngs_encoded = 0;
  int64_t png_bytes = 0;  // sum of the sizes of the PNGs encoded (each distinct frame once)
  int64_t examples = 0;
  int64_t bytes = 0;

  void Add(const PackCounters& other);
};

// What a packer needs to know about a footage pair (references, never frames).
struct PackInput {
  std::string lr_path;
  std::string hr_path;
  const FrameTable* lr = nullptr;  // null when hr_only
  const FrameTable* hr = nullptr;
  const std::vector<AlignedPair>* pairs = nullptr;
};

using PackProgressFn = std::function<void(int64_t windows_done)>;

struct PackedShard {
  framepair::v1::ShardEntry entry;  // file name, examples, bytes, sha256
  PackCounters counters;
};

// Writes the windows (all of one shard, sorted by start) as one complete shard file
// `dir/file_name`, atomically: on any error nothing is left at that name.
absl::StatusOr<PackedShard> PackShard(const PackInput& input, const std::vector<Window>& windows,
                                      const PackOptions& options, const std::string& dir,
                                      const std::string& file_name,
                                      const PackProgressFn& progress = nullptr,
                                      const std::atomic<bool>* cancel = nullptr);

}  // namespace framepair
