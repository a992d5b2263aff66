// Identity of an input for the manifest: sha256 and size of a video file, or of the files of
// an image sequence (a directory of *.png, or a printf pattern such as dir/%05d.png) hashed in
// sequence order.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace framepair {

struct SourceHash {
  std::string sha256;
  int64_t bytes = 0;
};

absl::StatusOr<SourceHash> HashSource(const std::string& path);

}  // namespace framepair
