#include "services/coordinator/publisher.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataset/dataset.h"
#include "dataset/publish.h"
#include "dataset/run_manifest.h"
#include "pipeline/parameters.h"
#include "services/coordinator/datasets.h"
#include "services/coordinator/job_report.h"
#include "spdlog/spdlog.h"
#include "storage/object_store.h"
#include "util/file.h"
#include "util/quote.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using framepair::v1::Manifest;

// Moves a finished shard into the dataset. Already moved (a resumed publication) is fine as
// long as the size matches what the packer reported.
absl::Status MoveShard(const std::string& from, const std::string& to, int64_t bytes) {
  if (std::rename(from.c_str(), to.c_str()) == 0) return absl::OkStatus();
  const int err = errno;
  std::error_code ec;
  if (err == ENOENT && fs::is_regular_file(to, ec) &&
      static_cast<int64_t>(fs::file_size(to, ec)) == bytes) {
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("cannot move shard ", from, " to ", to, ": ", std::strerror(err)));
}

absl::Status CheckSameShape(const Manifest& dataset, const Manifest& pair,
                            const std::string& name) {
  auto shape = [](const Manifest& m) {
    return absl::StrFormat("%dx%d -> %dx%d, window %d, format %s", m.lr_width(), m.lr_height(),
                           m.hr_width(), m.hr_height(), m.parameters().window(),
                           m.parameters().format());
  };
  if (shape(dataset) != shape(pair) ||
      dataset.parameters().provenance() != pair.parameters().provenance()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset '", name, "' holds examples of shape ", shape(dataset), "; this pair makes ",
        shape(pair), "; a dataset has one shape, so submit it to another --dataset"));
  }
  return absl::OkStatus();
}

// The storage-relative files a result names, by field.
std::vector<std::pair<const char*, std::string>> FilesOf(const framepair::v1::TaskResult& r) {
  switch (r.result_case()) {
    case framepair::v1::TaskResult::kIngest:
      return {{"frame_table", r.ingest().frame_table()}};
    case framepair::v1::TaskResult::kAlign:
      return {{"pairs", r.align().pairs()}};
    case framepair::v1::TaskResult::kScene:
      return {{"plan", r.scene().plan()}};
    case framepair::v1::TaskResult::kPack:
      return {{"shard", r.pack().shard()}};
    default:
      return {};
  }
}

constexpr char kManifest[] = "manifest.json";

// Downloads `relative` from a bucket root into the scratch directory, if the bucket has it.
absl::Status FetchIfStored(const StorageRoot& storage, const std::string& relative) {
  absl::StatusOr<std::string> got = storage.Fetch(relative);
  return absl::IsNotFound(got.status()) ? absl::OkStatus() : got.status();
}

// The scratch copy of a dataset, removed however the publication ends.
class LocalCopy {
 public:
  explicit LocalCopy(std::string dir) : dir_(std::move(dir)) {}
  LocalCopy(const LocalCopy&) = delete;
  LocalCopy& operator=(const LocalCopy&) = delete;
  ~LocalCopy() { (void)Clear(); }
  // Empties the directory: what an earlier publication left is not the bucket's state.
  absl::Status Clear() const {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) fs::remove_all(entry.path(), ec);
    if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot empty ", dir_), "");
    return absl::OkStatus();
  }

 private:
  std::string dir_;
};

}  // namespace

