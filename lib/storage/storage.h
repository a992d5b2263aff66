// The storage root shared by the framepair services (possibly on NFS/CephFS), and the one
// resolver for paths that users and RPCs name inside it. Layout under the root:
//
//   footage/sha256/<64 hex>   uploaded footage, content-addressed by SHA-256, immutable
//   uploads/                  in-progress uploads ("<random>.part"); abandoned ones are swept
//   work/<job_id>/            intermediate artifacts of one job
//   datasets/<name>/          published datasets
//
// Every path that arrives from outside (a "storage:REL" argument, a reference inside an RPC)
// goes through StorageRoot::Resolve(); nothing else joins user text onto the root.
//
// The root may also be a bucket (`--storage-root s3://bucket/prefix`, gs://...): the same
// layout then lives under the prefix, reached through the one storage interface
// (storage/object_store.h, OpenStore()), and this process keeps what must be a local file
// (uploads in progress, a worker task's inputs and outputs, a dataset's manifest while it is
// rewritten) in a private scratch directory under TMPDIR that stands in for the root: every
// path below is a path in that directory. Fetch() and Push() move files between it and the
// bucket; on a directory root they have nothing to do.
//
// What the resolver defends against: user-supplied paths and symbolic links already present in
// the tree that would lead outside the root. What it does not: someone swapping a directory for
// a symlink between Resolve() and the open() (TOCTOU). Only framepair and the administrators
// are expected to write under the root.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "util/file.h"

namespace framepair {

class ObjectStore;
class ScratchRoot;
class Sha256;

// An opened storage root. Immutable after Open(): all methods are const and may be called from
// any number of threads. Copies are cheap (one string). Other processes may use the same root
// at the same time; every operation here is safe against that (creation is idempotent,
// footage is published by rename).
class StorageRoot {
 public:
  // Creates the root and the layout directories if missing, checks that each of them is a real
  // directory (not a symlink: otherwise paths under it would resolve outside the root) and that
  // files can be created in it. The root is canonicalised (realpath), so root() and every path
  // returned below are absolute and free of symlinks and "..".
  //
  // An object URL (IsObjectUrl) opens a bucket root instead: the URL is checked, credentials
  // must be in the environment (FAILED_PRECONDITION otherwise, naming the variables), and a
  // fresh scratch directory is made under TMPDIR (removed when the last copy of this root is
  // destroyed). The bucket is not contacted: Check() does that.
  static absl::StatusOr<StorageRoot> Open(const std::string& root);

  // The local directory: the root itself, or the scratch directory standing in for a bucket.
  const std::string& root() const { return root_; }
  // True for a bucket root.
  bool remote() const { return !url_.empty(); }
  // Where the data lives, as the operator named it: the directory, or the object URL.
  const std::string& location() const { return remote() ? url_ : root_; }

  // The durable storage through the one storage interface (keys are paths relative to the
  // root): the bucket, or the root directory. A new store per call: stores are not
  // thread-safe, a root is.
  absl::StatusOr<std::unique_ptr<ObjectStore>> OpenStore() const;
  // A cheap request that fails with the real reason (no such bucket, access denied, wrong
  // secret, unreachable endpoint) naming the bucket, never a secret. OK for a directory.
  absl::Status Check() const;

  // Makes the file at `relative` (a path Resolve() accepts) a local file and returns its path:
  // on a bucket root it is downloaded into the scratch directory unless already there
  // (NOT_FOUND if the bucket has no such object, RESOURCE_EXHAUSTED if the scratch directory
  // has no room for it); on a directory root it must exist (NOT_FOUND).
  absl::StatusOr<std::string> Fetch(std::string_view relative) const;
  // On a bucket root, uploads the local file at `relative`, or every regular file below the
  // local directory at `relative`, to the same key(s). Nothing to do on a directory root.
  absl::Status Push(std::string_view relative) const;
  // Whether a file exists at `relative` in the durable storage (the bucket, or the root).
  absl::StatusOr<bool> Exists(std::string_view relative) const;
  // The size of the file at `relative` in the durable storage (the bucket, or the root);
  // NOT_FOUND when there is none (a directory is none).
  absl::StatusOr<int64_t> StoredSize(std::string_view relative) const;
  // A private root for one worker task: on a bucket root, a fresh local directory with the
  // layout (Fetch() fills it, Push() uploads from it) removed when the ScratchRoot is
  // destroyed, however the task ends; on a directory root, this root and nothing to remove.
  absl::StatusOr<ScratchRoot> Scratch() const;
  // The job ids that have work files (work/<job_id>/...), local or durable.
  absl::StatusOr<std::vector<std::string>> WorkJobs() const;
  // The attempt directories of one job ("work/<job_id>/<task>.a<N>", AttemptWorkDir), local or
  // durable.
  absl::StatusOr<std::vector<std::string>> AttemptDirs(std::string_view job_id) const;

