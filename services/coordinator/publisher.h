// The end of a job: its shards move from the packers' attempt directories into
// <storage-root>/datasets/<dataset>/ and the dataset's manifest.json is rewritten, last and
// atomically, to list them. Idempotent, so a coordinator that crashed half-way simply runs it
// again: shards already moved are recognised, and a pair already in the manifest is not added
// twice.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/job.pb.h"
#include "framepair/v1/workers.pb.h"
#include "storage/storage.h"

namespace framepair {

// Shard file name of one job's shard in the dataset: "train-<job>-00003-of-00016.tfrecord[.gz]"
// (a dataset holds the shards of many footage pairs, one job each).
std::string JobShardFileName(const std::string& job_id, int shard, int shards, bool gzip);

// `results` maps task name to that task's result (every task DONE). Not thread-safe for one
// dataset: the caller serialises publications. FAILED_PRECONDITION when the dataset already
// holds examples of another shape (frame sizes, window, format): a dataset has one shape.
absl::StatusOr<framepair::v1::JobResult> PublishJob(
    const StorageRoot& storage, const std::string& job_id, const framepair::v1::JobSpec& spec,
    const std::map<std::string, framepair::v1::TaskResult>& results);

}  // namespace framepair
