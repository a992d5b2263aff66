#include "storage/storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "storage/object_store.h"
#include "util/file.h"
#include "util/quote.h"
#include "util/random_id.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kFootageDir = "footage/sha256";
constexpr absl::string_view kUploadsDir = "uploads";
constexpr absl::string_view kWorkDir = "work";
constexpr absl::string_view kDatasetsDir = "datasets";
// Same bound as the kernel's (ELOOP after 40 links): deep enough for any sane layout, and a
// loop ends in an error instead of a hang.
constexpr int kMaxSymlinks = 40;

std::string Join(absl::string_view dir, absl::string_view name) {
  if (dir == "/") return absl::StrCat("/", name);
  return absl::StrCat(dir, "/", name);
}

// True if `path` (canonical) is strictly below `root` (canonical).
bool IsStrictlyBelow(absl::string_view path, absl::string_view root) {
  if (root == "/") return path.size() > 1 && path.front() == '/';
  return path.size() > root.size() + 1 && path.substr(0, root.size()) == root &&
         path[root.size()] == '/';
}

// Parent of a path without symlinks or "..": lexical is exact.
std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == 0 || slash == std::string::npos) return "/";
  return path.substr(0, slash);
}

// Creates `dir` if missing and insists that it is a real directory, not a symlink or a file.
absl::Status EnsureRealDirectory(const std::string& dir, absl::string_view why) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError(errno, absl::StrCat("cannot create directory ", dir),
                      "check the permissions and that the storage is mounted read-write");
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return ErrnoError(errno, absl::StrCat("cannot stat ", dir), "");
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " is ", S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory", "; ", why,
        " must be a real directory inside the storage root: remove or ", "replace it"));
  }
  return absl::OkStatus();
}

// access(W_OK) says yes to root and knows nothing of read-only mounts; creating a file is the
// only honest test.
absl::Status CheckWritable(const std::string& dir) {
  const std::string probe = absl::StrCat(dir, "/.framepair-write-test-", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return ErrnoError(errno, absl::StrCat("storage directory ", dir, " is not writable"),
                      "fix its permissions or mount the storage read-write");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0): the API takes
// std::string_view, the implementation talks to Abseil in absl::string_view.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// StorageRoot

namespace {

// Creates the layout directories under `canonical` and checks that files can be created there.
absl::Status MakeLayout(const std::string& canonical) {
  for (absl::string_view dir :
       {absl::string_view("footage"), kFootageDir, kUploadsDir, kWorkDir, kDatasetsDir}) {
    FP_RETURN_IF_ERROR(
        EnsureRealDirectory(Join(canonical, dir), absl::StrCat("the layout directory ", dir)));
  }
  for (absl::string_view dir : {kFootageDir, kUploadsDir, kWorkDir, kDatasetsDir}) {
    FP_RETURN_IF_ERROR(CheckWritable(Join(canonical, dir)));
  }
  return absl::OkStatus();
}

// A new directory `<parent>/<stem>-<random>`, canonical.
absl::StatusOr<std::string> MakeScratchDir(const std::string& parent, absl::string_view stem) {
  const std::string dir = Join(parent, absl::StrCat(stem, "-", RandomHex(8)));
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return ErrnoError(errno, absl::StrCat("cannot create the scratch directory ", dir),
                      "set TMPDIR to a writable directory with room for the task's files");
  }
  char* real = ::realpath(dir.c_str(), nullptr);
  if (real == nullptr) return ErrnoError(errno, absl::StrCat("cannot resolve ", dir), "");
  std::string canonical(real);
  std::free(real);
  return canonical;
}

void RemoveTree(const std::string& dir) {
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);  // symbolic links themselves, never their targets
}

}  // namespace