  // Resolves `relative` (a path below the root, from a user or an RPC) to an absolute path.
  // Refused with INVALID_ARGUMENT, the message naming the path and the rule:
  //   - empty, absolute, containing a NUL byte, or naming the root itself ("", ".", "./");
  //   - any ".." component, even one that would stay inside ("a/../b"): simpler to state and to
  //     audit than "stays inside lexically"; "." and empty components ("a/./b", "a//b") are
  //     ignored;
  //   - a path whose existing part, following symbolic links (absolute or relative, in any
  //     component including the last, dangling ones too), leads outside the root. Symlinks that
  //     stay inside are followed: the result is the canonical target ("a" -> "b" gives
  //     root/b/...);
  //   - more than 40 symbolic links on the way (a loop): an error, never a hang;
  //   - a symlink target that continues with ".." after a component that does not exist.
  // The path need not exist: the longest existing prefix is resolved and the rest appended.
  // With must_exist, a missing path is NOT_FOUND. Other filesystem errors keep their errno
  // mapping (e.g. PERMISSION_DENIED).
  absl::StatusOr<std::string> Resolve(std::string_view relative, bool must_exist) const;

  // Resolve() for a path that must also lie strictly below `dir` (a plain path below the root,
  // e.g. one task attempt's work directory, with no symbolic link on the way to it), symbolic
  // links in `relative` followed: what a worker reports may only name files it was allowed to
  // write. INVALID_ARGUMENT otherwise, as for Resolve().
  absl::StatusOr<std::string> ResolveWithin(std::string_view relative, std::string_view dir,
                                            bool must_exist) const;

  // The inverse for paths we produced (Resolve(), WorkDir(), ...): the absolute path, which must
  // lie strictly below root() as spelled (purely lexical, no ".."), becomes relative ("a/b").
  // INVALID_ARGUMENT otherwise.
  absl::StatusOr<std::string> Relativize(std::string_view absolute) const;

  // `message` with the root's absolute path written "storage:" ("<root>/work/j1/x" becomes
  // "storage:work/j1/x", the CLI's spelling), for errors that reach clients: they name files
  // without revealing where the root is mounted.
  std::string Redact(std::string_view message) const;

  // Dataset names and job ids: [A-Za-z0-9][A-Za-z0-9._-]{0,63}. They become one directory name,
  // so no "/", no leading "." or "-". INVALID_ARGUMENT naming `kind` ("job id", "dataset name")
  // and the rule.
  static absl::Status ValidateName(std::string_view kind, std::string_view name);
  // SHA-256 as 64 lowercase hex digits; INVALID_ARGUMENT otherwise.
  static absl::Status ValidateSha256Hex(std::string_view sha256_hex);

  // root/work/<job_id>, created if missing. FAILED_PRECONDITION if something that is not a
  // directory (e.g. a symlink) is in the way.
  absl::StatusOr<std::string> WorkDir(std::string_view job_id) const;
  // root/datasets/<dataset>, created if missing; same rules as WorkDir().
  absl::StatusOr<std::string> DatasetDir(std::string_view dataset) const;
  // Removes root/work/<job_id> recursively; OK if it does not exist. Symlinks inside are removed,
  // never followed. On a bucket root, every object under work/<job_id>/ too.
  absl::Status RemoveWorkDir(std::string_view job_id) const;
  // Removes the work files of one attempt of one task (work/<job_id>/<task>.a<attempt>/, see
  // AttemptWorkDir), local and durable; OK if there are none.
  absl::Status RemoveAttemptDir(std::string_view attempt_dir) const;

  // root/footage/sha256/<hex> (whether or not it exists); INVALID_ARGUMENT for a malformed hex.
  absl::StatusOr<std::string> FootagePath(std::string_view sha256_hex) const;
  // True if the footage is stored (a regular file, or an object); false also for a malformed
  // hex and when the bucket cannot be asked.
  bool HasFootage(std::string_view sha256_hex) const;

  // Removes regular files in uploads/ whose mtime is older than `max_age` (uploads abandoned by
  // a crashed server or a vanished client) and returns how many. An upload in progress touches
  // its file on every Append(), so max_age must be well above the longest pause between chunks
  // (hours, not seconds); a swept upload fails at Commit(). Safe to run concurrently with
  // uploads and with other sweepers.
  absl::StatusOr<int> CleanAbandonedUploads(std::chrono::seconds max_age) const;

