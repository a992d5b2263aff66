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
// `companions` are plain file names beside the manifest that belong to the dataset without
// being listed in it (the report): each one present in `local_dir` is published with the
// shards, before the manifest; one absent there is deleted from the store, so a companion of
// the previous dataset never describes the new one.
absl::Status UploadDataset(const std::string& local_dir, const framepair::v1::Manifest& manifest,
                           ObjectStore& store, const std::vector<std::string>& companions = {});

// Downloads manifest.json, the files it lists and the `companions` present into `local_dir`
// (for verify). Returns the
// names of .tfrecord objects directly under the prefix that the manifest does not list (stray
// files a reader's glob would pick up). NOT_FOUND without a manifest.
absl::StatusOr<std::vector<std::string>> DownloadDataset(
    ObjectStore& store, const std::string& local_dir,
    const std::vector<std::string>& companions = {});

}  // namespace framepair
