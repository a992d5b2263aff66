// The output directory: shards named "<split>-00000-of-00016.tfrecord[.gz]", each written to a
// temporary name, fsynced and renamed, and manifest.json written last, atomically. A previous
// complete dataset in the directory stays intact until the new manifest replaces it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"

namespace framepair {

std::string ShardFileName(const std::string& split, int index, int count, bool gzip);

// Writes one complete shard file atomically and fills in its manifest entry (name, bytes,
// sha256, examples).
absl::StatusOr<framepair::v1::ShardEntry> WriteShard(const std::string& dir,
                                                     const std::string& file_name,
                                                     const std::string& bytes, int64_t examples);

// Writes manifest.json (JSON of the Manifest proto, stable field order) atomically.
absl::Status WriteManifest(const std::string& dir, const framepair::v1::Manifest& manifest);
absl::StatusOr<framepair::v1::Manifest> ReadManifest(const std::string& dir);

}  // namespace framepair
