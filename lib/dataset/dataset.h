// The output directory: shards named "<split>-00000-of-00016.tfrecord[.gz]", each written to a
// temporary name, fsynced and renamed, and manifest.json written last, atomically. A previous
// complete dataset in the directory stays intact until the new manifest replaces it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"

namespace framepair {

std::string ShardFileName(const std::string& split, int index, int count, bool gzip);

// The one rule for the file names a manifest may list (readers delete, move and open what a
// manifest names, so a name must never reach outside the dataset directory): a plain name,
// "train-" or "train_", then [A-Za-z0-9._-]*, then ".tfrecord" or ".tfrecord.gz". New splits
// or file kinds are added here and nowhere else.
bool IsShardFileName(std::string_view name);

// INVALID_ARGUMENT naming `manifest_path` and the first listed file name (shards and pairs)
// that IsShardFileName() refuses.
absl::Status CheckManifestFileNames(const framepair::v1::Manifest& manifest,
                                    const std::string& manifest_path);

// Writes one complete shard file atomically and fills in its manifest entry (name, bytes,
// sha256, examples).
absl::StatusOr<framepair::v1::ShardEntry> WriteShard(const std::string& dir,
                                                     const std::string& file_name,
                                                     const std::string& bytes, int64_t examples);

// Writes manifest.json (JSON of the Manifest proto, stable field order) atomically.
absl::Status WriteManifest(const std::string& dir, const framepair::v1::Manifest& manifest);
// NOT_FOUND without a manifest, DATA_LOSS for one that does not parse, INVALID_ARGUMENT for
// one that lists a file name CheckManifestFileNames() refuses.
absl::StatusOr<framepair::v1::Manifest> ReadManifest(const std::string& dir);

}  // namespace framepair
