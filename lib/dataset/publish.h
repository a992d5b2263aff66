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

// The validation file of a dataset of many pairs (the coordinator's): rewrites
// `dir`/<current.file()> atomically as the first current.bytes() bytes of the file there (the
// parts of the pairs already listed; their sha256 must be current.sha256()) followed by the
// file `part_path`, whose size and sha256 must be part's. An empty `current` starts a new
// file named part.file(). Idempotent: a file that already holds a part appended by an
// interrupted publication is cut back to the listed prefix. Streams with bounded memory.
// DATA_LOSS when a file does not hold what its entry says. Returns the new file's entry.
absl::StatusOr<framepair::v1::ShardEntry> AppendValidationPart(
    const std::string& dir, const framepair::v1::ShardEntry& current, const std::string& part_path,
    const framepair::v1::ShardEntry& part);

// The validation file of a dataset of many pairs without some pairs' parts: `parts` are the
// parts the listed file `current` holds, in order (each pair's validation entry), and `keep`
// says which stay. The file is rewritten atomically with the kept parts, each one's sha256
// checked on the way (DATA_LOSS naming the file otherwise); when no part is kept it is
// removed and an empty entry returned. Idempotent: a file that already holds only the kept
// parts (a removal interrupted before its manifest was written) is accepted as it is.
absl::StatusOr<framepair::v1::ShardEntry> RemoveValidationParts(
    const std::string& dir, const framepair::v1::ShardEntry& current,
    const std::vector<framepair::v1::ShardEntry>& parts, const std::vector<bool>& keep);

// Best-effort removal of a staging directory (after a failed run).
void RemoveStagingDir(const std::string& staging_dir);

}  // namespace framepair
