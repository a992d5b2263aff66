// Publishing a dataset directory. Shards are written into a private staging directory inside
// the output directory (same filesystem, so renames are atomic); only when every shard is
// complete does PublishDataset swap them in and write manifest.json last. A run that fails
// before that point leaves the previous dataset in the directory untouched.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"

namespace framepair {

// Creates `out_dir` if needed and a fresh staging directory inside it. Staging directories
// left behind by dead processes are removed first.
absl::StatusOr<std::string> CreateStagingDir(const std::string& out_dir);

// Replaces the dataset in `out_dir` by the shards in `staging_dir` (the manifest's shard
// files and its validation file): removes the old manifest, removes old shards, renames the new
// ones in, writes the manifest, and removes the staging directory.
absl::Status PublishDataset(const std::string& staging_dir, const std::string& out_dir,
                            const framepair::v1::Manifest& manifest);

// The validation file of a dataset of many pairs (the coordinator's), as the next manifest
// will list it. `current` is the file the manifest lists (empty: none), `parts` the pairs'
// parts it holds in order (each pair's validation entry) and `keep` says which stay; `append`
// (empty path: none) is a new pair's part, the file `append_path`, added after them. The file
// `dir`/<name> is rewritten atomically with the kept parts and the appended one, every part's
// size and sha256 checked on the way (DATA_LOSS naming the file otherwise); streams with
// bounded memory. Returns the new file's entry, empty when no part is left: the file is then
// left as it is, for the caller to remove once the manifest without it is durable. Idempotent:
// a file that already holds what the next manifest lists (a publication interrupted before
// its manifest was written) is accepted as it is.
absl::StatusOr<framepair::v1::ShardEntry> RewriteValidationFile(
    const std::string& dir, const framepair::v1::ShardEntry& current,
    const std::vector<framepair::v1::ShardEntry>& parts, const std::vector<bool>& keep,
    const std::string& append_path, const framepair::v1::ShardEntry& append);

// Best-effort removal of a staging directory (after a failed run).
void RemoveStagingDir(const std::string& staging_dir);

}  // namespace framepair
