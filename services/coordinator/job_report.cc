#include "services/coordinator/job_report.h"

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "jobplan/job_plan.h"
#include "pipeline/artifacts.h"
#include "pipeline/sidecar.h"
#include "report/report.h"
#include "services/coordinator/datasets.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

// The result of a task, or INTERNAL naming it.
absl::StatusOr<const framepair::v1::TaskResult*> ResultOf(
    const std::map<std::string, DoneTask>& tasks, const TaskId& id) {
  auto it = tasks.find(id.Name());
  if (it == tasks.end()) return absl::InternalError(absl::StrCat(id.Name(), " has no result"));
  return &it->second.result;
}

// Removes the scratch directory however the report ends.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);  // symbolic links themselves, not targets
  }
};

}  // namespace

absl::Status WriteJobReport(const StorageRoot& storage, const std::string& job_id,
                            const std::string& dataset_dir, const framepair::v1::Manifest& pair,
                            const std::string& validation_part,
                            const std::map<std::string, DoneTask>& tasks) {
  const bool hr_only = pair.parameters().hr_only();
  std::optional<StoredFrameTable> lr;
  if (!hr_only) {
    FP_ASSIGN_OR_RETURN(auto r, ResultOf(tasks, TaskId::Ingest(Side::kLr)));
    FP_ASSIGN_OR_RETURN(std::string path, storage.Resolve(r->ingest().frame_table(), true));
    FP_ASSIGN_OR_RETURN(lr, ReadFrameTable(path, /*with_thumbs=*/false));
  }
  FP_ASSIGN_OR_RETURN(auto hr_result, ResultOf(tasks, TaskId::Ingest(Side::kHr)));
  FP_ASSIGN_OR_RETURN(std::string hr_path,
                      storage.Resolve(hr_result->ingest().frame_table(), true));
  FP_ASSIGN_OR_RETURN(StoredFrameTable hr, ReadFrameTable(hr_path, /*with_thumbs=*/false));
  FP_ASSIGN_OR_RETURN(auto align_result, ResultOf(tasks, TaskId::Align()));
  FP_ASSIGN_OR_RETURN(std::string pairs_path, storage.Resolve(align_result->align().pairs(), true));
  FP_ASSIGN_OR_RETURN(AlignOutput aligned, ReadPairs(pairs_path));
  FP_ASSIGN_OR_RETURN(auto scene_result, ResultOf(tasks, TaskId::Scene()));
  FP_ASSIGN_OR_RETURN(std::string plan_path, storage.Resolve(scene_result->scene().plan(), true));
  FP_ASSIGN_OR_RETURN(WindowPlan plan, ReadWindowPlan(plan_path));

  // The job as a dataset of its own, as `framepair run` would have written it: its manifest,
  // its shards (linked, not copied), its validation part and the sidecar.
  FP_ASSIGN_OR_RETURN(std::string work, storage.WorkDir(job_id));
  ScratchDir scratch{work + "/report"};
  std::error_code ec;
  fs::remove_all(scratch.path, ec);
  fs::create_directories(scratch.path, ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot create ", scratch.path), "");
  for (const auto& shard : pair.shards()) {
    fs::create_symlink(fs::path(dataset_dir) / shard.file(), fs::path(scratch.path) / shard.file(),
                       ec);
    if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot link ", shard.file()), "");
  }
  if (!validation_part.empty() && pair.has_validation()) {
    fs::create_symlink(validation_part, fs::path(scratch.path) / pair.validation().file(), ec);
    if (ec) return ErrnoError(ec.value(), "cannot link the validation part", "");
  }
  FP_RETURN_IF_ERROR(
      WriteReportData(scratch.path, BuildReportData(lr ? &lr->table : nullptr, hr.table, aligned,
                                                    plan, pair.parameters().window(), pair)));
  FP_RETURN_IF_ERROR(WriteManifest(scratch.path, pair));
  ReportOptions options;
  options.title =
      absl::StrCat("job ", job_id, " of dataset ", fs::path(dataset_dir).filename().string());
  fs::create_directories(fs::path(dataset_dir) / "reports", ec);
  if (ec)
    return ErrnoError(ec.value(), absl::StrCat("cannot create ", dataset_dir, "/reports"), "");
  return WriteReport(scratch.path, absl::StrCat(dataset_dir, "/", JobReportFile(job_id)), options);
}

}  // namespace framepair
