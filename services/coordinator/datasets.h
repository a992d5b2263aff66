// The coordinator's published datasets (<storage-root>/datasets/<name>/) as its API serves
// them: which files a client may download, the listing, the removal of a dataset or of one
// job's pairs, and the duplicate-job rule. What publishes a job is publisher.h; everything
// here reads the manifest first and touches only the files it lists.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framepair/v1/coordinator.pb.h"
#include "framepair/v1/job.pb.h"
#include "framepair/v1/manifest.pb.h"
#include "storage/storage.h"

namespace framepair {

// A dataset's file relative to the storage root ("datasets/<dataset>/<file>"): its key on a
// bucket root.
std::string DatasetKey(const std::string& dataset, const std::string& file);

// A job's report page beside the shards ("reports/<job>.html").
std::string JobReportFile(const std::string& job_id);

// A file of a dataset that may be served: a local file, or on a bucket root an object.
struct DatasetFile {
  std::string path;    // absolute, inside the dataset directory; "" on a bucket root
  std::string key;     // on a bucket root: the object's key (StorageRoot::OpenStore)
  int64_t size = 0;    // on a bucket root: the object's size
  std::string job_id;  // the job the file belongs to; "" for the whole dataset's files
  std::vector<std::string> dataset_jobs;  // every job the manifest lists
};

// The dataset's manifest.json as published: from the dataset directory, or on a bucket root
// from the bucket. NOT_FOUND "no published dataset" without one; INVALID_ARGUMENT for a
// malformed name.
absl::StatusOr<framepair::v1::Manifest> PublishedManifest(const StorageRoot& storage,
                                                          const std::string& dataset);

// `file` must be manifest.json, a file the manifest lists (shards, the validation file) or
// reports/<job>.html of a job it lists, and must resolve (symbolic links followed) inside the
// dataset directory to a regular file (on a bucket root: be an object under the dataset's
// prefix). NOT_FOUND for an unknown dataset or a file the manifest does not list (the message
// never says which of the two), and for a report page the dataset does not have (none on a
// bucket root); INVALID_ARGUMENT for a malformed dataset name.
absl::StatusOr<DatasetFile> FindDatasetFile(const StorageRoot& storage, const std::string& dataset,
                                            const std::string& file);

// Every dataset directory with a manifest, sorted by name, with its jobs (pairs).
absl::StatusOr<std::vector<framepair::v1::DatasetSummary>> ListPublishedDatasets(
    const StorageRoot& storage);

// Removes the pairs of `job_id` from the dataset (the whole dataset when empty): the
// validation file is rewritten without their parts and the manifest atomically without them
// (or removed, when no pair is left), and only then their shards and reports go (WithoutPairs).
// NOT_FOUND for an unknown dataset or a job it does not hold. The directory itself goes (when
// empty) only with the whole dataset. On a bucket root the same steps on the objects (the
// validation file rewritten in the scratch directory). Not thread-safe for one dataset: the
// caller serialises it with publications.
absl::StatusOr<framepair::v1::DeleteDatasetResponse> RemoveFromDataset(const StorageRoot& storage,
                                                                       const std::string& dataset,
                                                                       const std::string& job_id);

// The jobs of `dataset` whose pair has the same source sha256s (in order) and the same
// parameters (seed included) as `sources` + `parameters`, `job_id` itself excepted.
std::vector<std::string> DuplicateJobs(const framepair::v1::Manifest& dataset,
                                       const std::string& job_id,
                                       const std::vector<std::string>& source_sha256,
                                       const framepair::v1::RunParameters& parameters);

// The refusal a duplicate gets: FAILED_PRECONDITION naming the job and --replace.
absl::Status DuplicateJobError(const std::string& dataset, const std::string& other_job);

// The publisher's duplicate rule, before a job's pair is added: the jobs of the dataset whose
// pair equals `pair` (the job's own manifest). Any is DuplicateJobError unless spec.replace;
// with it they are the jobs the publication replaces, in the same manifest write that adds
// the job (WithoutPairs), so no reader and no crash ever sees the dataset without both.
absl::StatusOr<std::vector<std::string>> JobsToReplace(const StorageRoot& storage,
                                                       const std::string& job_id,
                                                       const framepair::v1::JobSpec& spec,
                                                       const framepair::v1::Manifest& pair);

// The next manifest of `dataset` (in `dir`) without the pairs `keep` says false for: their
// shards, sources and examples go, and the validation file is rewritten for it
// (dataset/publish.h RewriteValidationFile; `append_path` and `append`: a new pair's part,
// added after the kept ones, "" and {} for none). `removed` receives the files the next
// manifest no longer lists (the dropped pairs' shards and reports, the validation file when
// no part is left): remove them only once that manifest is durable.
absl::StatusOr<framepair::v1::Manifest> WithoutPairs(const std::string& dir,
                                                     const framepair::v1::Manifest& dataset,
                                                     const std::vector<bool>& keep,
                                                     const std::string& append_path,
                                                     const framepair::v1::ShardEntry& append,
                                                     std::set<std::string>* removed);

// The sha256 of footage the storage root holds content-addressed ("footage/sha256/<hex>"), or
// "" for another path (its hash is known only once ingest has read it).
std::string FootageSha256(const framepair::v1::FootageRef& ref);

}  // namespace framepair
