#include "services/coordinator/datasets.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataset/dataset.h"
#include "dataset/publish.h"
#include "storage/object_store.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using framepair::v1::Manifest;

constexpr char kManifest[] = "manifest.json";
constexpr char kReportsDir[] = "reports";

// The dataset's directory, without creating it (StorageRoot::DatasetDir creates).
absl::StatusOr<std::string> ExistingDatasetDir(const StorageRoot& storage,
                                               const std::string& dataset) {
  FP_RETURN_IF_ERROR(StorageRoot::ValidateName("dataset name", dataset));
  absl::StatusOr<std::string> dir = storage.Resolve(absl::StrCat("datasets/", dataset), true);
  std::error_code ec;
  if (!dir.ok() || !fs::is_regular_file(*dir + "/" + kManifest, ec)) {
    return absl::NotFoundError(absl::StrCat("no published dataset '", dataset, "'"));
  }
  return dir;
}

absl::Status RemoveFile(const std::string& path, int64_t* removed) {
  if (::unlink(path.c_str()) == 0) {
    ++*removed;
    return absl::OkStatus();
  }
  if (errno == ENOENT) return absl::OkStatus();
  return ErrnoError(errno, absl::StrCat("cannot remove ", path), "check the permissions");
}

}  // namespace

std::string DatasetKey(const std::string& dataset, const std::string& file) {
  return absl::StrCat("datasets/", dataset, "/", file);
}

std::string JobReportFile(const std::string& job_id) {
  return absl::StrCat(kReportsDir, "/", job_id, ".html");
}

absl::StatusOr<Manifest> PublishedManifest(const StorageRoot& storage, const std::string& dataset) {
  if (!storage.remote()) {
    FP_ASSIGN_OR_RETURN(std::string dir, ExistingDatasetDir(storage, dataset));
    return ReadManifest(dir);
  }
  // From the bucket, never from the scratch directory: that copy is the publisher's.
  FP_RETURN_IF_ERROR(StorageRoot::ValidateName("dataset name", dataset));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, storage.OpenStore());
  absl::StatusOr<std::string> json = store->GetBytes(DatasetKey(dataset, kManifest));
  if (absl::IsNotFound(json.status())) {
    return absl::NotFoundError(absl::StrCat("no published dataset '", dataset, "'"));
  }
  if (!json.ok()) return json.status();
  return ParseManifest(*json,
                       absl::StrCat(storage.location(), "/", DatasetKey(dataset, kManifest)));
}

