#include "ingest/thumb_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/file.h"

namespace framepair {
namespace {

// Appends are batched: one write() per this many bytes.
constexpr size_t kWriteBatch = 1 << 20;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// An unnamed file in `dir`: O_TMPFILE where the filesystem has it, else a name removed at once.
absl::StatusOr<int> OpenUnnamed(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return ErrnoError(errno, absl::StrCat("cannot create a thumbnail file in ", dir),
                      "check that the directory exists and is writable");
  }
  std::string name = dir + "/.framepair-thumbs-XXXXXX";
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(errno, absl::StrCat("cannot create a thumbnail file in ", dir),
                      "check that the directory exists and is writable");
  }
  ::unlink(name.c_str());
  return fd;
}

}  // namespace

ThumbStore::ThumbStore(ThumbStore&& other) noexcept { *this = std::move(other); }

ThumbStore& ThumbStore::operator=(ThumbStore&& other) noexcept {
  if (this == &other) return *this;
  Close();
  where_ = std::move(other.where_);
  fd_ = std::exchange(other.fd_, -1);
  record_bytes_ = std::exchange(other.record_bytes_, 0);
  count_ = std::exchange(other.count_, 0);
  file_offset_ = std::exchange(other.file_offset_, 0);
  pending_ = std::move(other.pending_);
  map_ = std::exchange(other.map_, nullptr);
  map_bytes_ = std::exchange(other.map_bytes_, 0);
  data_ = std::exchange(other.data_, nullptr);
  return *this;
}

ThumbStore::~ThumbStore() { Close(); }

void ThumbStore::Close() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
  if (fd_ >= 0) ::close(fd_);
  map_ = nullptr;
  map_bytes_ = 0;
  data_ = nullptr;
  fd_ = -1;
}

absl::StatusOr<ThumbStore> ThumbStore::Create(size_t record_bytes, const std::string& dir) {
  std::string where = dir;
  if (where.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    where = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  absl::StatusOr<int> fd = OpenUnnamed(where);
  if (!fd.ok()) return fd.status();
  ThumbStore store;
  store.where_ = where;
  store.fd_ = *fd;
  store.record_bytes_ = record_bytes;
  store.pending_.reserve(kWriteBatch + record_bytes);
  return store;
}

absl::StatusOr<ThumbStore> ThumbStore::Map(const std::string& path, uint64_t offset, size_t count,
                                           size_t record_bytes) {
  ThumbStore store;
  store.where_ = path;
  store.record_bytes_ = record_bytes;
  store.count_ = count;
  store.file_offset_ = offset;
  if (count == 0) return store;
  store.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (store.fd_ < 0) return ErrnoError(errno, absl::StrCat("cannot open ", path), "");
  struct stat st {};
  if (::fstat(store.fd_, &st) != 0)
    return ErrnoError(errno, absl::StrCat("cannot stat ", path), "");
  const uint64_t end = offset + static_cast<uint64_t>(count) * record_bytes;
  // A mapping past the end of the file would raise SIGBUS on access instead of an error.
  if (static_cast<uint64_t>(st.st_size) < end) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated (", st.st_size, " bytes, the thumbnails need ", end, ")"));
  }
  const uint64_t start = offset / PageSize() * PageSize();
  store.map_bytes_ = static_cast<size_t>(end - start);
  void* map = ::mmap(nullptr, store.map_bytes_, PROT_READ, MAP_SHARED, store.fd_,
                     static_cast<off_t>(start));
  if (map == MAP_FAILED) {
    store.map_bytes_ = 0;
    return ErrnoError(errno, absl::StrCat("cannot map ", path), "");
  }
  store.map_ = map;
  store.data_ = static_cast<const uint8_t*>(map) + (offset - start);
  return store;
}

absl::Status ThumbStore::Append(const uint8_t* record) {
  if (fd_ < 0 || map_ != nullptr) {
    return absl::FailedPreconditionError("thumbnail store: append after Finish()");
  }
  pending_.append(reinterpret_cast<const char*>(record), record_bytes_);
  ++count_;
  if (pending_.size() >= kWriteBatch) return Flush();
  return absl::OkStatus();
}

absl::Status ThumbStore::Flush() {
  std::string_view rest = pending_;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return ErrnoError(errno, absl::StrCat("cannot write analysis thumbnails in ", where_),
                        "free some space there (they need about 7 KB per frame and video)");
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  pending_.clear();
  return absl::OkStatus();
}

absl::Status ThumbStore::Finish() {
  if (fd_ < 0 || map_ != nullptr) {
    return absl::FailedPreconditionError("thumbnail store: Finish() twice");
  }
  if (absl::Status s = Flush(); !s.ok()) return s;
  std::string().swap(pending_);
  if (count_ == 0) return absl::OkStatus();
  map_bytes_ = bytes();
  void* map = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, fd_, 0);
  if (map == MAP_FAILED) {
    map_bytes_ = 0;
    return ErrnoError(errno, absl::StrCat("cannot map analysis thumbnails in ", where_), "");
  }
  map_ = map;
  data_ = static_cast<const uint8_t*>(map);
  return absl::OkStatus();
}

void ThumbStore::Copy(size_t first, size_t count, uint8_t* out) const {
  size_t done = 0;
  const size_t want = count * record_bytes_;
  const uint64_t at = file_offset_ + static_cast<uint64_t>(first) * record_bytes_;
  while (done < want) {
    const ssize_t n = ::pread(fd_, out + done, want - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  // A read error on a file we could map (checked long enough when mapped): read the rest
  // through the mapping rather than hand back a partial thumbnail.
  if (done < want) std::memcpy(out + done, data_ + first * record_bytes_ + done, want - done);
}

void ThumbStore::ReleaseResident() const {
  // Only a hint: if it fails the pages simply stay resident.
  if (map_ != nullptr) ::madvise(map_, map_bytes_, MADV_DONTNEED);
}

}  // namespace framepair
