// What every worker task does at its edges: turn the request's storage references into files
// (through the one resolver, storage/storage.h), create the attempt's private output
// directory, rebuild the run options, and speak the user's file names in errors.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/workers.pb.h"
#include "pipeline/pipeline.h"
#include "storage/storage.h"

namespace framepair {

// An input the request names (must exist). INVALID_ARGUMENT / NOT_FOUND naming it.
absl::StatusOr<std::string> ResolveInput(const StorageRoot& storage, const std::string& relative,
                                         std::string_view what);

// The attempt's output directory (created). It must lie under work/<job_id>/, so a request
// cannot make a worker write anywhere else.
absl::StatusOr<std::string> AttemptDir(const StorageRoot& storage,
                                       const framepair::v1::TaskRef& task);

// RunOptions from the request's parameters, normalised and validated.
absl::StatusOr<RunOptions> OptionsFor(const framepair::v1::RunParameters& parameters);

// `status` with every occurrence of `path` in its message replaced by `name` (what the user
// called the file), so errors name the user's file rather than a content-addressed path.
absl::Status Rename(const absl::Status& status, const std::string& path, const std::string& name);

}  // namespace framepair