absl::StatusOr<StorageRoot> StorageRoot::Open(const std::string& root) {
  if (IsObjectUrl(root)) {
    // Checks the URL and that credentials are set, without a request.
    FP_RETURN_IF_ERROR(OpenObjectStore(root).status());
    std::error_code ec;
    const std::string tmp = fs::temp_directory_path(ec).string();
    if (ec) return absl::FailedPreconditionError("no temporary directory; set TMPDIR");
    FP_ASSIGN_OR_RETURN(std::string scratch, MakeScratchDir(tmp, "framepair-scratch"));
    auto owner =
        std::shared_ptr<const std::string>(new std::string(scratch), [](const std::string* dir) {
          RemoveTree(*dir);
          delete dir;
        });
    FP_RETURN_IF_ERROR(MakeLayout(scratch));
    StorageRoot out(std::move(scratch));
    out.url_ = root;
    while (out.url_.size() > 5 && out.url_.back() == '/') out.url_.pop_back();
    out.scratch_owner_ = std::move(owner);
    return out;
  }
  if (root.empty()) {
    return absl::InvalidArgumentError("empty storage root; give the directory to store data in");
  }
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    return ErrnoError(ec.value(), absl::StrCat("cannot create storage root ", root),
                      "check the path, its permissions and that the storage is mounted");
  }
  char* real = ::realpath(root.c_str(), nullptr);
  if (real == nullptr) {
    return ErrnoError(errno, absl::StrCat("cannot resolve storage root ", root), "");
  }
  std::string canonical(real);
  std::free(real);
  struct stat st {};
  if (::stat(canonical.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage root ", root, " is not a directory; give a directory"));
  }
  FP_RETURN_IF_ERROR(MakeLayout(canonical));
  return StorageRoot(std::move(canonical));
}

absl::StatusOr<std::unique_ptr<ObjectStore>> StorageRoot::OpenStore() const {
  return OpenObjectStore(location());
}

absl::Status StorageRoot::Check() const {
  if (!remote()) return absl::OkStatus();
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore());
  return store->Check();
}

absl::StatusOr<std::string> StorageRoot::Fetch(std::string_view relative) const {
  FP_ASSIGN_OR_RETURN(std::string path, Resolve(relative, /*must_exist=*/!remote()));
  if (!remote()) return path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return path;  // fetched already
  FP_ASSIGN_OR_RETURN(const std::string key, Relativize(path));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore());
  FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> found, store->List(key));
  const auto it =
      std::find_if(found.begin(), found.end(), [&](const ObjectInfo& o) { return o.key == key; });
  if (it == found.end()) {
    return absl::NotFoundError(absl::StrCat("storage path ", QuoteUserText(A(relative)),
                                            " does not exist in ", url_,
                                            "; check the name or upload it first"));
  }
  FP_ASSIGN_OR_RETURN(const int64_t free, FreeBytes());
  if (it->size > free) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no room in the scratch directory for ", key, " (", it->size, " bytes, ", free,
                     " free); give TMPDIR more space or run fewer tasks at once"));
  }
  std::error_code ec;
  fs::create_directories(Parent(path), ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot create ", Parent(path)), "");
  FP_RETURN_IF_ERROR(store->GetFile(key, path));
  return path;
}

absl::Status StorageRoot::Push(std::string_view relative) const {
  if (!remote()) return absl::OkStatus();
  FP_ASSIGN_OR_RETURN(const std::string path, Resolve(relative, /*must_exist=*/true));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore());
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    FP_ASSIGN_OR_RETURN(const std::string key, Relativize(path));
    return store->PutFile(key, path);
  }
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    FP_ASSIGN_OR_RETURN(const std::string key, Relativize(it->path().string()));
    FP_RETURN_IF_ERROR(store->PutFile(key, it->path().string()));
  }
  if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot list ", path), "");
  return absl::OkStatus();
}

absl::StatusOr<bool> StorageRoot::Exists(std::string_view relative) const {
  absl::StatusOr<int64_t> size = StoredSize(relative);
  if (absl::IsNotFound(size.status())) return false;
  if (!size.ok()) return size.status();
  return true;
}

