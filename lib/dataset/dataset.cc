#include "dataset/dataset.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/file.h"
#include "util/quote.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

constexpr char kManifestName[] = "manifest.json";

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : absl::StrCat(dir, "/", name);
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

bool IsShardFileName(std::string_view name) {
  constexpr std::string_view kPrefixes[] = {"train-", "train_"};
  constexpr std::string_view kSuffixes[] = {".tfrecord", ".tfrecord.gz"};
  // Far above any name we write; a bound keeps hostile names out of messages and paths.
  constexpr size_t kMaxName = 200;
  if (name.size() > kMaxName) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;  // no "/", so no path; a prefix, so never "." or ".."
  }
  for (std::string_view prefix : kPrefixes) {
    for (std::string_view suffix : kSuffixes) {
      if (name.size() >= prefix.size() + suffix.size() && name.starts_with(prefix) &&
          name.ends_with(suffix)) {
        return true;
      }
    }
  }
  return false;
}

absl::Status CheckManifestFileNames(const framepair::v1::Manifest& manifest,
                                    const std::string& manifest_path) {
  auto refuse = [&](const std::string& name) {
    return absl::InvalidArgumentError(absl::StrCat(
        manifest_path, " lists the file ", QuoteUserText(name),
        ", which is not a shard file name (a plain name like train-00000-of-00001.tfrecord in "
        "the dataset directory); refusing to use that manifest: remove it or restore the "
        "one framepair wrote"));
  };
  for (const auto& shard : manifest.shards()) {
    if (!IsShardFileName(shard.file())) return refuse(shard.file());
  }
  for (const auto& pair : manifest.pairs()) {
    for (const std::string& file : pair.shard_files()) {
      if (!IsShardFileName(file)) return refuse(file);
    }
  }
  return absl::OkStatus();
}

std::string ShardFileName(const std::string& split, int index, int count, bool gzip) {
  return absl::StrFormat("%s-%05d-of-%05d.tfrecord%s", split, index, count, gzip ? ".gz" : "");
}

absl::StatusOr<framepair::v1::ShardEntry> WriteShard(const std::string& dir,
                                                     const std::string& file_name,
                                                     const std::string& bytes, int64_t examples) {
  if (absl::Status s = WriteFileAtomically(JoinPath(dir, file_name), bytes); !s.ok()) return s;
  framepair::v1::ShardEntry entry;
  entry.set_file(file_name);
  entry.set_examples(examples);
  entry.set_bytes(static_cast<int64_t>(bytes.size()));
  entry.set_sha256(Sha256Hex(bytes));
  return entry;
}

absl::Status WriteManifest(const std::string& dir, const framepair::v1::Manifest& manifest) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Zeros and empty fields are printed too, so a reader sees every parameter that applied.
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(manifest, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot serialize the manifest: ", status.message().as_string()));
  }
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return WriteFileAtomically(JoinPath(dir, kManifestName), json);
}

absl::StatusOr<framepair::v1::Manifest> ReadManifest(const std::string& dir) {
  const std::string path = JoinPath(dir, kManifestName);
  absl::StatusOr<std::string> json = ReadFile(path);
  if (!json.ok()) {
    if (absl::IsNotFound(json.status())) {
      return absl::NotFoundError(absl::StrCat(
          "no ", path, ": not a complete framepair dataset (the manifest is written last)"));
    }
    return json.status();
  }
  google::protobuf::util::JsonParseOptions options;
  // A newer framepair may add fields; an older reader should still verify the shards.
  options.ignore_unknown_fields = true;
  framepair::v1::Manifest manifest;
  const auto status = google::protobuf::util::JsonStringToMessage(*json, &manifest, options);
  if (!status.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a valid manifest: ", status.message().as_string()));
  }
  FP_RETURN_IF_ERROR(CheckManifestFileNames(manifest, path));
  return manifest;
}

}  // namespace framepair
