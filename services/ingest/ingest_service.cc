#include "services/ingest/ingest_service.h"

#include "absl/strings/str_cat.h"
#include "pipeline/memory_model.h"
#include "pipeline/parameters.h"
#include "pipeline/stages.h"
#include "services/worker/worker_io.h"
#include "util/status_macros.h"

namespace framepair {

absl::StatusOr<framepair::v1::TaskResult> RunIngestTask(const StorageRoot& storage,
                                                        const framepair::v1::IngestRequest& r,
                                                        const IngestWorkerOptions& worker,
                                                        TaskContext& context) {
  if (r.role() != "lr" && r.role() != "hr") {
    return absl::InvalidArgumentError(absl::StrCat("role must be lr or hr, not '", r.role(), "'"));
  }
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFor(r.parameters()));
  options.ingest.decoder.max_frame_pixels = worker.max_frame_pixels;
  options.ingest.decoder.deadline = context.deadline();
  const std::string name = r.display_name().empty() ? r.video() : r.display_name();
  FP_ASSIGN_OR_RETURN(std::string video, ResolveInput(storage, r.video(), r.role() + " video"));
  FP_ASSIGN_OR_RETURN(std::string dir, AttemptDir(storage, r.task()));

  ProgressFn progress = [&context](int64_t done, int64_t total) { context.Progress(done, total); };
  // Thumbnails wait on shared storage, not in the pod's small ephemeral storage.
  IngestOptions ingest = IngestOptionsFor(options, r.role());
  ingest.spill_dir = dir;
  // The frame size from the header decides what the decode may take: reserved before it.
  absl::StatusOr<VideoInfo> probed = ProbeVideo(video, ingest.decoder);
  if (!probed.ok()) return Rename(probed.status(), video, name);
  FP_RETURN_IF_ERROR(context.ReserveMemory(
      IngestTaskBytes(*probed, EffectiveDecoderThreads(ingest.decoder.threads)),
      FrameSizeText(*probed) + " frames"));
  absl::StatusOr<StoredFrameTable> ingested =
      IngestSource(r.role(), video, ingest, progress, context.cancel());
  if (!ingested.ok()) return Rename(ingested.status(), video, name);
  // Later steps and the manifest speak of the file as the user named it.
  ingested->table.video.path = name;
  ingested->source.set_path(name);

  const std::string file = dir + "/" + r.role() + ".frames";
  FP_RETURN_IF_ERROR(WriteFrameTable(file, ingested->table, ingested->source));
  framepair::v1::TaskResult result;
  auto* out = result.mutable_ingest();
  FP_ASSIGN_OR_RETURN(*out->mutable_frame_table(), storage.Relativize(file));
  *out->mutable_source() = ingested->source;
  out->set_kept_frames(static_cast<int64_t>(ingested->table.kept.size()));
  return result;
}

grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* IngestService::Ingest(
    grpc::CallbackServerContext* context, const framepair::v1::IngestRequest* request) {
  return runner_->Start(
      context,
      absl::StrCat("ingest ", request->task().job_id(), "/", request->task().task(), " attempt ",
                   request->task().attempt()),
      [this, request](TaskContext& c) {
        return RunInScratch(storage_, request->task(), [&](const StorageRoot& s) {
          return RunIngestTask(s, *request, options_, c);
        });
      });
}

}  // namespace framepair
