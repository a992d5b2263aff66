#include "media/decode_plan.h"

#include <algorithm>

namespace framepair {

int64_t KeyframeAtOrBefore(const std::vector<FramePosition>& positions, int64_t index) {
  for (int64_t i = index; i > 0; --i) {
    if (positions[static_cast<size_t>(i)].keyframe) return i;
  }
  return 0;
}

DecodePlan PlanDecode(std::vector<int64_t> needed, const std::vector<FramePosition>& positions) {
  DecodePlan plan;
  std::sort(needed.begin(), needed.end());
  needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
  // Runs [keyframe(f), f] are sorted by both ends, so each adds what lies past the previous.
  int64_t decoded_to = -1;  // last frame the walk has produced
  for (int64_t f : needed) {
    // A keyframe past the next frame the walk would produce: seeking there skips the frames in
    // between (a fresh decoder stands before frame 0).
    const int64_t keyframe = KeyframeAtOrBefore(positions, f);
    if (keyframe > decoded_to + 1) ++plan.seeks;
    plan.minimum_decodes += f - std::max(keyframe, decoded_to + 1) + 1;
    decoded_to = f;
  }
  plan.frames = std::move(needed);
  return plan;
}

}  // namespace framepair