absl::StatusOr<int64_t> StorageRoot::StoredSize(std::string_view relative) const {
  FP_ASSIGN_OR_RETURN(const std::string path, Resolve(relative, /*must_exist=*/false));
  const auto missing = [&] {
    return absl::NotFoundError(absl::StrCat("storage path ", QuoteUserText(A(relative)),
                                            " does not exist in ", location()));
  };
  if (!remote()) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return missing();
    return static_cast<int64_t>(st.st_size);
  }
  FP_ASSIGN_OR_RETURN(const std::string key, Relativize(path));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore());
  FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> found, store->List(key));
  for (const ObjectInfo& o : found) {
    if (o.key == key) return o.size;
  }
  return missing();
}

absl::StatusOr<ScratchRoot> StorageRoot::Scratch() const {
  if (!remote()) return ScratchRoot(*this, "");
  const std::string parent = scratch_owner_ ? *scratch_owner_ : root_;
  FP_ASSIGN_OR_RETURN(std::string dir, MakeScratchDir(parent, "task"));
  ScratchRoot scratch(*this, dir);  // removes `dir` from here on, whatever fails below
  scratch.root_.root_ = dir;
  FP_RETURN_IF_ERROR(MakeLayout(dir));
  return scratch;
}

absl::StatusOr<std::vector<std::string>> StorageRoot::ChildrenOf(
    const std::string& relative_dir) const {
  std::set<std::string> names;
  if (remote()) {
    FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore());
    FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store->List(relative_dir + "/"));
    for (const ObjectInfo& o : objects) {
      const absl::string_view rest = absl::string_view(o.key).substr(relative_dir.size() + 1);
      const size_t slash = rest.find('/');
      if (slash != absl::string_view::npos && slash > 0) names.emplace(rest.substr(0, slash));
    }
  }
  const std::string dir = Join(root_, relative_dir);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.insert(entry.path().filename().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoError(ec.value(), absl::StrCat("cannot list ", dir), "");
  }
  return std::vector<std::string>(names.begin(), names.end());
}

absl::StatusOr<std::vector<std::string>> StorageRoot::WorkJobs() const {
  return ChildrenOf(std::string(kWorkDir));
}

absl::StatusOr<std::vector<std::string>> StorageRoot::AttemptDirs(std::string_view job_id) const {
  FP_RETURN_IF_ERROR(ValidateName("job id", job_id));
  const std::string dir = absl::StrCat(kWorkDir, "/", A(job_id));
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, ChildrenOf(dir));
  for (std::string& name : names) name = absl::StrCat(dir, "/", name);
  return names;
}

