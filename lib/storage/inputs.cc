#include "storage/inputs.h"

#include "absl/strings/str_cat.h"
#include "util/quote.h"

namespace framepair {
namespace {

absl::Status Named(const absl::Status& status, std::string_view what) {
  return absl::Status(status.code(), absl::StrCat(absl::string_view(what.data(), what.size()), ": ",
                                                  status.message()));
}

absl::Status NoneGiven(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("no ", absl::string_view(what.data(), what.size()), " given"));
}

}  // namespace

absl::StatusOr<std::string> ResolveInput(const StorageRoot& storage, const std::string& relative,
                                         std::string_view what) {
  if (relative.empty()) return NoneGiven(what);
  absl::StatusOr<std::string> path = storage.Fetch(relative);
  if (!path.ok()) return Named(path.status(), what);
  return path;
}

absl::Status CheckInput(const StorageRoot& storage, const std::string& relative,
                        std::string_view what) {
  if (!storage.remote()) return ResolveInput(storage, relative, what).status();
  if (relative.empty()) return NoneGiven(what);
  absl::StatusOr<bool> exists = storage.Exists(relative);
  if (!exists.ok()) return Named(exists.status(), what);
  if (!*exists) {
    return Named(absl::NotFoundError(absl::StrCat("storage path ", QuoteUserText(relative),
                                                  " does not exist in ", storage.location(),
                                                  "; check the name or upload it first")),
                 what);
  }
  return absl::OkStatus();
}

}  // namespace framepair
