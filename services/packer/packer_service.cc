#include "services/packer/packer_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pipeline/memory_model.h"
#include "pipeline/pack.h"
#include "pipeline/stages.h"
#include "services/worker/worker_io.h"
#include "util/status_macros.h"

namespace framepair {

absl::StatusOr<framepair::v1::TaskResult> RunPackTask(const StorageRoot& storage,
                                                      const framepair::v1::PackRequest& r,
                                                      const PackerOptions& packer,
                                                      TaskContext& context) {
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFor(r.parameters()));
  options.pack.threads = packer.threads;
  options.pack.decoder.threads = packer.threads;
  options.pack.decoder.max_frame_pixels = packer.max_frame_pixels;
  options.pack.decoder.deadline = context.deadline();
  FP_ASSIGN_OR_RETURN(std::string dir, AttemptDir(storage, r.task()));
  // With a validation split, shard `shards` is the validation pseudo-shard (WindowPlan).
  const bool validation = options.sample.val_windows > 0 || options.sample.val_fraction > 0;
  const int last = options.shards - (validation ? 0 : 1);
  if (r.shard() < 0 || r.shard() > last) {
    return absl::InvalidArgumentError(absl::StrCat("shard ", r.shard(), " is outside 0..", last));
  }
  if (r.shard_file_name().empty() || r.shard_file_name().find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard file name '", r.shard_file_name(), "' must be a plain file name"));
  }
  const bool hr_only = options.pack.hr_only;
  std::optional<StoredFrameTable> lr;
  std::string lr_video;
  if (!hr_only) {
    FP_ASSIGN_OR_RETURN(lr_video, ResolveInput(storage, r.lr_video(), "LR video"));
    FP_ASSIGN_OR_RETURN(std::string path, ResolveInput(storage, r.lr_frame_table(), "LR frames"));
    FP_ASSIGN_OR_RETURN(lr, ReadFrameTable(path, /*with_thumbs=*/false));
  }
  FP_ASSIGN_OR_RETURN(std::string hr_video, ResolveInput(storage, r.hr_video(), "HR video"));
  FP_ASSIGN_OR_RETURN(std::string hr_path, ResolveInput(storage, r.hr_frame_table(), "HR frames"));
  FP_ASSIGN_OR_RETURN(StoredFrameTable hr, ReadFrameTable(hr_path, /*with_thumbs=*/false));
  FP_ASSIGN_OR_RETURN(std::string pairs_path, ResolveInput(storage, r.pairs(), "pairs"));
  FP_ASSIGN_OR_RETURN(AlignOutput pairs, ReadPairs(pairs_path));
  FP_ASSIGN_OR_RETURN(std::string plan_path, ResolveInput(storage, r.plan(), "plan"));
  FP_ASSIGN_OR_RETURN(WindowPlan plan, ReadWindowPlan(plan_path));

  // What the decoders and the PNGs may take, from the videos' headers (not from the work
  // files), reserved before any frame is decoded.
  absl::StatusOr<VideoInfo> hr_probed = ProbeVideo(hr_video, options.pack.decoder);
  if (!hr_probed.ok()) return Rename(hr_probed.status(), hr_video, hr.table.video.path);
  std::optional<VideoInfo> lr_probed;
  if (!hr_only) {
    absl::StatusOr<VideoInfo> probed = ProbeVideo(lr_video, options.pack.decoder);
    if (!probed.ok()) return Rename(probed.status(), lr_video, lr->table.video.path);
    lr_probed = *std::move(probed);
  }
  FP_RETURN_IF_ERROR(context.ReserveMemory(
      PackTaskBytes(*hr_probed, lr_probed ? &*lr_probed : nullptr, options.pack.scale,
                    EffectivePackThreads(options.pack.threads),
                    EffectiveDecoderThreads(options.pack.decoder.threads), options.pack.window),
      absl::StrCat(FrameSizeText(*hr_probed), " frames and --window ", options.pack.window)));

  const std::vector<Window> windows = plan.WindowsOfShard(r.shard());
  PackInput input{lr_video, hr_video, lr ? &lr->table : nullptr, &hr.table, &pairs.pairs};
  const int64_t total = static_cast<int64_t>(windows.size());
  PackProgressFn progress = [&context, total](int64_t done) { context.Progress(done, total); };
  absl::StatusOr<PackedShard> packed =
      PackShard(input, windows, options.pack, dir, r.shard_file_name(), progress, context.cancel());
  if (!packed.ok()) {
    return Rename(Rename(packed.status(), hr_video, hr.table.video.path), lr_video,
                  lr ? lr->table.video.path : "");
  }

  framepair::v1::TaskResult result;
  auto* out = result.mutable_pack();
  FP_ASSIGN_OR_RETURN(*out->mutable_shard(), storage.Relativize(dir + "/" + r.shard_file_name()));
  *out->mutable_entry() = packed->entry;
  const PackCounters& c = packed->counters;
  auto* stats = out->mutable_stats();
  stats->set_frames_decoded(c.frames_decoded);
  stats->set_seeks(c.seeks);
  stats->set_distinct_lr_frames(c.distinct_lr_frames);
  stats->set_distinct_hr_frames(c.distinct_hr_frames);
  stats->set_pngs_encoded(c.pngs_encoded);
  stats->set_frames_needed(c.frames_needed);
  stats->set_frames_decoded_minimum(c.frames_decoded_minimum);
  return result;
}

grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* PackerService::Pack(
    grpc::CallbackServerContext* context, const framepair::v1::PackRequest* request) {
  return runner_->Start(context,
                        absl::StrFormat("pack %s shard %d attempt %d", request->task().job_id(),
                                        request->shard(), request->task().attempt()),
                        [this, request](TaskContext& c) {
                          return RunInScratch(storage_, request->task(), [&](const StorageRoot& s) {
                            return RunPackTask(s, *request, options_, c);
                          });
                        });
}

}  // namespace framepair