absl::StatusOr<std::string> StorageRoot::Resolve(std::string_view relative_arg,
                                                 bool must_exist) const {
  const absl::string_view relative = A(relative_arg);
  const auto refuse = [&](absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage path ", QuoteUserText(relative), " refused: ", rule));
  };
  if (relative.empty()) {
    return refuse("it is empty; give a path relative to the storage root, e.g. footage/...");
  }
  if (relative.find('\0') != absl::string_view::npos) return refuse("it contains a NUL byte");
  if (relative.front() == '/') {
    return refuse("it is absolute; give a path relative to the storage root");
  }
  std::deque<std::string> pending;
  for (absl::string_view part : absl::StrSplit(relative, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return refuse("'..' components are not allowed in storage paths, even inside the root");
    }
    pending.emplace_back(part);
  }
  if (pending.empty()) return refuse("it names the storage root itself; name a file below it");

  // Walk component by component like the kernel does, with lstat, so that every symlink on the
  // way (including the last component, and dangling ones, which realpath() cannot resolve) is
  // expanded and the final location can be checked. `current` is always canonical while it
  // exists; once a component is missing, the rest is appended literally (it contains no
  // symlinks yet, and whatever creates it creates real directories).
  std::string current = root_;
  bool missing = false;
  int symlinks = 0;
  while (!pending.empty()) {
    std::string name = std::move(pending.front());
    pending.pop_front();
    if (name.empty() || name == ".") continue;
    if (name == "..") {  // only from a symlink target
      // Past a missing component nothing was lstat()ed, so climbing back up would let later
      // components skip the symlink check (the kernel fails such a path with ENOENT today, but
      // follows it once the missing directory is created).
      if (missing) {
        return refuse(
            "a symbolic link on the way continues with '..' after a missing directory; fix the "
            "link");
      }
      current = Parent(current);
      continue;
    }
    std::string next = Join(current, name);
    if (missing) {
      current = std::move(next);
      continue;
    }
    struct stat st {};
    if (::lstat(next.c_str(), &st) != 0) {
      const int err = errno;
      if (err != ENOENT && err != ENOTDIR) {
        return ErrnoError(err,
                          absl::StrCat("cannot resolve storage path ", QuoteUserText(relative),
                                       ": cannot stat ", QuoteUserText(next)),
                          "check the permissions under the storage root");
      }
      missing = true;  // ENOTDIR: a file with more components after it; cannot exist either
      current = std::move(next);
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      current = std::move(next);
      continue;
    }
    if (++symlinks > kMaxSymlinks) {
      return refuse(absl::StrCat("more than ", kMaxSymlinks, " symbolic links on the way (",
                                 QuoteUserText(next),
                                 " is part of a loop?); fix the links under the root"));
    }
    std::error_code ec;
    const std::string target = fs::read_symlink(next, ec).string();
    if (ec) {
      return ErrnoError(ec.value(), absl::StrCat("cannot read symbolic link ", next), "");
    }
    if (!target.empty() && target.front() == '/') current.assign(1, '/');  // absolute target
    std::vector<absl::string_view> parts = absl::StrSplit(target, '/');
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.emplace_front(*it);
  }

  if (!IsStrictlyBelow(current, root_)) {
    return refuse(absl::StrCat("it resolves to ", QuoteUserText(current),
                               ", which is not below the storage root ", root_,
                               " (through a symbolic link); paths must stay inside"));
  }
  if (must_exist && missing) {
    return absl::NotFoundError(absl::StrCat("storage path ", QuoteUserText(relative),
                                            " does not exist (looked for ", QuoteUserText(current),
                                            "); check the name or upload it first"));
  }
  return current;
}

absl::StatusOr<std::string> StorageRoot::ResolveWithin(std::string_view relative,
                                                       std::string_view dir,
                                                       bool must_exist) const {
  FP_ASSIGN_OR_RETURN(const std::string base, Resolve(dir, false));
  // The directory itself as spelled: one replaced by a symbolic link would let "inside" mean
  // wherever the link points.
  if (base != Join(root_, A(dir))) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage directory ", QuoteUserText(A(dir)),
                     " refused: it is not a plain path of real directories below the root"));
  }
  FP_ASSIGN_OR_RETURN(std::string path, Resolve(relative, must_exist));
  if (!IsStrictlyBelow(path, base)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "storage path ", QuoteUserText(A(relative)), " refused: it is not inside ",
        QuoteUserText(A(dir)), " (following symbolic links); only files there may be named"));
  }
  return path;
}

std::string StorageRoot::Redact(std::string_view message_arg) const {
  const absl::string_view message = A(message_arg);
  if (root_.size() <= 1) return std::string(message);  // "/": every path would match
  return absl::StrReplaceAll(absl::StrReplaceAll(message, {{absl::StrCat(root_, "/"), "storage:"}}),
                             {{root_, "storage:"}});
}

absl::StatusOr<std::string> StorageRoot::Relativize(std::string_view absolute_arg) const {
  const absl::string_view absolute = A(absolute_arg);
  const auto refuse = [&](absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat("cannot make ", QuoteUserText(absolute),
                                                   " relative to the storage root ", root_, ": ",
                                                   rule));
  };
  if (absolute.empty() || absolute.front() != '/') return refuse("it is not absolute");
  if (absolute.find('\0') != absl::string_view::npos) return refuse("it contains a NUL byte");
  std::string normal;
  for (absl::string_view part : absl::StrSplit(absolute, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return refuse("it contains a '..' component");
    absl::StrAppend(&normal, "/", part);
  }
  if (!IsStrictlyBelow(normal, root_)) return refuse("it is not below the root");
  return normal.substr(root_ == "/" ? 1 : root_.size() + 1);
}

