#include "services/worker/worker_io.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "util/status_macros.h"

namespace framepair {

absl::StatusOr<std::string> AttemptDir(const StorageRoot& storage,
                                       const framepair::v1::TaskRef& task) {
  FP_RETURN_IF_ERROR(StorageRoot::ValidateName("job id", task.job_id()));
  const std::string prefix = absl::StrCat("work/", task.job_id(), "/");
  if (!absl::StartsWith(task.work_dir(), prefix) || task.work_dir().size() == prefix.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("work_dir '", task.work_dir(), "' is not inside ", prefix));
  }
  FP_ASSIGN_OR_RETURN(std::string dir, storage.Resolve(task.work_dir(), /*must_exist=*/false));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  return dir;
}

absl::StatusOr<framepair::v1::TaskResult> RunInScratch(
    const StorageRoot& storage, const framepair::v1::TaskRef& task,
    const std::function<absl::StatusOr<framepair::v1::TaskResult>(const StorageRoot&)>& run) {
  FP_ASSIGN_OR_RETURN(ScratchRoot scratch, storage.Scratch());
  FP_ASSIGN_OR_RETURN(framepair::v1::TaskResult result, run(scratch.root()));
  FP_RETURN_IF_ERROR(scratch.root().Push(task.work_dir()));
  return result;
}

absl::Status Rename(const absl::Status& status, const std::string& path, const std::string& name) {
  if (status.ok() || path.empty() || name.empty()) return status;
  return absl::Status(status.code(), absl::StrReplaceAll(status.message(), {{path, name}}));
}

}  // namespace framepair