  // Bytes available to unprivileged writers on the root's filesystem (statvfs f_bavail); on a
  // bucket root, on the scratch directory's (where uploads wait before they go to the bucket).
  absl::StatusOr<int64_t> FreeBytes() const;

 private:
  friend class ScratchRoot;
  explicit StorageRoot(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<std::string> NamedDir(absl::string_view parent, absl::string_view kind,
                                       std::string_view name) const;
  // The names directly below `relative_dir` (a directory or an object key prefix), local and,
  // on a bucket root, durable.
  absl::StatusOr<std::vector<std::string>> ChildrenOf(const std::string& relative_dir) const;
  // On a bucket root, deletes every object whose key starts with `prefix`.
  absl::Status RemoveObjects(const std::string& prefix) const;

  std::string root_;  // canonical, absolute, no trailing "/" (except for "/" itself)
  std::string url_;   // the bucket root's URL; empty for a directory root
  // The process's scratch directory of a bucket root, removed with the last copy.
  std::shared_ptr<const std::string> scratch_owner_;
};

// StorageRoot::Scratch(): one worker task's private root. Movable, not copyable.
class ScratchRoot {
 public:
  ScratchRoot(ScratchRoot&& other) noexcept;
  ScratchRoot& operator=(ScratchRoot&&) = delete;
  ~ScratchRoot();  // removes the scratch directory, if this one made it

  const StorageRoot& root() const { return root_; }

 private:
  friend class StorageRoot;
  ScratchRoot(StorageRoot root, std::string dir) : root_(std::move(root)), dir_(std::move(dir)) {}
  StorageRoot root_;
  std::string dir_;  // removed on destruction; empty for a directory root
};

// Receives one uploaded file in chunks: the bytes go to an AtomicFile whose temporary name is
// uploads/<random>.part (where CleanAbandonedUploads finds what a crash left) and are hashed on
// the way. Commit() checks the size and the SHA-256 the client declared, then commits the
// AtomicFile to footage/sha256/<hex> (fsync, rename, fsync of the directory). If that file already
// exists the upload is dropped (footage is content-addressed, so it is the same bytes) and the
// file's mtime is refreshed: unreferenced footage is collected by age.
//
// A failed Append() or Commit() abandons the upload, and so does destruction without a
// successful Commit(): the temporary file is removed, nothing usable or half-written is left
// behind, and later calls fail with FAILED_PRECONDITION. The caller starts a new upload.
//
// Movable, not copyable. Not thread-safe: one upload is fed by one thread at a time. Keeps its
// own copy of the paths; the StorageRoot need not outlive it.
class FootageUpload {
 public:
  // INVALID_ARGUMENT for a malformed declared_sha256_hex or a negative declared_bytes;
  // RESOURCE_EXHAUSTED if declared_bytes > max_bytes (the server's limit, in bytes).
  static absl::StatusOr<FootageUpload> Begin(const StorageRoot& root,
                                             std::string_view declared_sha256_hex,
                                             int64_t declared_bytes, int64_t max_bytes);
  FootageUpload(FootageUpload&&) noexcept;
  FootageUpload& operator=(FootageUpload&&) noexcept;
  ~FootageUpload();

  // RESOURCE_EXHAUSTED (and nothing of the chunk written) if the total would exceed the
  // declared size; write errors keep their errno mapping (ENOSPC is RESOURCE_EXHAUSTED).
  absl::Status Append(std::string_view chunk);
  // Returns the relative path "footage/sha256/<hex>". INVALID_ARGUMENT if fewer bytes than
  // declared arrived; DATA_LOSS naming the declared and the actual SHA-256 if they differ.
  absl::StatusOr<std::string> Commit();

  int64_t bytes_received() const { return bytes_received_; }
  int64_t declared_bytes() const { return declared_bytes_; }
  const std::string& declared_sha256_hex() const { return declared_sha256_hex_; }

 private:
  FootageUpload();
  // Says that `status` (a failure of the file) discarded the upload, and what to do.
  absl::Status Discarded(const absl::Status& status, absl::string_view hint) const;

  std::optional<AtomicFile> file_;  // nullopt once committed or abandoned
  std::string declared_sha256_hex_;
  int64_t declared_bytes_ = 0;
  int64_t bytes_received_ = 0;
  std::unique_ptr<Sha256> hash_;
  std::optional<StorageRoot> root_;  // a bucket root, where committed footage goes
};

}  // namespace framepair
