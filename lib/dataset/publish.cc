#include "dataset/publish.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "util/file.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair {
namespace fs = std::filesystem;
namespace {

constexpr char kStagingPrefix[] = ".framepair-staging-";

std::string JoinPath(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : absl::StrCat(dir, "/", name);
}

bool ProcessAlive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

absl::Status FsyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", dir, ": ", strerror(errno)));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", dir, ": ", strerror(errno)));
  return absl::OkStatus();
}

void RemoveDeadStagingDirs(const std::string& out_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, kStagingPrefix)) continue;
    // Name: .framepair-staging-<pid>-<n>
    std::string rest = name.substr(strlen(kStagingPrefix));
    int pid = 0;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('-')), &pid) || !ProcessAlive(pid)) {
      fs::remove_all(entry.path(), ec);
    }
  }
}

absl::Status Rename(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot move ", from.string(), " to ", to.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

// The previous dataset, if any. A manifest naming files outside the directory refuses the
// whole publication: its shards are deleted below, by the names it lists. One that cannot be
// parsed at all is replaced, its shards left alone (nothing says which they are).
absl::StatusOr<std::optional<framepair::v1::Manifest>> ReadOldManifest(const std::string& dir) {
  absl::StatusOr<framepair::v1::Manifest> old = ReadManifest(dir);
  if (old.ok()) return std::optional(*std::move(old));
  if (absl::IsInvalidArgument(old.status())) return old.status();
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::string> CreateStagingDir(const std::string& out_dir) {
  FP_RETURN_IF_ERROR(EnsureWritableDirectory(out_dir));
  // Fail fast, before minutes of work that PublishDataset() would then refuse to publish.
  FP_RETURN_IF_ERROR(ReadOldManifest(out_dir).status());
  RemoveDeadStagingDirs(out_dir);
  for (int n = 0;; ++n) {
    std::string dir = absl::StrCat(out_dir, "/", kStagingPrefix, getpid(), "-", n);
    std::error_code ec;
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message(),
                                                      "; check that ", out_dir,
                                                      " is writable or choose another --out"));
    }
  }
}

absl::Status PublishDataset(const std::string& staging_dir, const std::string& out_dir,
                            const framepair::v1::Manifest& manifest) {
  const fs::path out(out_dir);
  std::error_code ec;
  // The old dataset stops being valid the moment its first file changes, so its manifest
  // goes first: a crash from here on leaves a directory without manifest (clearly
  // incomplete), never a manifest that lies.
  FP_RETURN_IF_ERROR(CheckManifestFileNames(manifest, "the new manifest"));
  FP_ASSIGN_OR_RETURN(std::optional<framepair::v1::Manifest> old, ReadOldManifest(out_dir));
  fs::remove(out / "manifest.json", ec);
  FP_RETURN_IF_ERROR(FsyncDir(out_dir));
  if (old) {
    for (const auto& shard : old->shards()) fs::remove(out / shard.file(), ec);
    if (old->has_validation()) fs::remove(out / old->validation().file(), ec);
  }
  for (const auto& shard : manifest.shards()) {
    FP_RETURN_IF_ERROR(Rename(fs::path(staging_dir) / shard.file(), out / shard.file()));
  }
  if (manifest.has_validation()) {
    const std::string& file = manifest.validation().file();
    FP_RETURN_IF_ERROR(Rename(fs::path(staging_dir) / file, out / file));
  }
  FP_RETURN_IF_ERROR(FsyncDir(out_dir));
  FP_RETURN_IF_ERROR(WriteManifest(out_dir, manifest));
  RemoveStagingDir(staging_dir);
  return absl::OkStatus();
}

