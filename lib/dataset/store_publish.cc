#include "dataset/store_publish.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataset/dataset.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

constexpr char kManifest[] = "manifest.json";
constexpr char kStaging[] = ".framepair-staging/";

std::vector<const framepair::v1::ShardEntry*> FilesOf(const framepair::v1::Manifest& m) {
  std::vector<const framepair::v1::ShardEntry*> files;
  for (const auto& s : m.shards()) files.push_back(&s);
  if (m.has_validation()) files.push_back(&m.validation());
  return files;
}

// Removes the staging objects however the publication ends.
class StagingCleanup {
 public:
  StagingCleanup(ObjectStore& store, std::string prefix)
      : store_(store), prefix_(std::move(prefix)) {}
  ~StagingCleanup() {
    absl::StatusOr<std::vector<ObjectInfo>> left = store_.List(prefix_);
    if (!left.ok()) return;
    for (const ObjectInfo& o : *left) store_.Delete(o.key).IgnoreError();
  }

 private:
  ObjectStore& store_;
  std::string prefix_;
};

}  // namespace

absl::Status UploadDataset(const std::string& local_dir, const framepair::v1::Manifest& manifest,
                           ObjectStore& store, const std::vector<std::string>& companions) {
  FP_RETURN_IF_ERROR(CheckManifestFileNames(manifest, "the new manifest"));
  std::vector<std::string> present;  // companions to publish; the others are deleted
  for (const std::string& name : companions) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(absl::StrCat(local_dir, "/", name), ec)) {
      present.push_back(name);
    }
  }
  // The old dataset first: its manifest says which objects are its shards.
  std::optional<framepair::v1::Manifest> old;
  absl::StatusOr<std::string> old_json = store.GetBytes(kManifest);
  if (old_json.ok()) {
    absl::StatusOr<framepair::v1::Manifest> parsed =
        ParseManifest(*old_json, absl::StrCat(store.Describe(), kManifest));
    if (absl::IsInvalidArgument(parsed.status())) return parsed.status();
    if (parsed.ok()) old = *std::move(parsed);
  } else if (!absl::IsNotFound(old_json.status())) {
    return old_json.status();
  }

  // A fresh staging prefix per attempt: a retried or concurrent run never reuses one.
  std::mt19937_64 rng(
      std::random_device{}() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const std::string staging = absl::StrFormat("%s%d-%016x/", kStaging, getpid(), rng());
  StagingCleanup cleanup(store, staging);
  for (const framepair::v1::ShardEntry* f : FilesOf(manifest)) {
    FP_RETURN_IF_ERROR(store.PutFile(staging + f->file(), absl::StrCat(local_dir, "/", f->file())));
  }
  for (const std::string& name : present) {
    FP_RETURN_IF_ERROR(store.PutFile(staging + name, absl::StrCat(local_dir, "/", name)));
  }
  // From here the old dataset stops being valid: its manifest goes first, so a crash leaves a
  // prefix without manifest (clearly incomplete), never a manifest that lies.
  FP_RETURN_IF_ERROR(store.Delete(kManifest));
  std::set<std::string> keep;
  for (const framepair::v1::ShardEntry* f : FilesOf(manifest)) {
    FP_RETURN_IF_ERROR(store.Copy(staging + f->file(), f->file(), f->bytes()));
    keep.insert(f->file());
  }
  for (const std::string& name : companions) {
    if (std::find(present.begin(), present.end(), name) == present.end()) {
      FP_RETURN_IF_ERROR(store.Delete(name));
      continue;
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(absl::StrCat(local_dir, "/", name), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot stat ", local_dir, "/", name));
    FP_RETURN_IF_ERROR(store.Copy(staging + name, name, static_cast<int64_t>(size)));
  }
  if (old) {
    for (const framepair::v1::ShardEntry* f : FilesOf(*old)) {
      if (!keep.count(f->file())) FP_RETURN_IF_ERROR(store.Delete(f->file()));
    }
  }
  FP_ASSIGN_OR_RETURN(std::string json, ManifestJson(manifest));
  return store.PutBytes(kManifest, json);
}

absl::StatusOr<std::vector<std::string>> DownloadDataset(
    ObjectStore& store, const std::string& local_dir, const std::vector<std::string>& companions) {
  absl::StatusOr<std::string> json = store.GetBytes(kManifest);
  if (absl::IsNotFound(json.status())) {
    return absl::NotFoundError(absl::StrCat("no ", store.Describe(), kManifest,
                                            ": not a complete framepair dataset (the manifest "
                                            "is written last)"));
  }
  FP_RETURN_IF_ERROR(json.status());
  FP_ASSIGN_OR_RETURN(framepair::v1::Manifest manifest,
                      ParseManifest(*json, absl::StrCat(store.Describe(), kManifest)));
  std::set<std::string> listed;
  for (const framepair::v1::ShardEntry* f : FilesOf(manifest)) {
    absl::Status got = store.GetFile(f->file(), absl::StrCat(local_dir, "/", f->file()));
    // A missing file is verify's defect to report, not an error of the download.
    if (!got.ok() && !absl::IsNotFound(got)) return got;
    listed.insert(f->file());
  }
  for (const std::string& name : companions) {
    absl::Status got = store.GetFile(name, absl::StrCat(local_dir, "/", name));
    if (!got.ok() && !absl::IsNotFound(got)) return got;
  }
  FP_RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(local_dir, "/", kManifest), *json));
  std::vector<std::string> stray;
  FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store.List(""));
  for (const ObjectInfo& o : objects) {
    if (o.key.find('/') == std::string::npos && absl::StrContains(o.key, ".tfrecord") &&
        !listed.count(o.key)) {
      stray.push_back(o.key);
    }
  }
  return stray;
}

}  // namespace framepair
