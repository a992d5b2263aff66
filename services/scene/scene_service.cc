#include "services/scene/scene_service.h"

#include "absl/strings/str_cat.h"
#include "pipeline/stages.h"
#include "services/worker/worker_io.h"
#include "util/status_macros.h"

namespace framepair {

absl::StatusOr<framepair::v1::TaskResult> RunSceneTask(const StorageRoot& storage,
                                                       const framepair::v1::SceneRequest& r,
                                                       TaskContext& context) {
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFor(r.parameters()));
  FP_ASSIGN_OR_RETURN(std::string dir, AttemptDir(storage, r.task()));
  const bool hr_only = options.pack.hr_only;
  // Scene detection reads the LR thumbnails (HR when there is no LR); the other side only
  // contributes its damaged ranges.
  std::optional<StoredFrameTable> lr;
  if (!hr_only) {
    FP_ASSIGN_OR_RETURN(std::string path, ResolveInput(storage, r.lr_frame_table(), "LR frames"));
    FP_ASSIGN_OR_RETURN(lr, ReadFrameTable(path, /*with_thumbs=*/true));
  }
  FP_ASSIGN_OR_RETURN(std::string hr_path, ResolveInput(storage, r.hr_frame_table(), "HR frames"));
  FP_ASSIGN_OR_RETURN(StoredFrameTable hr, ReadFrameTable(hr_path, /*with_thumbs=*/hr_only));
  FP_ASSIGN_OR_RETURN(std::string pairs_path, ResolveInput(storage, r.pairs(), "pairs"));
  FP_ASSIGN_OR_RETURN(AlignOutput aligned, ReadPairs(pairs_path));
  if (context.cancel()->load()) return absl::CancelledError("scene: cancelled");
  context.Progress(0, 1);

  FrameTable& scene_table = hr_only ? hr.table : lr->table;
  FP_ASSIGN_OR_RETURN(PairThumbs pair_thumbs, PairThumbsOf(scene_table, aligned.pairs, hr_only));
  const std::string names =
      hr_only ? hr.table.video.path : lr->table.video.path + " and " + hr.table.video.path;
  FP_ASSIGN_OR_RETURN(WindowPlan plan,
                      PlanWindows(pair_thumbs.sequence, lr ? &lr->table : nullptr, hr.table,
                                  aligned, options.scene, options.sample, names));
  context.Progress(1, 1);

  const std::string file = dir + "/plan";
  FP_RETURN_IF_ERROR(WriteWindowPlan(file, plan));
  framepair::v1::TaskResult result;
  auto* out = result.mutable_scene();
  FP_ASSIGN_OR_RETURN(*out->mutable_plan(), storage.Relativize(file));
  out->set_scenes(plan.scenes);
  out->set_windows(plan.accounting.windows_written());  // training windows
  *out->mutable_accounting() = plan.accounting;
  return result;
}

grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* SceneService::Scene(
    grpc::CallbackServerContext* context, const framepair::v1::SceneRequest* request) {
  return runner_->Start(
      context,
      absl::StrCat("scene ", request->task().job_id(), " attempt ", request->task().attempt()),
      [this, request](TaskContext& c) {
        return RunInScratch(storage_, request->task(),
                            [&](const StorageRoot& s) { return RunSceneTask(s, *request, c); });
      });
}

}  // namespace framepair
