// What every worker task does at its edges: turn the request's storage references into files
// (through the one resolver, storage/inputs.h), create the attempt's private output
// directory, rebuild the run options, and speak the user's file names in errors.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/workers.pb.h"
#include "pipeline/parameters.h"  // OptionsFor: the request's RunOptions
#include "pipeline/pipeline.h"
#include "storage/inputs.h"  // ResolveInput: the request's input files
#include "storage/storage.h"

namespace framepair {

// The attempt's output directory (created). It must lie under work/<job_id>/, so a request
// cannot make a worker write anywhere else.
absl::StatusOr<std::string> AttemptDir(const StorageRoot& storage,
                                       const framepair::v1::TaskRef& task);

// Runs one task on `storage`. On a bucket root the task runs on a private scratch root
// (StorageRoot::Scratch: ResolveInput fetches its inputs there, FFmpeg and the frame tables
// get local files), and once it succeeded its attempt directory (task.work_dir(), the
// attempt's own prefix, which only the publisher copies from) is uploaded; the scratch root is
// removed however the task ends: success, error, cancellation. On a directory root the task
// runs in place.
absl::StatusOr<framepair::v1::TaskResult> RunInScratch(
    const StorageRoot& storage, const framepair::v1::TaskRef& task,
    const std::function<absl::StatusOr<framepair::v1::TaskResult>(const StorageRoot&)>& run);

// `status` with every occurrence of `path` in its message replaced by `name` (what the user
// called the file), so errors name the user's file rather than a content-addressed path.
absl::Status Rename(const absl::Status& status, const std::string& path, const std::string& name);

}  // namespace framepair
