// A dataset in an object store (storage/object_store.h). Readers glob the dataset prefix
// (train_*.tfrecord), so nothing partial or stray may ever appear there: files are uploaded
// under a staging prefix (".framepair-staging/<id>/", which no train_* or validate.tfrecord
// glob matches), the old manifest is removed, the files are copied server-side to their final
// keys, manifest.json is written last, and staging is removed on every exit path.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"
#include "storage/object_store.h"

namespace framepair {

// Publishes the complete dataset in `local_dir` (the manifest's shards and validation file)
// to `store`, replacing the dataset there. A manifest already in the store that lists a file
// name CheckManifestFileNames() refuses stops it (INVALID_ARGUMENT) before anything changes.
absl::Status UploadDataset(const std::string& local_dir, const framepair::v1::Manifest& manifest,
                           ObjectStore& store);

// Downloads manifest.json and the files it lists into `local_dir` (for verify). Returns the
// names of .tfrecord objects directly under the prefix that the manifest does not list (stray
// files a reader's glob would pick up). NOT_FOUND without a manifest.
absl::StatusOr<std::vector<std::string>> DownloadDataset(ObjectStore& store,
                                                         const std::string& local_dir);

}  // namespace framepair
