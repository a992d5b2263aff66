// What every worker task does at its edges: turn the request's storage references into files
// (through the one resolver, storage/inputs.h), create the attempt's private output
// directory, rebuild the run options, and speak the user's file names in errors.
#pragma once

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

// `status` with every occurrence of `path` in its message replaced by `name` (what the user
// called the file), so errors name the user's file rather than a content-addressed path.
absl::Status Rename(const absl::Status& status, const std::string& path, const std::string& name);

}  // namespace framepair
