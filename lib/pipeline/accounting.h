// Where every frame went between decoding and the shards, per recording: the one builder of
// the accounting that `framepair run`'s summary, --json and manifest, and the coordinator's
// manifest all show. Nothing is dropped silently: frames no pair uses are counted and their
// longest runs named, in source frame numbers and seconds.
#pragma once

#include <string>
#include <vector>

#include "align/align.h"
#include "framepair/v1/manifest.pb.h"
#include "ingest/ingest.h"
#include "sample/sample.h"
#include "scene/scene.h"

namespace framepair {

// A recording with more than this fraction of its distinct frames unpaired gets a warning.
inline constexpr double kUnpairedWarnFraction = 0.05;
// Longest unpaired runs listed per recording.
inline constexpr int kLongestUnpairedRanges = 5;

// `lr` is null for HR-only footage. `align_warnings` are the align step's own (colour).
framepair::v1::Accounting BuildAccounting(const FrameTable* lr, const FrameTable& hr,
                                          const std::vector<AlignedPair>& pairs,
                                          const AlignStats& align,
                                          const std::vector<std::string>& align_warnings,
                                          const SceneStats& scene, const SampleStats& sample);

// "frames 1200-1799 (20.00-29.98 s)" for messages.
std::string DescribeRange(const framepair::v1::UnpairedRange& range);

}  // namespace framepair