absl::StatusOr<DatasetFile> FindDatasetFile(const StorageRoot& storage, const std::string& dataset,
                                            const std::string& file) {
  FP_ASSIGN_OR_RETURN(Manifest manifest, PublishedManifest(storage, dataset));
  DatasetFile out;
  for (const auto& pair : manifest.pairs()) out.dataset_jobs.push_back(pair.job_id());
  bool listed =
      file == kManifest || (manifest.has_validation() && manifest.validation().file() == file);
  for (const auto& pair : manifest.pairs()) {
    if (listed) break;
    for (const std::string& shard : pair.shard_files()) {
      if (shard == file) {
        listed = true;
        out.job_id = pair.job_id();
      }
    }
    if (file == JobReportFile(pair.job_id())) {
      listed = true;
      out.job_id = pair.job_id();
    }
  }
  // A dataset `framepair run` wrote into the storage root has shards but no pairs.
  for (const auto& shard : manifest.shards()) listed = listed || shard.file() == file;
  if (!listed) {
    return absl::NotFoundError(
        absl::StrCat("dataset '", dataset, "' lists no such file (ask for manifest.json first)"));
  }
  const bool report = !out.job_id.empty() && file == JobReportFile(out.job_id);
  if (storage.remote()) {
    // Manifest names passed CheckManifestFileNames (ParseManifest): safe as keys.
    if (report) {
      return absl::NotFoundError(absl::StrCat(
          "dataset '", dataset, "' has no report page of job ", out.job_id,
          ": the coordinator makes none on an object storage root (it would download every "
          "shard); `framepair fetch` the dataset, then `framepair report DIR` makes one"));
    }
    absl::StatusOr<int64_t> size = storage.StoredSize(DatasetKey(dataset, file));
    if (absl::IsNotFound(size.status())) {
      return absl::NotFoundError(absl::StrCat("dataset '", dataset, "' has no file ", file,
                                              " (its manifest lists it: the dataset is damaged)"));
    }
    if (!size.ok()) return size.status();
    out.key = DatasetKey(dataset, file);
    out.size = *size;
    return out;
  }
  // Manifest names passed CheckManifestFileNames (ReadManifest); a symbolic link planted in
  // the directory must still not lead out of it.
  FP_ASSIGN_OR_RETURN(std::string dir, ExistingDatasetDir(storage, dataset));
  FP_ASSIGN_OR_RETURN(std::string dataset_rel, storage.Relativize(dir));
  absl::StatusOr<std::string> path =
      storage.ResolveWithin(absl::StrCat(dataset_rel, "/", file), dataset_rel, true);
  struct stat st {};
  if (report && (!path.ok() || ::stat(path->c_str(), &st) != 0)) {
    return absl::NotFoundError(absl::StrCat("dataset '", dataset, "' has no report page of job ",
                                            out.job_id,
                                            " (jobs published by an older coordinator have none)"));
  }
  if (!path.ok() || ::stat(path->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("dataset '", dataset, "' has no file ", file,
                                            " (its manifest lists it: the dataset is damaged)"));
  }
  out.path = *std::move(path);
  return out;
}

absl::StatusOr<std::vector<framepair::v1::DatasetSummary>> ListPublishedDatasets(
    const StorageRoot& storage) {
  std::vector<framepair::v1::DatasetSummary> out;
  std::vector<std::string> names;
  if (storage.remote()) {  // the prefixes with a manifest.json directly below them
    FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, storage.OpenStore());
    FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store->List("datasets/"));
    for (const ObjectInfo& o : objects) {
      const std::vector<std::string> parts = absl::StrSplit(o.key, '/');
      if (parts.size() == 3 && parts[2] == kManifest) names.push_back(parts[1]);
    }
  } else {
    const fs::path root = fs::path(storage.root()) / "datasets";
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return out;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!StorageRoot::ValidateName("dataset name", name).ok()) continue;
    absl::StatusOr<Manifest> m = PublishedManifest(storage, name);
    if (!m.ok()) continue;  // no manifest (yet): nothing published
    framepair::v1::DatasetSummary summary;
    summary.set_name(name);
    if (storage.remote()) {
      summary.set_path(absl::StrCat(storage.location(), "/datasets/", name));
    } else {
      FP_ASSIGN_OR_RETURN(std::string dir, ExistingDatasetDir(storage, name));
      summary.set_path(dir);
    }
    summary.set_examples(m->total_examples());
    int64_t bytes = m->has_validation() ? m->validation().bytes() : 0;
    for (const auto& s : m->shards()) bytes += s.bytes();
    summary.set_bytes(bytes);
    for (const auto& pair : m->pairs()) {
      framepair::v1::DatasetJob* job = summary.add_jobs();
      job->set_job_id(pair.job_id());
      job->set_examples(pair.examples());
      for (const auto& s : pair.sources()) job->add_source_sha256(s.sha256());
      job->set_seed(pair.parameters().seed());
      job->set_shards(pair.shard_files_size());
    }
    out.push_back(std::move(summary));
  }
  return out;
}

