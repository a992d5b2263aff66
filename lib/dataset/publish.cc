#include "dataset/publish.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace fs = std::filesystem;
namespace {

constexpr char kStagingPrefix[] = ".framepair-staging-";

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
  }
  for (const auto& shard : manifest.shards()) {
    FP_RETURN_IF_ERROR(Rename(fs::path(staging_dir) / shard.file(), out / shard.file()));
  }
  FP_RETURN_IF_ERROR(FsyncDir(out_dir));
  FP_RETURN_IF_ERROR(WriteManifest(out_dir, manifest));
  RemoveStagingDir(staging_dir);
  return absl::OkStatus();
}

void RemoveStagingDir(const std::string& staging_dir) {
  std::error_code ec;
  fs::remove_all(staging_dir, ec);
}

}  // namespace framepair
