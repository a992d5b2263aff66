// The inputs a job or a task names: storage-relative paths that must exist, resolved through
// the one resolver (StorageRoot::Resolve) with errors that say which input was wrong. Used by
// the coordinator (checking a submitted job) and by every worker (opening a request's files).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/storage.h"

namespace framepair {

// The absolute path of the existing file `relative` names below the root, a local file: on a
// bucket root it is fetched into the root's scratch directory (StorageRoot::Fetch).
// INVALID_ARGUMENT (empty, absolute, escaping) / NOT_FOUND, the message starting with `what`
// ("HR footage").
absl::StatusOr<std::string> ResolveInput(const StorageRoot& storage, const std::string& relative,
                                         std::string_view what);

// The same checks without making the file local (the coordinator checking a submitted job).
absl::Status CheckInput(const StorageRoot& storage, const std::string& relative,
                        std::string_view what);

}  // namespace framepair
