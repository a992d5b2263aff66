#include "dataset/dataset.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
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

bool IsValidationName(std::string_view name) {
  return name == "validate.tfrecord" || name == "validate.tfrecord.gz";
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
  if (IsValidationName(name)) return true;
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
        ", which is not a shard file name (a plain name like train_00000-of-00001.tfrecord in "
        "the dataset directory); refusing to use that manifest: remove it or restore the "
        "one framepair wrote"));
  };
  for (const auto& shard : manifest.shards()) {
    if (!IsShardFileName(shard.file()) || IsValidationName(shard.file())) {
      return refuse(shard.file());
    }
  }
  for (const auto& pair : manifest.pairs()) {
    for (const std::string& file : pair.shard_files()) {
      if (!IsShardFileName(file) || IsValidationName(file)) return refuse(file);
    }
  }
  if (manifest.has_validation() && !IsValidationName(manifest.validation().file())) {
    return refuse(manifest.validation().file());
  }
  return absl::OkStatus();
}

std::string ValidationFileName(bool gzip) {
  return absl::StrCat(kValidationFileName, gzip ? ".gz" : "");
}

absl::Status CheckNameTemplate(std::string_view name_template, bool job) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--name-template ", QuoteUserText(std::string(name_template)), " ", why));
  };
  constexpr size_t kMaxTemplate = 100;
  if (name_template.empty()) return absl::OkStatus();
  if (name_template.size() > kMaxTemplate) {
    return refuse(absl::StrCat("is longer than ", kMaxTemplate, " characters"));
  }
  bool has_shard = false;
  bool has_job = false;
  for (size_t i = 0; i < name_template.size(); ++i) {
    if (name_template[i] == '}') return refuse("has a '}' outside a placeholder");
    if (name_template[i] != '{') continue;
    const size_t close = name_template.find('}', i);
    if (close == std::string_view::npos) return refuse("has an unclosed '{'");
    const std::string_view field = name_template.substr(i + 1, close - i - 1);
    if (field == "shard") {
      has_shard = true;
    } else if (field == "job") {
      has_job = true;
    } else if (field != "shards") {
      return refuse("has an unknown placeholder (use {shard}, {shards} and {job})");
    }
    i = close;
  }
  if (!has_shard) return refuse("has no {shard}, so every shard would get the same name");
  if (job && !has_job) {
    return refuse(
        "has no {job}: a dataset holds the shards of many jobs, so their names must "
        "differ (e.g. train_{job}_{shard}-of-{shards})");
  }
  if (!job && has_job)
    return refuse("has {job}, which only datasets built by the coordinator have");
  const std::string example = ShardFileNameFrom(name_template, "j000000000001", 0, 1, false);
  if (!IsShardFileName(example) || IsValidationName(example)) {
    return refuse(
        "must give a plain file name that starts with train_ or train- and uses only "
        "A-Z a-z 0-9 . _ - (.tfrecord is appended), so that readers globbing train_*.tfrecord "
        "or train-*.tfrecord find the shards");
  }
  return absl::OkStatus();
}

std::string ShardFileNameFrom(std::string_view name_template, const std::string& job_id, int index,
                              int count, bool gzip) {
  if (name_template.empty()) {
    name_template = job_id.empty() ? kDefaultNameTemplate : kDefaultJobNameTemplate;
  }
  const std::string out =
      absl::StrReplaceAll(absl::string_view(name_template.data(), name_template.size()),
                          {{"{shard}", absl::StrFormat("%05d", index)},
                           {"{shards}", absl::StrFormat("%05d", count)},
                           {"{job}", job_id}});
  return absl::StrCat(out, ".tfrecord", gzip ? ".gz" : "");
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
  FP_ASSIGN_OR_RETURN(std::string json, ManifestJson(manifest));
  return WriteFileAtomically(JoinPath(dir, kManifestName), json);
}

absl::StatusOr<std::string> ManifestJson(const framepair::v1::Manifest& manifest) {
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
  return json;
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
  return ParseManifest(*json, path);
}

absl::StatusOr<framepair::v1::Manifest> ParseManifest(const std::string& json,
                                                      const std::string& path) {
  google::protobuf::util::JsonParseOptions options;
  // A newer framepair may add fields; an older reader should still verify the shards.
  options.ignore_unknown_fields = true;
  framepair::v1::Manifest manifest;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &manifest, options);
  if (!status.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a valid manifest: ", status.message().as_string()));
  }
  FP_RETURN_IF_ERROR(CheckManifestFileNames(manifest, path));
  return manifest;
}

}  // namespace framepair