absl::Status StorageRoot::ValidateName(std::string_view kind_arg, std::string_view name_arg) {
  const absl::string_view kind = A(kind_arg), name = A(name_arg);
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  bool ok = !name.empty() && name.size() <= 64 && alnum(name.front());
  for (size_t i = 1; ok && i < name.size(); ++i) {
    const char c = name[i];
    ok = alnum(c) || c == '.' || c == '_' || c == '-';
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", kind, " ", QuoteUserText(name),
                   ": use 1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or "
                   "a digit"));
}

absl::Status StorageRoot::ValidateSha256Hex(std::string_view sha256_hex_arg) {
  const absl::string_view sha256_hex = A(sha256_hex_arg);
  bool ok = sha256_hex.size() == 64;
  for (size_t i = 0; ok && i < sha256_hex.size(); ++i) {
    const char c = sha256_hex[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("invalid SHA-256 ", QuoteUserText(sha256_hex, 80),
                                                 ": give 64 lowercase hexadecimal digits"));
}

absl::StatusOr<std::string> StorageRoot::NamedDir(absl::string_view parent, absl::string_view kind,
                                                  std::string_view name) const {
  FP_RETURN_IF_ERROR(ValidateName(std::string_view(kind.data(), kind.size()), name));
  std::string dir = Join(Join(root_, parent), A(name));
  FP_RETURN_IF_ERROR(
      EnsureRealDirectory(dir, absl::StrCat("the directory of ", kind, " ", A(name))));
  return dir;
}

absl::StatusOr<std::string> StorageRoot::WorkDir(std::string_view job_id) const {
  return NamedDir(kWorkDir, "job id", job_id);
}

absl::StatusOr<std::string> StorageRoot::DatasetDir(std::string_view dataset) const {
  return NamedDir(kDatasetsDir, "dataset name", dataset);
}

absl::Status StorageRoot::RemoveWorkDir(std::string_view job_id) const {
  FP_RETURN_IF_ERROR(ValidateName("job id", job_id));
  const std::string dir = Join(Join(root_, kWorkDir), A(job_id));
  std::error_code ec;
  fs::remove_all(dir, ec);  // removes symlinks themselves, never what they point to
  if (ec) {
    return ErrnoError(ec.value(), absl::StrCat("cannot remove work directory ", dir),
                      "check the permissions under it");
  }
  return RemoveObjects(absl::StrCat(kWorkDir, "/", A(job_id), "/"));
}

absl::Status StorageRoot::RemoveAttemptDir(std::string_view attempt_dir) const {
  const std::vector<absl::string_view> parts = absl::StrSplit(A(attempt_dir), '/');
  if (parts.size() != 3 || parts[0] != kWorkDir) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an attempt's work directory: ", QuoteUserText(A(attempt_dir))));
  }
  FP_RETURN_IF_ERROR(ValidateName("job id", std::string_view(parts[1].data(), parts[1].size())));
  FP_RETURN_IF_ERROR(ValidateName("attempt", std::string_view(parts[2].data(), parts[2].size())));
  std::error_code ec;
  fs::remove_all(Join(root_, A(attempt_dir)), ec);
  if (ec) {
    return ErrnoError(ec.value(), absl::StrCat("cannot remove ", Join(root_, A(attempt_dir))),
                      "check the permissions under it");
  }
  return RemoveObjects(absl::StrCat(A(attempt_dir), "/"));
}

absl::Status StorageRoot::RemoveObjects(const std::string& prefix) const {
  if (!remote()) return absl::OkStatus();
  FP_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore());
  FP_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store->List(prefix));
  for (const ObjectInfo& o : objects) FP_RETURN_IF_ERROR(store->Delete(o.key));
  return absl::OkStatus();
}