absl::Status CheckTaskResult(const StorageRoot& storage, const std::string& job_id,
                             const std::string& task, int64_t attempt,
                             const framepair::v1::RunParameters& parameters,
                             const framepair::v1::TaskResult& result) {
  const std::string work_dir = AttemptWorkDir(job_id, task, attempt);
  auto refuse = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("the worker's result for ", task, " (attempt ", attempt, ") is refused: ", why,
                     "; a worker may only report files of its own attempt"));
  };
  for (const auto& [field, path] : FilesOf(result)) {
    if (path.empty()) continue;  // names no file
    absl::StatusOr<std::string> resolved = storage.ResolveWithin(path, work_dir, false);
    if (!resolved.ok()) {
      return refuse(absl::StrCat(field, " ", QuoteUserText(path), " is not inside ", work_dir));
    }
  }
  if (result.has_pack()) {
    absl::StatusOr<TaskId> id = TaskId::Parse(task);
    if (!id.ok() || id->kind != TaskKind::kPack) {
      return refuse(absl::StrCat("a pack result arrived for a task that is not a pack task"));
    }
    if (id->shard >= PackTaskCount(parameters)) {
      return refuse(absl::StrCat("the job has no pack task ", id->shard));
    }
    const std::string assigned = JobPackFileName(job_id, id->shard, parameters);
    const std::string& named = result.pack().entry().file();
    if (named != assigned) {
      return refuse(absl::StrCat("it names its shard ", QuoteUserText(named), ", not ", assigned));
    }
    const std::string expected_path = absl::StrCat(work_dir, "/", assigned);
    if (result.pack().shard() != expected_path) {
      return refuse(absl::StrCat("its shard is ", QuoteUserText(result.pack().shard()), ", not ",
                                 expected_path));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<framepair::v1::JobResult> PublishJob(const StorageRoot& storage,
                                                    const std::string& job_id,
                                                    const framepair::v1::JobSpec& spec,
                                                    const std::map<std::string, DoneTask>& tasks) {
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFor(spec.parameters()));
  // Every result is checked before anything moves: a refused job leaves the dataset untouched.
  for (const auto& [task, done] : tasks) {
    FP_RETURN_IF_ERROR(
        CheckTaskResult(storage, job_id, task, done.attempt, spec.parameters(), done.result));
  }
  auto result_of = [&](const std::string& task) -> absl::StatusOr<framepair::v1::TaskResult> {
    auto it = tasks.find(task);
    if (it == tasks.end()) return absl::InternalError(absl::StrCat(task, " has no result"));
    return it->second.result;
  };

  // The pair's own manifest, built as `framepair run` builds its own.
  RunManifestBuilder builder(ParametersFor(options));
  auto frames_of = [](const framepair::v1::PackResult& p) {
    return PackedFrames{p.stats().distinct_lr_frames(), p.stats().distinct_hr_frames(),
                        p.stats().pngs_encoded()};
  };
  framepair::v1::JobResult out;
  for (int shard = 0; shard < options.shards; ++shard) {
    FP_ASSIGN_OR_RETURN(auto r, result_of(TaskId::Pack(shard).Name()));
    builder.AddShard(r.pack().entry(), frames_of(r.pack()));
  }
  const bool validation = PackTaskCount(spec.parameters()) > spec.parameters().shards();
  std::string validation_part;  // the validation task's file, storage-resolved
  if (validation) {
    FP_ASSIGN_OR_RETURN(auto r, result_of(TaskId::Pack(options.shards).Name()));
    builder.SetValidation(r.pack().entry(), frames_of(r.pack()));
    FP_ASSIGN_OR_RETURN(validation_part, storage.Resolve(r.pack().shard(), false));
  }
  // A bucket root: the dataset's manifest and validation file are rewritten in the scratch
  // directory, fresh from the bucket, and uploaded; the directory goes however this ends.
  std::optional<LocalCopy> local;
  if (storage.remote()) {
    FP_ASSIGN_OR_RETURN(std::string scratch, storage.DatasetDir(spec.dataset()));
    local.emplace(scratch);
    FP_RETURN_IF_ERROR(local->Clear());
    FP_RETURN_IF_ERROR(FetchIfStored(storage, DatasetKey(spec.dataset(), kManifest)));
  }
  if (!options.pack.hr_only) {
    FP_ASSIGN_OR_RETURN(auto lr, result_of(TaskId::Ingest(Side::kLr).Name()));
    builder.AddSource(lr.ingest().source());
  }
  FP_ASSIGN_OR_RETURN(auto hr, result_of(TaskId::Ingest(Side::kHr).Name()));
  builder.AddSource(hr.ingest().source());
  FP_ASSIGN_OR_RETURN(auto aligned, result_of(TaskId::Align().Name()));
  FP_ASSIGN_OR_RETURN(auto scene, result_of(TaskId::Scene().Name()));
  builder.SetAlignment(aligned.align().pairs_aligned(), aligned.align().pairs_rejected(),
                       aligned.align().mean_residual());
  builder.SetScenes(scene.scene().scenes(), scene.scene().windows(), scene.scene().accounting());
  const Manifest pair = builder.Build(hr.ingest().source().width(), hr.ingest().source().height());

  FP_ASSIGN_OR_RETURN(std::string dir, storage.DatasetDir(spec.dataset()));
  FP_ASSIGN_OR_RETURN(const std::vector<std::string> replaced,
                      JobsToReplace(storage, job_id, spec, pair));  // datasets.h
  Manifest dataset;
  const bool exists = fs::exists(dir + "/manifest.json");
  if (exists) {
    FP_ASSIGN_OR_RETURN(dataset, ReadManifest(dir));
    if (dataset.pairs_size() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir,
          " holds a dataset written by `framepair run`, not by the coordinator; submit to "
          "another --dataset"));
    }
    FP_RETURN_IF_ERROR(CheckSameShape(dataset, pair, spec.dataset()));
  }
  if (storage.remote()) {
    // The manifest rewrite reads the dataset's validation file (the parts it keeps).
    if (exists && dataset.has_validation()) {
      FP_RETURN_IF_ERROR(
          storage.Fetch(DatasetKey(spec.dataset(), dataset.validation().file())).status());
    }
    if (validation) {
      FP_ASSIGN_OR_RETURN(auto r, result_of(TaskId::Pack(options.shards).Name()));
      FP_ASSIGN_OR_RETURN(validation_part, storage.Fetch(r.pack().shard()));
    }
  }

  // Shards first, manifest last: a reader that trusts manifest.json never sees a partial pair.
  for (int shard = 0; shard < options.shards; ++shard) {
    FP_ASSIGN_OR_RETURN(auto r, result_of(TaskId::Pack(shard).Name()));
    if (storage.remote()) {  // server-side, from the attempt's own prefix to the final key
      FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, storage.OpenStore());
      FP_RETURN_IF_ERROR(store->Copy(r.pack().shard(),
                                     DatasetKey(spec.dataset(), r.pack().entry().file()),
                                     r.pack().entry().bytes()));
      continue;
    }
    FP_ASSIGN_OR_RETURN(std::string from, storage.Resolve(r.pack().shard(), false));
    FP_RETURN_IF_ERROR(
        MoveShard(from, dir + "/" + r.pack().entry().file(), r.pack().entry().bytes()));
  }
  FP_RETURN_IF_ERROR(SyncDirectory(dir));
  // The job's report page before the manifest lists the job: whoever sees the job finds its
  // report. A page that cannot be made costs the page, never the dataset. In a bucket the
  // page would need every shard downloaded to the coordinator: none there yet.
  if (!storage.remote()) {
    if (absl::Status s = WriteJobReport(storage, job_id, dir, pair, validation_part, tasks);
        !s.ok()) {
      spdlog::warn("{}: no report page: {}", job_id, std::string(s.message()));
    }
  }

  bool listed = false;
  for (const auto& p : dataset.pairs()) listed = listed || p.job_id() == job_id;
  if (!listed) {
    // One manifest write is the commit point: it adds this job and drops the jobs it
    // replaces (--replace) together. The validation file is rewritten before it (the kept
    // parts, then this job's; a publication interrupted there is simply run again), and the
    // replaced jobs' files go only once the new manifest is durable.
    std::set<std::string> removed_files;
    Manifest next;
    if (!exists) {
      next = pair;
      next.clear_pairs();
      next.clear_validation();
      if (validation) {
        FP_ASSIGN_OR_RETURN(
            framepair::v1::ShardEntry file,
            RewriteValidationFile(dir, {}, {}, {}, validation_part, pair.validation()));
        if (!file.file().empty()) *next.mutable_validation() = file;
      }
    } else {
      std::vector<bool> keep;
      for (const auto& p : dataset.pairs()) {
        keep.push_back(std::find(replaced.begin(), replaced.end(), p.job_id()) == replaced.end());
      }
      FP_ASSIGN_OR_RETURN(
          next, WithoutPairs(dir, dataset, keep, validation ? validation_part : std::string(),
                             validation ? pair.validation() : framepair::v1::ShardEntry(),
                             &removed_files));
      for (const auto& s : pair.shards()) *next.add_shards() = s;
      for (const auto& s : pair.sources()) *next.add_sources() = s;
      next.set_total_examples(next.total_examples() + pair.total_examples());
    }
    framepair::v1::PairEntry* entry = next.add_pairs();
    entry->set_job_id(job_id);
    *entry->mutable_sources() = pair.sources();
    *entry->mutable_parameters() = pair.parameters();
    *entry->mutable_stats() = pair.stats();
    for (const auto& s : pair.shards()) entry->add_shard_files(s.file());
    entry->set_examples(pair.total_examples());
    if (validation && next.has_validation()) *entry->mutable_validation() = pair.validation();
    if (storage.remote() && validation && next.has_validation()) {
      // One PUT: the object appears whole or not at all, before the manifest that lists it.
      FP_RETURN_IF_ERROR(storage.Push(DatasetKey(spec.dataset(), next.validation().file())));
    }
    FP_RETURN_IF_ERROR(WriteManifest(dir, next));
    if (storage.remote()) {
      FP_RETURN_IF_ERROR(storage.Push(DatasetKey(spec.dataset(), kManifest)));  // last
    }
    // What the new manifest no longer lists (a replaced job's shards and report): on a
    // bucket root the objects, which a reader's train_*.tfrecord glob would still find.
    std::unique_ptr<ObjectStore> store;
    if (storage.remote() && !removed_files.empty()) {
      FP_ASSIGN_OR_RETURN(store, storage.OpenStore());
    }
    for (const std::string& file : removed_files) {
      std::error_code ec;
      fs::remove(fs::path(dir) / file, ec);
      if (store != nullptr) {
        if (absl::Status s = store->Delete(DatasetKey(spec.dataset(), file)); !s.ok()) {
          spdlog::warn("{}: cannot remove {}: {}", job_id, file, std::string(s.message()));
        }
      } else if (ec) {
        spdlog::warn("{}: cannot remove {}: {}", job_id, file, ec.message());
      }
    }
  }

  FP_ASSIGN_OR_RETURN(*out.mutable_dataset_dir(), storage.Relativize(dir));
  *out.mutable_shards() = pair.shards();
  *out.mutable_stats() = pair.stats();
  out.set_examples(pair.total_examples());
  int64_t bytes = 0;
  for (const auto& s : pair.shards()) bytes += s.bytes();
  out.set_bytes(bytes);
  return out;
}

}  // namespace framepair