absl::StatusOr<framepair::v1::ShardEntry> AppendValidationPart(
    const std::string& dir, const framepair::v1::ShardEntry& current, const std::string& part_path,
    const framepair::v1::ShardEntry& part) {
  const std::string& name = current.file().empty() ? part.file() : current.file();
  if (!IsShardFileName(name) || name != part.file()) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " holds ", current.file(), " but this pair's validation file is ", part.file(),
        "; a dataset has one validation file, so use the same --gzip for every pair"));
  }
  const std::string path = JoinPath(dir, name);
  FP_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(path));
  Sha256 whole;
  // Copies exactly `bytes` bytes of `from` into `out`, hashing them into `whole` and `own`.
  auto copy = [&](const std::string& from, int64_t bytes, Sha256* own) -> absl::Status {
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(from.c_str(), "rb"), &std::fclose);
    if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", from), "");
    std::string buffer(1 << 20, '\0');
    int64_t left = bytes;
    while (left > 0) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(left, buffer.size()));
      const size_t got = std::fread(buffer.data(), 1, want, in.get());
      if (got == 0) {
        return absl::DataLossError(
            absl::StrCat(from, " is shorter than the ", bytes, " bytes its manifest entry says"));
      }
      const std::string_view chunk(buffer.data(), got);
      FP_RETURN_IF_ERROR(out.Append(chunk));
      whole.Update(chunk);
      own->Update(chunk);
      left -= static_cast<int64_t>(got);
    }
    return absl::OkStatus();
  };
  if (current.bytes() > 0) {
    Sha256 prefix;
    FP_RETURN_IF_ERROR(copy(path, current.bytes(), &prefix));
    if (prefix.HexDigest() != current.sha256()) {
      return absl::DataLossError(
          absl::StrCat(path,
                       " does not begin with the validation examples its manifest lists (sha256 "
                       "differs); restore it or publish into another dataset"));
    }
  }
  Sha256 own;
  FP_RETURN_IF_ERROR(copy(part_path, part.bytes(), &own));
  if (own.HexDigest() != part.sha256()) {
    return absl::DataLossError(
        absl::StrCat(part_path, ": sha256 differs from what its packer reported"));
  }
  FP_RETURN_IF_ERROR(out.Commit());
  framepair::v1::ShardEntry entry;
  entry.set_file(name);
  entry.set_examples(current.examples() + part.examples());
  entry.set_bytes(current.bytes() + part.bytes());
  entry.set_sha256(whole.HexDigest());
  return entry;
}

absl::StatusOr<framepair::v1::ShardEntry> RemoveValidationParts(
    const std::string& dir, const framepair::v1::ShardEntry& current,
    const std::vector<framepair::v1::ShardEntry>& parts, const std::vector<bool>& keep) {
  const std::string path = JoinPath(dir, current.file());
  int64_t all = 0, kept = 0, kept_examples = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    all += parts[i].bytes();
    if (keep[i]) {
      kept += parts[i].bytes();
      kept_examples += parts[i].examples();
    }
  }
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot read ", path), "");
  // Already cut (an interrupted removal): the file holds the kept parts only.
  const bool already = size == kept && kept != all;
  if (!already && size != all) {
    return absl::DataLossError(absl::StrCat(path, " is ", size,
                                            " bytes; its pairs' parts add up to ", all,
                                            "; restore it before removing pairs"));
  }
  if (kept == 0) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(errno, absl::StrCat("cannot remove ", path), "");
    }
    FP_RETURN_IF_ERROR(SyncDirectory(dir));
    return framepair::v1::ShardEntry();
  }
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", path), "");
  FP_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(path));
  Sha256 whole;
  std::string buffer(1 << 20, '\0');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (already && !keep[i]) continue;  // not in the file any more
    if (parts[i].bytes() == 0) continue;  // a pair without validation examples
    Sha256 own;
    for (int64_t left = parts[i].bytes(); left > 0;) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(left, buffer.size()));
      const size_t got = std::fread(buffer.data(), 1, want, in.get());
      if (got == 0) return absl::DataLossError(absl::StrCat(path, " ended early"));
      const std::string_view chunk(buffer.data(), got);
      own.Update(chunk);
      if (keep[i]) {
        FP_RETURN_IF_ERROR(out.Append(chunk));
        whole.Update(chunk);
      }
      left -= static_cast<int64_t>(got);
    }
    if (own.HexDigest() != parts[i].sha256()) {
      return absl::DataLossError(absl::StrCat(path, ": validation part ", i + 1,
                                              " differs from its manifest entry (sha256); restore "
                                              "the file before removing pairs"));
    }
  }
  FP_RETURN_IF_ERROR(out.Commit());
  framepair::v1::ShardEntry entry;
  entry.set_file(current.file());
  entry.set_examples(kept_examples);
  entry.set_bytes(kept);
  entry.set_sha256(whole.HexDigest());
  return entry;
}

void RemoveStagingDir(const std::string& staging_dir) {
  std::error_code ec;
  fs::remove_all(staging_dir, ec);
}

}  // namespace framepair
