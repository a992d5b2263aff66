// The report page of one published job (issue 10): datasets/<name>/reports/<job>.html, made
// by lib/report from the job's own manifest, its shards and a sidecar built from the job's
// work files (frame tables, pairs, window plan), the same page `framepair run` writes for the
// same footage and options.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "framepair/v1/manifest.pb.h"
#include "services/coordinator/publisher.h"
#include "storage/storage.h"

namespace framepair {

// `pair` is the job's own manifest (its shards already in `dataset_dir`), `validation_part`
// the validation task's file in the work directory ("" without a validation split), `tasks`
// every task's result. Works in the job's work directory; the page is written atomically.
absl::Status WriteJobReport(const StorageRoot& storage, const std::string& job_id,
                            const std::string& dataset_dir, const framepair::v1::Manifest& pair,
                            const std::string& validation_part,
                            const std::map<std::string, DoneTask>& tasks);

}  // namespace framepair
