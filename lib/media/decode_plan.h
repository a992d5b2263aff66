// What decoding a set of frames costs at the least, from the frame table: a decoder reaches a
// frame only by decoding forward from the keyframe at or before it, so the cheapest walk over
// sorted frames decodes the union of the runs [keyframe(f), f]. VideoDecoder::DecodeAt walks
// exactly that when called in plan order: it seeks only when the next frame lies past the
// next keyframe. The packer compares what its decoders counted with this minimum.
#pragma once

#include <cstdint>
#include <vector>

#include "media/video.h"

namespace framepair {

// Index of the last keyframe at or before `index` (0 if none: decoding starts at frame 0).
int64_t KeyframeAtOrBefore(const std::vector<FramePosition>& positions, int64_t index);

struct DecodePlan {
  std::vector<int64_t> frames;  // the needed frames, sorted, each once
  int64_t minimum_decodes = 0;  // frames any decoder must produce to reach all of them
  int64_t seeks = 0;            // runs that start past the previous one's end (new GOPs)
};

// Plans decoding `needed` (any order, repeats allowed; every index must be inside
// `positions`).
DecodePlan PlanDecode(std::vector<int64_t> needed, const std::vector<FramePosition>& positions);

}  // namespace framepair
