#include "pipeline/pipeline.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "dataset/publish.h"
#include "dataset/run_manifest.h"
#include "dataset/store_publish.h"
#include "pipeline/parameters.h"
#include "pipeline/sidecar.h"
#include "pipeline/stages.h"
#include "storage/object_store.h"
#include "util/file.h"
#include "util/memory.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

class StageTimer {
 public:
  StageTimer(std::string stage, ProgressSink* progress, std::vector<StageTime>* times)
      : stage_(std::move(stage)), progress_(progress), times_(times) {
    if (progress_) progress_->StageStarted(stage_);
  }
  ~StageTimer() {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    times_->push_back({stage_, seconds, PeakRssBytes()});
    if (progress_ == nullptr) return;
    if (done_) {
      progress_->StageFinished(stage_, seconds);
    } else {
      progress_->StageStopped(stage_, seconds);
    }
  }
  // The stage completed; without this call the destructor reports it as stopped.
  void Done() { done_ = true; }

 private:
  std::string stage_;
  ProgressSink* progress_;
  std::vector<StageTime>* times_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool done_ = false;
};

// A private local directory for what must be a local file before it goes to object storage.
absl::StatusOr<std::string> MakeScratchDir() {
  std::error_code ec;
  std::string dir = (std::filesystem::temp_directory_path(ec) / "framepair-out-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    return ErrnoError(errno, "cannot create a scratch directory for the object-storage upload",
                      "set TMPDIR to a writable local directory with room for the dataset");
  }
  return dir;
}

absl::Status ValidatePaths(const RunOptions& o) {
  if (o.hr_path.empty()) return absl::InvalidArgumentError("--hr is required");
  if (o.lr_path.empty() && !o.pack.hr_only) {
    return absl::InvalidArgumentError("--lr is required (or use --hr-only)");
  }
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  return absl::OkStatus();
}

// What the user asked for and did not get is said, not silently shrunk: fewer windows than
// --windows (the footage has no room for more), and never an empty shard: with fewer windows
// than --shards the used shards are renumbered densely (their order and contents unchanged),
// so the dataset has as many shards as it has windows.
void FitShardsToWindows(WindowPlan* plan, RunOptions* o) {
  // Validation windows (--val-windows) keep their own shard, after the training shards.
  const int validation = plan->ValidationShard();
  int64_t written = 0;
  std::map<int, int> dense;
  for (const Window& w : plan->windows) {
    if (w.shard == validation) continue;
    ++written;
    dense.emplace(w.shard, 0);
  }
  if (o->sample.windows > 0 && written < o->sample.windows) {
    plan->accounting.add_warnings(
        absl::StrCat("--windows ", o->sample.windows, ": the footage has room for only ", written,
                     " window(s) of ", o->sample.window,
                     " pairs (segments too short or too few; see the accounting and the report)"));
  }
  if (static_cast<int>(dense.size()) >= o->shards || dense.empty()) return;
  int next = 0;
  for (auto& [shard, renumbered] : dense) renumbered = next++;
  for (Window& w : plan->windows) w.shard = w.shard == validation ? next : dense[w.shard];
  plan->accounting.add_warnings(absl::StrCat("--shards ", o->shards, " but only ", written,
                                             " window(s): wrote ", next, " shard(s), none empty"));
  o->shards = next;
  o->sample.shards = next;
  plan->shards = next;
}

}  // namespace