absl::StatusOr<Manifest> WithoutPairs(const std::string& dir, const Manifest& dataset,
                                      const std::vector<bool>& keep, const std::string& append_path,
                                      const framepair::v1::ShardEntry& append,
                                      std::set<std::string>* removed) {
  Manifest next = dataset;
  next.clear_pairs();
  next.clear_shards();
  next.clear_sources();
  int64_t examples = 0;
  std::vector<framepair::v1::ShardEntry> parts;
  std::set<std::string> dropped;
  for (int i = 0; i < dataset.pairs_size(); ++i) {
    const auto& pair = dataset.pairs(i);
    parts.push_back(pair.validation());
    if (!keep[static_cast<size_t>(i)]) {
      dropped.insert(pair.shard_files().begin(), pair.shard_files().end());
      removed->insert(JobReportFile(pair.job_id()));
      continue;
    }
    *next.add_pairs() = pair;
    for (const auto& s : pair.sources()) *next.add_sources() = s;
    examples += pair.examples();
  }
  for (const auto& s : dataset.shards()) {
    if (!dropped.count(s.file())) *next.add_shards() = s;
  }
  removed->insert(dropped.begin(), dropped.end());
  next.set_total_examples(examples);
  const framepair::v1::ShardEntry current =
      dataset.has_validation() ? dataset.validation() : framepair::v1::ShardEntry();
  FP_ASSIGN_OR_RETURN(framepair::v1::ShardEntry validation,
                      RewriteValidationFile(dir, current, parts, keep, append_path, append));
  if (validation.file().empty()) {
    next.clear_validation();
    if (!current.file().empty()) removed->insert(current.file());
  } else {
    *next.mutable_validation() = validation;
  }
  return next;
}

absl::StatusOr<framepair::v1::DeleteDatasetResponse> RemoveFromDataset(const StorageRoot& storage,
                                                                       const std::string& dataset,
                                                                       const std::string& job_id) {
  FP_ASSIGN_OR_RETURN(Manifest manifest, PublishedManifest(storage, dataset));
  // On a bucket root the same steps on objects; the scratch directory holds the dataset's
  // files only while the validation file is rewritten, and is emptied however this ends.
  std::unique_ptr<ObjectStore> store;
  std::set<std::string> stored;  // the objects under the dataset's prefix, by file name
  std::string dir;
  if (storage.remote()) {
    FP_ASSIGN_OR_RETURN(store, storage.OpenStore());
    FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store->List(DatasetKey(dataset, "")));
    for (const ObjectInfo& o : objects) stored.insert(o.key.substr(DatasetKey(dataset, "").size()));
    FP_ASSIGN_OR_RETURN(dir, storage.DatasetDir(dataset));
  } else {
    FP_ASSIGN_OR_RETURN(dir, ExistingDatasetDir(storage, dataset));
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{storage.remote() ? dir : ""};
  int64_t count = 0;
  const auto remove = [&](const std::string& file) -> absl::Status {
    if (store == nullptr) return RemoveFile(dir + "/" + file, &count);
    if (!stored.count(file)) return absl::OkStatus();
    FP_RETURN_IF_ERROR(store->Delete(DatasetKey(dataset, file)));
    ++count;
    return absl::OkStatus();
  };

  framepair::v1::DeleteDatasetResponse response;
  std::vector<bool> keep;
  for (const auto& pair : manifest.pairs()) {
    const bool removed = job_id.empty() || pair.job_id() == job_id;
    keep.push_back(!removed);
    if (removed) response.add_jobs_removed(pair.job_id());
  }
  if (!job_id.empty() && response.jobs_removed_size() == 0) {
    return absl::NotFoundError(absl::StrCat("dataset '", dataset, "' holds no job ", job_id));
  }
  std::set<std::string> removed_files;
  const bool everything = std::find(keep.begin(), keep.end(), true) == keep.end();
  if (everything) {
    // The manifest first: from then on nothing claims the files, so a removal interrupted
    // half-way leaves an incomplete directory, never a manifest naming missing shards.
    FP_RETURN_IF_ERROR(remove(kManifest));
    if (store == nullptr) FP_RETURN_IF_ERROR(SyncDirectory(dir));
    for (const auto& pair : manifest.pairs()) removed_files.insert(JobReportFile(pair.job_id()));
    for (const auto& s : manifest.shards()) removed_files.insert(s.file());
    if (manifest.has_validation()) removed_files.insert(manifest.validation().file());
  } else {
    if (store != nullptr && manifest.has_validation()) {  // the parts kept are read from it
      std::error_code ec;
      fs::remove(fs::path(dir) / manifest.validation().file(), ec);  // a stale copy
      FP_RETURN_IF_ERROR(storage.Fetch(DatasetKey(dataset, manifest.validation().file())).status());
    }
    FP_ASSIGN_OR_RETURN(Manifest next, WithoutPairs(dir, manifest, keep, "", {}, &removed_files));
    if (store != nullptr && next.has_validation()) {
      FP_RETURN_IF_ERROR(storage.Push(DatasetKey(dataset, next.validation().file())));
    }
    FP_RETURN_IF_ERROR(WriteManifest(dir, next));
    if (store != nullptr) FP_RETURN_IF_ERROR(storage.Push(DatasetKey(dataset, kManifest)));
  }
  for (const std::string& file : removed_files) FP_RETURN_IF_ERROR(remove(file));
  if (job_id.empty() && store == nullptr) {
    std::error_code ec;
    fs::remove(fs::path(dir) / kReportsDir, ec);  // only when empty
    fs::remove(dir, ec);                          // files framepair did not write stay
  }
  response.set_files_removed(count);
  return response;
}

