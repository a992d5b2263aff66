// The output directory: shards named "train_00000-of-00016.tfrecord[.gz]" (what JoshUpscale's
// configuration globs: train_*.tfrecord), an optional validate.tfrecord[.gz], each written to
// a temporary name, fsynced and renamed, and manifest.json written last, atomically. A
// previous complete dataset in the directory stays intact until the new manifest replaces it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"

namespace framepair {

// "<split>-00003-of-00016.tfrecord[.gz]": the names framepair wrote before name templates.
std::string ShardFileName(const std::string& split, int index, int count, bool gzip);

// Shard names come from a template (--name-template): {shard} and {shards} become 5-digit
// zero-padded numbers, {job} the job id (datasets built by the coordinator hold many jobs'
// shards, so their template must have {job}); ".tfrecord" or ".tfrecord.gz" is appended. The
// result must pass IsShardFileName(), so a template can rename shards but never move them
// out of the dataset directory or out of the globs readers use.
inline constexpr char kDefaultNameTemplate[] = "train_{shard}-of-{shards}";
inline constexpr char kDefaultJobNameTemplate[] = "train_{job}_{shard}-of-{shards}";
// The one validation file (JoshUpscale reads exactly this name beside the shards).
inline constexpr char kValidationFileName[] = "validate.tfrecord";
std::string ValidationFileName(bool gzip);

// INVALID_ARGUMENT naming --name-template and the rule it breaks. `job` says whether the
// template names a coordinator job's shards ({job} required) or a run's ({job} refused).
absl::Status CheckNameTemplate(std::string_view name_template, bool job);

// The shard name from a template that passed CheckNameTemplate(); an empty template means
// the default (kDefaultJobNameTemplate when `job_id` is not empty).
std::string ShardFileNameFrom(std::string_view name_template, const std::string& job_id, int index,
                              int count, bool gzip);

// The one rule for the file names a manifest may list (readers delete, move and open what a
// manifest names, so a name must never reach outside the dataset directory): a plain name,
// "train-" or "train_", then [A-Za-z0-9._-]*, then ".tfrecord" or ".tfrecord.gz"; or exactly
// the validation file, "validate.tfrecord[.gz]". New splits or file kinds are added here and
// nowhere else.
bool IsShardFileName(std::string_view name);

// INVALID_ARGUMENT naming `manifest_path` and the first listed file name (shards, pairs and
// the validation file) that IsShardFileName() refuses.
absl::Status CheckManifestFileNames(const framepair::v1::Manifest& manifest,
                                    const std::string& manifest_path);

// Writes one complete shard file atomically and fills in its manifest entry (name, bytes,
// sha256, examples).
absl::StatusOr<framepair::v1::ShardEntry> WriteShard(const std::string& dir,
                                                     const std::string& file_name,
                                                     const std::string& bytes, int64_t examples);

// Writes manifest.json (JSON of the Manifest proto, stable field order) atomically.
absl::Status WriteManifest(const std::string& dir, const framepair::v1::Manifest& manifest);
// NOT_FOUND without a manifest, DATA_LOSS for one that does not parse, INVALID_ARGUMENT for
// one that lists a file name CheckManifestFileNames() refuses.
absl::StatusOr<framepair::v1::Manifest> ReadManifest(const std::string& dir);
// The same for manifest text read from elsewhere (an object store); `path` names it.
absl::StatusOr<framepair::v1::Manifest> ParseManifest(const std::string& json,
                                                      const std::string& path);
// The manifest's JSON text, as WriteManifest() writes it.
absl::StatusOr<std::string> ManifestJson(const framepair::v1::Manifest& manifest);

}  // namespace framepair
