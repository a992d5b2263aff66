// The POSIX backend of ObjectStore, and the choice between the backends.
#include "storage/object_store.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/s3_store.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

// Keys come from framepair itself (dataset file names, staging names); still, a key must stay
// inside the directory.
absl::Status CheckKey(const std::string& key) {
  if (key.empty() || key.front() == '/' || absl::StrContains(key, "..") ||
      key.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("an object key must be a relative path without '..'");
  }
  return absl::OkStatus();
}

absl::Status CopyFileAtomically(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  FP_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(to));
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(from.c_str(), "rb"), &std::fclose);
  if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", from), "");
  std::string buffer(1 << 20, '\0');
  for (;;) {
    const size_t got = std::fread(buffer.data(), 1, buffer.size(), in.get());
    if (got == 0) break;
    FP_RETURN_IF_ERROR(out.Append(std::string_view(buffer.data(), got)));
  }
  if (std::ferror(in.get())) return ErrnoError(errno, absl::StrCat("cannot read ", from), "");
  return out.Commit();
}

class DirectoryStore : public ObjectStore {
 public:
  explicit DirectoryStore(std::string dir) : dir_(std::move(dir)) {}

  std::string Describe() const override { return dir_; }
  absl::Status Check() override { return EnsureWritableDirectory(dir_); }

  absl::Status PutFile(const std::string& key, const std::string& local_path) override {
    FP_RETURN_IF_ERROR(CheckKey(key));
    return CopyFileAtomically(local_path, Path(key));
  }
  absl::Status PutBytes(const std::string& key, std::string_view bytes) override {
    FP_RETURN_IF_ERROR(CheckKey(key));
    std::error_code ec;
    fs::create_directories(fs::path(Path(key)).parent_path(), ec);
    return WriteFileAtomically(Path(key), bytes);
  }
  absl::Status Copy(const std::string& from_key, const std::string& to_key, int64_t) override {
    FP_RETURN_IF_ERROR(CheckKey(from_key));
    FP_RETURN_IF_ERROR(CheckKey(to_key));
    return CopyFileAtomically(Path(from_key), Path(to_key));
  }
  absl::Status Delete(const std::string& key) override {
    FP_RETURN_IF_ERROR(CheckKey(key));
    std::error_code ec;
    fs::remove(Path(key), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("cannot remove ", Path(key), ": ", ec.message()));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::string key = fs::relative(it->path(), dir_, ec).string();
      if (!absl::StartsWith(key, prefix)) continue;
      out.push_back({key, static_cast<int64_t>(it->file_size(ec))});
    }
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return out;
  }
  absl::StatusOr<std::string> GetBytes(const std::string& key) override {
    FP_RETURN_IF_ERROR(CheckKey(key));
    return ReadFile(Path(key));
  }
  absl::Status GetFile(const std::string& key, const std::string& local_path) override {
    FP_RETURN_IF_ERROR(CheckKey(key));
    return CopyFileAtomically(Path(key), local_path);
  }
  absl::StatusOr<std::string> GetRange(const std::string& key, int64_t offset,
                                       int64_t length) override {
    FP_RETURN_IF_ERROR(CheckKey(key));
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(Path(key).c_str(), "rb"), &std::fclose);
    if (!in) return ErrnoError(errno, absl::StrCat("cannot open ", Path(key)), "");
    std::string out;
    if (length <= 0 || fseeko(in.get(), static_cast<off_t>(offset), SEEK_SET) != 0) return out;
    out.resize(static_cast<size_t>(length));
    out.resize(std::fread(out.data(), 1, out.size(), in.get()));
    if (std::ferror(in.get()))
      return ErrnoError(errno, absl::StrCat("cannot read ", Path(key)), "");
    return out;
  }

 private:
  std::string Path(const std::string& key) const { return absl::StrCat(dir_, "/", key); }
  std::string dir_;
};

}  // namespace

bool IsObjectUrl(std::string_view location) {
  return location.substr(0, 5) == "s3://" || location.substr(0, 5) == "gs://";
}

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenObjectStore(const std::string& location,
                                                             const ObjectStoreOptions& options) {
  if (IsObjectUrl(location)) return OpenS3Store(location, options);
  if (location.empty()) return absl::InvalidArgumentError("no output location given");
  std::string dir = location;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return std::unique_ptr<ObjectStore>(std::make_unique<DirectoryStore>(dir));
}

}  // namespace framepair