absl::StatusOr<RunSummary> RunPipeline(const RunOptions& options_in, ProgressSink* progress,
                                       const std::atomic<bool>* cancel,
                                       const PublishedFn& published) {
  RunOptions o = options_in;
  FP_RETURN_IF_ERROR(ValidatePaths(o));
  FP_RETURN_IF_ERROR(NormalizeRunOptions(&o));
  FP_RETURN_IF_ERROR(CheckNameTemplate(o.name_template, /*job=*/false));
  const bool hr_only = o.pack.hr_only;

  // Object storage: the dataset is built in a local scratch directory and uploaded at the end
  // (store_publish.h: staging prefix, server-side copy, manifest last). The bucket is asked
  // first, so a wrong secret or a missing bucket fails before minutes of decoding.
  std::unique_ptr<ObjectStore> store;
  struct ScratchGuard {
    std::string dir;
    ~ScratchGuard() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } scratch;
  if (IsObjectUrl(o.out_dir)) {
    FP_ASSIGN_OR_RETURN(store, OpenObjectStore(o.out_dir));
    FP_RETURN_IF_ERROR(store->Check());
    FP_ASSIGN_OR_RETURN(scratch.dir, MakeScratchDir());
    o.out_dir = scratch.dir;
  }

  // Fail fast on an unusable output directory, before minutes of decoding.
  FP_ASSIGN_OR_RETURN(std::string staging, CreateStagingDir(o.out_dir));
  struct StagingGuard {
    std::string dir;
    bool published = false;
    ~StagingGuard() {
      if (!published) RemoveStagingDir(dir);
    }
  } guard{staging};

  RunSummary summary;

  // 1. Ingest both sources in parallel.
  std::optional<StoredFrameTable> lr;
  StoredFrameTable hr;
  {
    StageTimer timer("ingest", progress, &summary.stages);
    // The thumbnails go next to the shards: the user chose that disk for the output.
    auto ingest = [&](const std::string& role, const std::string& path) {
      std::string stage = "ingest " + role;
      ProgressFn report = [progress, stage](int64_t done, int64_t total) {
        if (progress) progress->StageProgress(stage, done, total);
      };
      IngestOptions ingest_options = IngestOptionsFor(o, role);
      ingest_options.spill_dir = staging;
      return IngestSource(role, path, ingest_options, report, cancel);
    };
    std::future<absl::StatusOr<StoredFrameTable>> lr_future;
    if (!hr_only) lr_future = std::async(std::launch::async, ingest, "lr", o.lr_path);
    absl::StatusOr<StoredFrameTable> hr_result = ingest("hr", o.hr_path);
    if (!hr_only) {
      absl::StatusOr<StoredFrameTable> lr_result = lr_future.get();
      if (!lr_result.ok()) return lr_result.status();
      lr = *std::move(lr_result);
    }
    if (!hr_result.ok()) return hr_result.status();
    hr = *std::move(hr_result);
    timer.Done();
  }
  FrameTable* lr_table = lr ? &lr->table : nullptr;
  FP_RETURN_IF_ERROR(CheckSources(lr_table, hr.table, o.scale, o.sample.window));
  summary.hr_frames_decoded = static_cast<int64_t>(hr.table.frames.size());
  summary.hr_duplicates = hr.table.exact_duplicates() + hr.table.noise_duplicates();
  if (lr) {
    summary.lr_frames_decoded = static_cast<int64_t>(lr->table.frames.size());
    summary.lr_duplicates = lr->table.exact_duplicates() + lr->table.noise_duplicates();
  }
  for (const FrameTable* t : std::initializer_list<const FrameTable*>{lr_table, &hr.table}) {
    if (t == nullptr) continue;
    for (const DamagedRange& d : t->damaged) {
      summary.corrupt_frames += d.corrupt_frames;
      summary.damaged.push_back(absl::StrCat(t->video.path, ": ", d.corrupt_frames,
                                             " damaged frame(s) skipped before frame ",
                                             d.first_index));
    }
  }

  // 2. Align.
  AlignOutput aligned;
  {
    StageTimer timer("align", progress, &summary.stages);
    FP_ASSIGN_OR_RETURN(aligned, AlignSources(lr_table, hr.table, o.align));
    timer.Done();
  }
  const std::vector<AlignedPair>& pairs = aligned.pairs;
  summary.pairs_aligned = static_cast<int64_t>(pairs.size());
  summary.pairs_rejected = aligned.stats.rejected();

  // 3 + 4a. Scenes (on the LR side: that is what training sees as input) and windows.
  FrameTable& scene_table = hr_only ? hr.table : lr->table;
  if (!hr_only) hr.table.thumbs = ThumbStore();
  WindowPlan plan;
  {
    StageTimer timer("scene", progress, &summary.stages);
    FP_ASSIGN_OR_RETURN(PairThumbs pair_thumbs, PairThumbsOf(scene_table, pairs, hr_only));
    const std::string names = hr_only ? o.hr_path : o.lr_path + " and " + o.hr_path;
    FP_ASSIGN_OR_RETURN(plan, PlanWindows(pair_thumbs.sequence, lr_table, hr.table, aligned,
                                          o.scene, o.sample, names));
    timer.Done();
  }
  scene_table.thumbs = ThumbStore();
  FitShardsToWindows(&plan, &o);
  summary.scenes = plan.scenes;
  summary.windows = plan.accounting.windows_written();
  summary.validation_windows = plan.accounting.validation().windows_written();
  summary.accounting = plan.accounting;

  // 4b. Pack shards.
  RunManifestBuilder manifest_builder(ParametersFor(o));
  auto frames_of = [](const PackCounters& c) {
    return PackedFrames{c.distinct_lr_frames, c.distinct_hr_frames, c.pngs_encoded};
  };
  {
    StageTimer timer("pack", progress, &summary.stages);
    PackInput input{o.lr_path, o.hr_path, lr_table, &hr.table, &pairs};
    int64_t done_before = 0;
    for (int shard = 0; shard < o.shards; ++shard) {
      const std::vector<Window> windows = plan.WindowsOfShard(shard);
      PackProgressFn report = [&](int64_t done) {
        if (progress) progress->StageProgress("pack", done_before + done, summary.windows);
      };
      std::string name = ShardFileNameFrom(o.name_template, "", shard, o.shards, o.gzip);
      FP_ASSIGN_OR_RETURN(PackedShard packed,
                          PackShard(input, windows, o.pack, staging, name, report, cancel));
      done_before += static_cast<int64_t>(windows.size());
      summary.pack.Add(packed.counters);
      manifest_builder.AddShard(packed.entry, frames_of(packed.counters));
    }
    if (plan.accounting.has_validation()) {
      const std::vector<Window> windows = plan.WindowsOfShard(plan.ValidationShard());
      PackProgressFn report = [](int64_t) {};
      FP_ASSIGN_OR_RETURN(
          PackedShard packed,
          PackShard(input, windows, o.pack, staging, ValidationFileName(o.gzip), report, cancel));
      summary.pack.Add(packed.counters);
      manifest_builder.SetValidation(packed.entry, frames_of(packed.counters));
    }
    timer.Done();
  }
  summary.shards = o.shards;
  summary.bytes = summary.pack.bytes;

  // 5. Manifest, published last.
  if (lr) manifest_builder.AddSource(lr->source);
  manifest_builder.AddSource(hr.source);
  manifest_builder.SetAlignment(summary.pairs_aligned, summary.pairs_rejected,
                                aligned.stats.mean_residual);
  manifest_builder.SetScenes(summary.scenes, summary.windows, plan.accounting);
  const framepair::v1::Manifest manifest =
      manifest_builder.Build(hr.table.video.width, hr.table.video.height);
  // The report's data, before the manifest: it names the new shards, so until the manifest
  // lists them a reader sees it as stale, never as describing the previous dataset.
  FP_RETURN_IF_ERROR(WriteReportData(
      o.out_dir, BuildReportData(lr_table, hr.table, aligned, plan, o.sample.window, manifest)));
  FP_RETURN_IF_ERROR(PublishDataset(staging, o.out_dir, manifest));
  guard.published = true;
  if (published) published(o.out_dir);
  if (store) {
    FP_RETURN_IF_ERROR(
        UploadDataset(o.out_dir, manifest, *store, {kReportSidecarName, kReportPageName}));
  }
  summary.manifest_path = options_in.out_dir + "/manifest.json";
  return summary;
}

}  // namespace framepair
