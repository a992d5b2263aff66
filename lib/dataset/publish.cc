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

// Whether the file at `path` holds exactly `seq`, part after part (sizes and each part's
// sha256); `whole` receives the whole file's sha256. A missing file holds an empty sequence.
absl::StatusOr<bool> HoldsParts(const std::string& path,
                                const std::vector<framepair::v1::ShardEntry>& seq,
                                std::string* whole) {
  int64_t total = 0;
  for (const auto& p : seq) total += p.bytes();
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return total == 0;
    return ErrnoError(ec.value(), absl::StrCat("cannot read ", path), "");
  }
  if (size != total) return false;
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", path), "");
  Sha256 all;
  std::string buffer(1 << 20, '\0');
  for (const auto& part : seq) {
    Sha256 own;
    for (int64_t left = part.bytes(); left > 0;) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(left, buffer.size()));
      const size_t got = std::fread(buffer.data(), 1, want, in.get());
      if (got == 0) return false;
      const std::string_view chunk(buffer.data(), got);
      own.Update(chunk);
      all.Update(chunk);
      left -= static_cast<int64_t>(got);
    }
    if (own.HexDigest() != part.sha256()) return false;
  }
  *whole = all.HexDigest();
  return true;
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

absl::StatusOr<framepair::v1::ShardEntry> RewriteValidationFile(
    const std::string& dir, const framepair::v1::ShardEntry& current,
    const std::vector<framepair::v1::ShardEntry>& parts, const std::vector<bool>& keep,
    const std::string& append_path, const framepair::v1::ShardEntry& append) {
  const bool appending = !append_path.empty();
  if (!appending && std::find(keep.begin(), keep.end(), false) == keep.end()) return current;
  const std::string& name = current.file().empty() ? append.file() : current.file();
  if (name.empty()) return framepair::v1::ShardEntry();  // no file before, none after
  if (!IsShardFileName(name) || (appending && name != append.file())) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " holds ", current.file(), " but this pair's validation file is ", append.file(),
        "; a dataset has one validation file, so use the same --gzip for every pair"));
  }
  const std::string path = JoinPath(dir, name);
  // What the file holds now (every listed part) and what it will hold (the kept ones, then
  // the appended one); parts of pairs without validation examples take no bytes.
  std::vector<framepair::v1::ShardEntry> listed, next;
  for (size_t i = 0; i < parts.size() && !current.file().empty(); ++i) {
    if (parts[i].bytes() == 0) continue;
    listed.push_back(parts[i]);
    if (keep[i]) next.push_back(parts[i]);
  }
  if (appending && append.bytes() > 0) next.push_back(append);
  framepair::v1::ShardEntry entry;
  entry.set_file(name);
  for (const auto& p : next) {
    entry.set_examples(entry.examples() + p.examples());
    entry.set_bytes(entry.bytes() + p.bytes());
  }
  std::string whole;
  // Without a listed file, whatever lies under the name is claimed by no manifest.
  bool as_listed = current.file().empty();
  if (!as_listed) {
    FP_ASSIGN_OR_RETURN(as_listed, HoldsParts(path, listed, &whole));
  }
  if (!as_listed) {
    FP_ASSIGN_OR_RETURN(const bool done, HoldsParts(path, next, &whole));
    if (!done) {
      return absl::DataLossError(
          absl::StrCat(path,
                       " does not hold the validation examples its manifest lists (size or sha256 "
                       "differs); restore it or publish into another dataset"));
    }
    if (next.empty()) return framepair::v1::ShardEntry();
    entry.set_sha256(whole);
    return entry;
  }
  if (next.empty()) return framepair::v1::ShardEntry();
  FP_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(path));
  Sha256 all;
  std::string buffer(1 << 20, '\0');
  // Copies `bytes` bytes of `in` to `out` when `copy`, hashing them into `own`.
  auto pass = [&](FILE* in, const std::string& from, int64_t bytes, bool copy,
                  Sha256* own) -> absl::Status {
    for (int64_t left = bytes; left > 0;) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(left, buffer.size()));
      const size_t got = std::fread(buffer.data(), 1, want, in);
      if (got == 0) {
        return absl::DataLossError(
            absl::StrCat(from, " is shorter than the ", bytes, " bytes its entry says"));
      }
      const std::string_view chunk(buffer.data(), got);
      own->Update(chunk);
      if (copy) {
        FP_RETURN_IF_ERROR(out.Append(chunk));
        all.Update(chunk);
      }
      left -= static_cast<int64_t>(got);
    }
    return absl::OkStatus();
  };
  if (!listed.empty()) {
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", path), "");
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].bytes() == 0) continue;
      Sha256 own;  // checked by HoldsParts already
      FP_RETURN_IF_ERROR(pass(in.get(), path, parts[i].bytes(), keep[i], &own));
    }
  }
  if (appending && append.bytes() > 0) {
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(append_path.c_str(), "rb"), &std::fclose);
    if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", append_path), "");
    Sha256 own;
    FP_RETURN_IF_ERROR(pass(in.get(), append_path, append.bytes(), true, &own));
    if (own.HexDigest() != append.sha256()) {
      return absl::DataLossError(
          absl::StrCat(append_path, ": sha256 differs from what its packer reported"));
    }
  }
  FP_RETURN_IF_ERROR(out.Commit());
  entry.set_sha256(all.HexDigest());
  return entry;
}

void RemoveStagingDir(const std::string& staging_dir) {
  std::error_code ec;
  fs::remove_all(staging_dir, ec);
}

}  // namespace framepair