absl::StatusOr<std::string> StorageRoot::FootagePath(std::string_view sha256_hex) const {
  FP_RETURN_IF_ERROR(ValidateSha256Hex(sha256_hex));
  return Join(Join(root_, kFootageDir), A(sha256_hex));
}

bool StorageRoot::HasFootage(std::string_view sha256_hex) const {
  absl::StatusOr<std::string> path = FootagePath(sha256_hex);
  if (!path.ok()) return false;
  if (remote()) {
    absl::StatusOr<bool> stored = Exists(absl::StrCat(kFootageDir, "/", A(sha256_hex)));
    return stored.ok() && *stored;
  }
  struct stat st {};
  return ::lstat(path->c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<int64_t> StorageRoot::FreeBytes() const {
  struct statvfs st {};
  if (::statvfs(root_.c_str(), &st) != 0) {
    return ErrnoError(errno, absl::StrCat("cannot read the free space of ", root_), "");
  }
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

absl::StatusOr<int> StorageRoot::CleanAbandonedUploads(std::chrono::seconds max_age) const {
  const std::string dir = Join(root_, kUploadsDir);
  const auto cutoff = std::chrono::system_clock::now() - max_age;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot list ", dir), "");
  int removed = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone, or not ours
    const auto mtime = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(st.st_mtim.tv_sec) +
            std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    if (mtime >= cutoff) continue;
    if (::unlink(path.c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {  // ENOENT: committed or swept by someone else meanwhile
      return ErrnoError(errno, absl::StrCat("cannot remove abandoned upload ", path),
                        "check the permissions of the uploads directory");
    }
  }
  if (ec) return ErrnoError(ec.value(), absl::StrCat("cannot list ", dir), "");
  return removed;
}

// ---------------------------------------------------------------------------------------------
// ScratchRoot

ScratchRoot::ScratchRoot(ScratchRoot&& other) noexcept
    : root_(std::move(other.root_)), dir_(std::exchange(other.dir_, "")) {}

ScratchRoot::~ScratchRoot() { RemoveTree(dir_); }

// ---------------------------------------------------------------------------------------------
// FootageUpload

FootageUpload::FootageUpload() : hash_(std::make_unique<Sha256>()) {}
FootageUpload::FootageUpload(FootageUpload&&) noexcept = default;
FootageUpload& FootageUpload::operator=(FootageUpload&&) noexcept = default;
FootageUpload::~FootageUpload() = default;  // an uncommitted AtomicFile removes its .part

absl::Status FootageUpload::Discarded(const absl::Status& status, absl::string_view hint) const {
  return absl::Status(status.code(),
                      absl::StrCat("upload of ", declared_sha256_hex_, ": ", status.message(),
                                   "; the upload was discarded, ", hint));
}

absl::StatusOr<FootageUpload> FootageUpload::Begin(const StorageRoot& root,
                                                   std::string_view declared_sha256_hex_arg,
                                                   int64_t declared_bytes, int64_t max_bytes) {
  const absl::string_view declared_sha256_hex = A(declared_sha256_hex_arg);
  FP_RETURN_IF_ERROR(StorageRoot::ValidateSha256Hex(declared_sha256_hex_arg));
  if (declared_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("upload of ", declared_sha256_hex,
                                                   ": declared size ", declared_bytes,
                                                   " is negative; declare the file size"));
  }
  if (declared_bytes > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("upload of ", declared_sha256_hex, ": declared size ", declared_bytes,
                     " bytes exceeds the server's limit of ", max_bytes,
                     " bytes; cut the footage or raise the limit"));
  }
  FootageUpload upload;
  if (root.remote()) upload.root_ = root;
  upload.declared_sha256_hex_ = std::string(declared_sha256_hex);
  upload.declared_bytes_ = declared_bytes;
  const std::string uploads = Join(root.root(), kUploadsDir);
  const std::string final_path = Join(Join(root.root(), kFootageDir), declared_sha256_hex);
  // 128 random bits: unique across processes and hosts sharing the root, so O_EXCL practically
  // never fails; retry a little anyway.
  absl::Status created;
  for (int attempt = 0; attempt < 4; ++attempt) {
    absl::StatusOr<AtomicFile> file =
        AtomicFile::CreateAt(final_path, Join(uploads, absl::StrCat(RandomHex(16), ".part")));
    if (file.ok()) {
      upload.file_ = *std::move(file);
      return upload;
    }
    created = file.status();
    if (created.code() != absl::StatusCode::kAlreadyExists) break;
  }
  return absl::Status(created.code(), absl::StrCat("cannot create an upload file in ", uploads,
                                                   " (", created.message(),
                                                   "); check that the storage root is mounted "
                                                   "read-write and has space"));
}

absl::Status FootageUpload::Append(std::string_view chunk) {
  if (!file_) {
    return absl::FailedPreconditionError(
        absl::StrCat("upload of ", declared_sha256_hex_,
                     " was already committed or abandoned; start a new upload"));
  }
  if (static_cast<int64_t>(chunk.size()) > declared_bytes_ - bytes_received_) {
    const int64_t total = bytes_received_ + static_cast<int64_t>(chunk.size());
    file_.reset();
    return absl::ResourceExhaustedError(absl::StrCat(
        "upload of ", declared_sha256_hex_, ": received ", total, " bytes, more than the declared ",
        declared_bytes_, "; the upload was discarded, declare the right size and send it again"));
  }
  hash_->Update(chunk);
  if (absl::Status written = file_->Append(chunk); !written.ok()) {
    file_.reset();
    return Discarded(written, "free some space on the storage root and send it again");
  }
  bytes_received_ += static_cast<int64_t>(chunk.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> FootageUpload::Commit() {
  if (!file_) {
    return absl::FailedPreconditionError(
        absl::StrCat("upload of ", declared_sha256_hex_,
                     " was already committed or abandoned; start a new upload"));
  }
  // Whatever happens below, this upload is over: the AtomicFile is committed or removed.
  AtomicFile file = *std::move(file_);
  file_.reset();
  if (bytes_received_ != declared_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upload of ", declared_sha256_hex_, " ended after ", bytes_received_, " bytes, but ",
        declared_bytes_, " were declared; the upload was discarded, send the whole file again"));
  }
  const std::string actual = hash_->HexDigest();
  if (actual != declared_sha256_hex_) {
    return absl::DataLossError(absl::StrCat(
        "upload declared SHA-256 ", declared_sha256_hex_, " but the ", bytes_received_,
        " bytes received hash to ", actual,
        "; the upload was discarded, check the file and the declared hash and send it again"));
  }
  const std::string relative = absl::StrCat(kFootageDir, "/", declared_sha256_hex_);
  if (root_) {  // a bucket root: the footage goes there, the local copy is only on the way
    absl::StatusOr<bool> stored = root_->Exists(relative);
    if (!stored.ok()) return Discarded(stored.status(), "check the storage; send it again");
    if (*stored) return relative;  // the same bytes already (content-addressed)
    if (absl::Status committed = file.Commit(); !committed.ok()) {
      return Discarded(committed, "check the scratch directory; send it again");
    }
    absl::Status pushed = root_->Push(relative);
    ::unlink(file.final_path().c_str());
    if (!pushed.ok()) return Discarded(pushed, "check the storage; send it again");
    return relative;
  }
  struct stat st {};
  if (::lstat(file.final_path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    // Already stored: content-addressed, so these are the same bytes (the .part goes with
    // `file`). Fresh again for the coordinator's footage collection, which keeps young files.
    (void)::utimensat(AT_FDCWD, file.final_path().c_str(), nullptr, 0);
    return relative;
  }
  if (absl::Status committed = file.Commit(); !committed.ok()) {
    return Discarded(committed, committed.code() == absl::StatusCode::kNotFound
                                    ? "the upload file was swept as abandoned; send it again"
                                    : "check the storage root; send it again");
  }
  return relative;
}

}  // namespace framepair
