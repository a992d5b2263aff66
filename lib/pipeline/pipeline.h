// `framepair run`: the whole pipeline for one footage pair, in process. Each step lives in its
// own library (ingest, align, scene, sample, pack); this file only sequences them, validates
// what crosses between them, and publishes the dataset directory.
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
#include "pipeline/pack.h"
#include "sample/sample.h"
#include "scene/scene.h"
#include "util/version.h"

namespace framepair {

struct RunOptions {
  std::string lr_path;  // ignored when hr_only
  std::string hr_path;
  std::string out_dir;
  int scale = 4;
  int shards = 1;
  bool gzip = false;
  // --name-template (dataset/dataset.h); empty: train_{shard}-of-{shards}.
  std::string name_template;
  // Worker threads for decoding and PNG encoding; 0 = hardware concurrency.
  int threads = 0;
  IngestOptions ingest;  // ingest.decoder.max_frame_pixels (--max-frame-pixels) also bounds pack
  // Colour tags to use instead of each recording's own (--lr-range, --hr-matrix, ...).
  ColourOverride lr_colour;
  ColourOverride hr_colour;
  // Areas left out of duplicate decisions and analysis thumbnails (--ignore-region), in LR
  // pixels; the HR recording uses them times `scale` (IngestOptionsFor).
  std::vector<PixelRect> ignore_regions;
  AlignOptions align;
  SceneOptions scene;
  SampleOptions sample;  // sample.shards is overwritten by `shards`
  PackOptions pack;      // pack.scale / hr_only / window are filled from the above
};

// Receives progress from long stages. Called from worker threads; implementations must be
// thread-safe. `total` is 0 when unknown.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void StageStarted(const std::string& stage) = 0;
  virtual void StageProgress(const std::string& stage, int64_t done, int64_t total) = 0;
  virtual void StageFinished(const std::string& stage, double seconds) = 0;
  // The stage ended without finishing (an error, or cancellation): it must not be shown as
  // done. Called instead of StageFinished.
  virtual void StageStopped(const std::string& stage, double seconds) {
    (void)stage;
    (void)seconds;
  }
};

struct StageTime {
  std::string stage;
  double seconds = 0;
  int64_t peak_rss_bytes = 0;  // process peak resident memory when the stage ended
};

struct RunSummary {
  int64_t lr_frames_decoded = 0;
  int64_t hr_frames_decoded = 0;
  int64_t lr_duplicates = 0;
  int64_t hr_duplicates = 0;
  int64_t corrupt_frames = 0;        // both sides; damaged ranges were skipped
  std::vector<std::string> damaged;  // human-readable description per damaged range
  int64_t pairs_aligned = 0;
  int64_t pairs_rejected = 0;
  int64_t scenes = 0;
  int64_t windows = 0;  // training windows
  int64_t validation_windows = 0;
  int64_t shards = 0;
  int64_t bytes = 0;
  PackCounters pack;
  // Per recording, where every frame went; warnings the user should read (also in the
  // manifest).
  framepair::v1::Accounting accounting;
  std::vector<StageTime> stages;
  std::string manifest_path;
};

// Runs everything and publishes `out_dir` (see dataset/dataset.h for the atomicity rules).
// Errors name the offending file: INVALID_ARGUMENT for bad input or options, NOT_FOUND for a
// missing input, PERMISSION_DENIED/FAILED_PRECONDITION for an unusable output directory.
// `published`, if set, is called once the dataset is complete in a local directory (`out_dir`,
// or the scratch directory of an object-store run) with that directory: what it writes there
// named kReportSidecarName or kReportPageName (pipeline/sidecar.h) is published with the dataset,
// before its manifest.
using PublishedFn = std::function<void(const std::string& local_dir)>;
absl::StatusOr<RunSummary> RunPipeline(const RunOptions& options, ProgressSink* progress,
                                       const std::atomic<bool>* cancel = nullptr,
                                       const PublishedFn& published = nullptr);

}  // namespace framepair
