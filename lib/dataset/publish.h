// Publishing a dataset directory. Shards are written into a private staging directory inside
// the output directory (same filesystem, so renames are atomic); only when every shard is
// complete does PublishDataset swap them in and write manifest.json last. A run that fails
// before that point leaves the previous dataset in the directory untouched.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"

namespace framepair {

// Creates `out_dir` if needed and a fresh staging directory inside it. Staging directories
// left behind by dead processes are removed first.
absl::StatusOr<std::string> CreateStagingDir(const std::string& out_dir);

// Replaces the dataset in `out_dir` by the shards in `staging_dir` (the manifest's shard
// files): removes the old manifest, removes old shards, renames the new ones in, writes the
// manifest, and removes the staging directory.
absl::Status PublishDataset(const std::string& staging_dir, const std::string& out_dir,
                            const framepair::v1::Manifest& manifest);

// Best-effort removal of a staging directory (after a failed run).
void RemoveStagingDir(const std::string& staging_dir);

}  // namespace framepair
