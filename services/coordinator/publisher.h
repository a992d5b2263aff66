// The end of a job: its shards move from the packers' attempt directories into
// <storage-root>/datasets/<dataset>/ and the dataset's manifest.json is rewritten, last and
// atomically, to list them. Idempotent, so a coordinator that crashed half-way simply runs it
// again: shards already moved are recognised, and a pair already in the manifest is not added
// twice.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/job.pb.h"
#include "framepair/v1/workers.pb.h"
#include "jobplan/job_plan.h"
#include "storage/storage.h"

namespace framepair {

// A task's result and the attempt that produced it.
struct DoneTask {
  int64_t attempt = 0;
  framepair::v1::TaskResult result;
};

// What a worker reported, checked against what the coordinator asked of it: every file the
// result names lies inside the attempt's own work directory (symbolic links followed), and a
// pack result's shard carries the file name the coordinator assigned to it. A worker is not
// trusted with the rest of the storage root. INVALID_ARGUMENT otherwise (the task fails for
// good), naming the task and the rule, user text cut to a bounded length.
absl::Status CheckTaskResult(const StorageRoot& storage, const std::string& job_id,
                             const std::string& task, int64_t attempt,
                             const framepair::v1::RunParameters& parameters,
                             const framepair::v1::TaskResult& result);

// `tasks` maps task name to that task's result (every task DONE); each result passes
// CheckTaskResult() first, or nothing is moved. The job's validation examples, if any, are
// appended to the dataset's validate.tfrecord (rewritten atomically, before the manifest). Not
// thread-safe for one dataset: the caller serialises publications. FAILED_PRECONDITION when the
// dataset already holds examples of another shape (frame sizes, window, format): a dataset has one
// shape.
absl::StatusOr<framepair::v1::JobResult> PublishJob(const StorageRoot& storage,
                                                    const std::string& job_id,
                                                    const framepair::v1::JobSpec& spec,
                                                    const std::map<std::string, DoneTask>& tasks);

}  // namespace framepair
