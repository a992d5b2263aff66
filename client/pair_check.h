// Checks a footage pair from its stream headers (a probe: milliseconds, no decoding) before
// `run` decodes it or `submit` uploads it, with messages that name the flag to change:
// "--lr and --hr look swapped", "HR is 2x LR: use --scale 2".
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace framepair::cli {

// `lr` is empty for --hr-only. INVALID_ARGUMENT naming the files and the flag to change;
// the probe's own errors (NOT_FOUND, INVALID_ARGUMENT naming the file) otherwise.
absl::Status CheckPairLocally(const std::string& lr, const std::string& hr, int scale,
                              int64_t max_frame_pixels);

}  // namespace framepair::cli