std::vector<std::string> DuplicateJobs(const Manifest& dataset, const std::string& job_id,
                                       const std::vector<std::string>& source_sha256,
                                       const framepair::v1::RunParameters& parameters) {
  std::vector<std::string> out;
  const std::string wanted = parameters.SerializeAsString();
  for (const auto& pair : dataset.pairs()) {
    if (pair.job_id() == job_id || pair.sources_size() != static_cast<int>(source_sha256.size())) {
      continue;
    }
    bool same = pair.parameters().SerializeAsString() == wanted;
    for (int i = 0; same && i < pair.sources_size(); ++i) {
      // An unknown hash (an entry without one) matches nothing.
      same = !pair.sources(i).sha256().empty() &&
             pair.sources(i).sha256() == source_sha256[static_cast<size_t>(i)];
    }
    if (same) out.push_back(pair.job_id());
  }
  return out;
}

absl::Status DuplicateJobError(const std::string& dataset, const std::string& other_job) {
  return absl::FailedPreconditionError(absl::StrCat(
      "dataset '", dataset, "' already holds job ", other_job,
      " made from the same footage with the same options and seed (its shards would be the "
      "same examples again); submit with --replace to replace that job's shards"));
}

absl::StatusOr<std::vector<std::string>> JobsToReplace(const StorageRoot& storage,
                                                       const std::string& job_id,
                                                       const framepair::v1::JobSpec& spec,
                                                       const Manifest& pair) {
  absl::StatusOr<std::string> dir = ExistingDatasetDir(storage, spec.dataset());
  if (!dir.ok()) return std::vector<std::string>();  // nothing published yet
  FP_ASSIGN_OR_RETURN(Manifest dataset, ReadManifest(*dir));
  std::vector<std::string> sources;
  for (const auto& s : pair.sources()) sources.push_back(s.sha256());
  std::vector<std::string> others = DuplicateJobs(dataset, job_id, sources, pair.parameters());
  if (!others.empty() && !spec.replace()) return DuplicateJobError(spec.dataset(), others[0]);
  return others;
}

std::string FootageSha256(const framepair::v1::FootageRef& ref) {
  constexpr char kPrefix[] = "footage/sha256/";
  const std::string& path = ref.storage_path();
  if (!absl::StartsWith(path, kPrefix)) return "";
  const std::string hex = path.substr(sizeof(kPrefix) - 1);
  return StorageRoot::ValidateSha256Hex(hex).ok() ? hex : "";
}

}  // namespace framepair
