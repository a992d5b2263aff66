#include "storage/inputs.h"

#include "absl/strings/str_cat.h"

namespace framepair {

absl::StatusOr<std::string> ResolveInput(const StorageRoot& storage, const std::string& relative,
                                         std::string_view what) {
  const absl::string_view name(what.data(), what.size());
  if (relative.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", name, " given"));
  absl::StatusOr<std::string> path = storage.Resolve(relative, /*must_exist=*/true);
  if (!path.ok()) {
    return absl::Status(path.status().code(), absl::StrCat(name, ": ", path.status().message()));
  }
  return path;
}

}  // namespace framepair
