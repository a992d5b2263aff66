// The pipeline steps as functions over in-memory artifacts. `framepair run` (pipeline.h) calls
// them in sequence in one process; the worker services (services/) call the same functions on
// artifacts loaded from shared storage (artifacts.h). One implementation of each step, so both
// paths write the same bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "align/align.h"
#include "framepair/v1/manifest.pb.h"
#include "ingest/ingest.h"
#include "pipeline/artifacts.h"
#include "sample/sample.h"
#include "scene/scene.h"

namespace framepair {

// Step 1: decode one video into its frame table, and identify the file for the manifest
// (sha256, size, codec, colour, duplicate and damage counts). `role` is "lr" or "hr".
absl::StatusOr<StoredFrameTable> IngestSource(const std::string& role, const std::string& path,
                                              const IngestOptions& options,
                                              const ProgressFn& progress,
                                              const std::atomic<bool>* cancel);

// Between steps 1 and 2: the two recordings can make a dataset. HR must be exactly scale x LR
// (or divisible by scale when there is no LR), and each must have enough distinct frames for
// one window. INVALID_ARGUMENT naming the files and what to change.
absl::Status CheckSources(const FrameTable* lr, const FrameTable& hr, int scale, int window);

// Step 2: aligned pairs (AlignOutput in artifacts.h).
absl::StatusOr<AlignOutput> AlignSources(const FrameTable* lr, const FrameTable& hr,
                                         const AlignOptions& options);

// Thumbnails of the pairs' frames on the side scene detection reads (LR; HR when there is no
// LR), in pair order: a view into the frame table's thumbnails (no copy), valid while the
// table lives. INVALID_ARGUMENT if a pair's frame is not a kept frame of the table.
struct PairThumbs {
  std::vector<size_t> positions;  // kept position of each pair's frame
  ThumbSequence sequence;         // points into `positions`: do not copy, only move
  PairThumbs() = default;
  PairThumbs(PairThumbs&&) = default;
  PairThumbs& operator=(PairThumbs&&) = default;
  PairThumbs(const PairThumbs&) = delete;
  PairThumbs& operator=(const PairThumbs&) = delete;
};
absl::StatusOr<PairThumbs> PairThumbsOf(const FrameTable& table,
                                        const std::vector<AlignedPair>& pairs, bool use_hr_index);

// Steps 3 and 4a: segments (scene cuts, continuity breaks, damaged ranges), the seeded
// windows of every shard, and the accounting of the whole run (accounting.h). `pair_thumbs`
// holds one thumbnail per pair (PairThumbsOf); lr/hr need no thumbnails (their kept frames and
// damaged ranges are read). `names` prefixes error messages (the inputs).
absl::StatusOr<WindowPlan> PlanWindows(const ThumbSequence& pair_thumbs, const FrameTable* lr,
                                       const FrameTable& hr, const AlignOutput& aligned,
                                       const SceneOptions& scene, const SampleOptions& sample,
                                       const std::string& names);

// The manifest identity of an ingested source.
framepair::v1::SourceEntry SourceEntryFor(const std::string& role, const std::string& path,
                                          const std::string& sha256, int64_t bytes,
                                          const FrameTable& table);

}  // namespace framepair
