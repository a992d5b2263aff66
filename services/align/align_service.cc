#include "services/align/align_service.h"

#include "absl/strings/str_cat.h"
#include "pipeline/stages.h"
#include "services/worker/worker_io.h"
#include "util/status_macros.h"

namespace framepair {

absl::StatusOr<framepair::v1::TaskResult> RunAlignTask(const StorageRoot& storage,
                                                       const framepair::v1::AlignRequest& r,
                                                       TaskContext& context) {
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFor(r.parameters()));
  FP_ASSIGN_OR_RETURN(std::string dir, AttemptDir(storage, r.task()));
  std::optional<StoredFrameTable> lr;
  if (!options.pack.hr_only) {
    FP_ASSIGN_OR_RETURN(std::string path, ResolveInput(storage, r.lr_frame_table(), "LR frames"));
    FP_ASSIGN_OR_RETURN(lr, ReadFrameTable(path));
  }
  FP_ASSIGN_OR_RETURN(std::string hr_path, ResolveInput(storage, r.hr_frame_table(), "HR frames"));
  FP_ASSIGN_OR_RETURN(StoredFrameTable hr, ReadFrameTable(hr_path));
  if (context.cancel()->load()) return absl::CancelledError("align: cancelled");
  const FrameTable* lr_table = lr ? &lr->table : nullptr;
  FP_RETURN_IF_ERROR(CheckSources(lr_table, hr.table, options.scale, options.sample.window));
  context.Progress(0, 1);
  FP_ASSIGN_OR_RETURN(AlignOutput aligned, AlignSources(lr_table, hr.table, options.align));
  context.Progress(1, 1);

  const std::string file = dir + "/pairs";
  FP_RETURN_IF_ERROR(WritePairs(file, aligned));
  framepair::v1::TaskResult result;
  auto* out = result.mutable_align();
  FP_ASSIGN_OR_RETURN(*out->mutable_pairs(), storage.Relativize(file));
  out->set_pairs_aligned(static_cast<int64_t>(aligned.pairs.size()));
  out->set_pairs_rejected(aligned.stats.rejected());
  out->set_mean_residual(aligned.stats.mean_residual);
  return result;
}

grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* AlignService::Align(
    grpc::CallbackServerContext* context, const framepair::v1::AlignRequest* request) {
  return runner_->Start(
      context,
      absl::StrCat("align ", request->task().job_id(), " attempt ", request->task().attempt()),
      [this, request](TaskContext& c) {
        return RunInScratch(storage_, request->task(),
                            [&](const StorageRoot& s) { return RunAlignTask(s, *request, c); });
      });
}

}  // namespace framepair
