#include "util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

std::string ParentDir(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

// `what` names the file and the failed action; `hint` says what the user can do about it.
absl::Status ErrnoError(int err, absl::string_view what, absl::string_view hint) {
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (!hint.empty()) absl::StrAppend(&message, "; ", hint);
  return absl::Status(absl::ErrnoToStatusCode(err), message);
}

// Makes a rename durable: without this a crash can forget the new directory entry.
absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("cannot open directory ", dir), "");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError(err, absl::StrCat("cannot fsync directory ", dir), "");
  return absl::OkStatus();
}

absl::StatusOr<AtomicFile> AtomicFile::Create(const std::string& final_path) {
  // pid + counter keeps concurrent writers (threads or processes) off each other's temp file.
  static std::atomic<uint64_t> counter{0};
  // A dot-prefixed name: readers globbing the directory for `manifest.json` or shards
  // (`train-*`) never see a file being written.
  const size_t slash = final_path.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  return CreateAt(final_path, absl::StrCat(final_path.substr(0, base), ".", final_path.substr(base),
                                           ".tmp-", ::getpid(), "-", counter++));
}

absl::StatusOr<AtomicFile> AtomicFile::CreateAt(const std::string& final_path,
                                                std::string temp_path) {
  AtomicFile file;
  file.final_path_ = final_path;
  file.fd_ = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0644);
  if (file.fd_ < 0) {
    const int err = errno;  // temp_path_ stays empty: nothing to remove
    return ErrnoError(err, absl::StrCat("cannot create ", final_path),
                      "check that the directory exists and is writable");
  }
  file.temp_path_ = std::move(temp_path);
  return file;
}

absl::StatusOr<AtomicFile> AtomicFile::Resume(const std::string& final_path) {
  AtomicFile file;
  file.final_path_ = final_path;
  file.keep_partial_ = true;
  const size_t slash = final_path.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  file.temp_path_ =
      absl::StrCat(final_path.substr(0, base), ".", final_path.substr(base), ".partial");
  file.fd_ = ::open(file.temp_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  struct stat st;
  if (file.fd_ < 0 || ::fstat(file.fd_, &st) != 0) {
    const int err = errno;
    file.temp_path_.clear();
    return ErrnoError(err, absl::StrCat("cannot create ", final_path),
                      "check that the directory exists and is writable");
  }
  file.bytes_written_ = static_cast<uint64_t>(st.st_size);
  return file;
}

void AtomicFile::Discard() {
  keep_partial_ = false;
  Abandon();
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      final_path_(std::move(other.final_path_)),
      temp_path_(std::exchange(other.temp_path_, {})),
      bytes_written_(other.bytes_written_),
      keep_partial_(other.keep_partial_) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this == &other) return *this;
  Abandon();
  fd_ = std::exchange(other.fd_, -1);
  final_path_ = std::move(other.final_path_);
  temp_path_ = std::exchange(other.temp_path_, {});
  bytes_written_ = other.bytes_written_;
  keep_partial_ = other.keep_partial_;
  return *this;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty() && !keep_partial_) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

absl::Status AtomicFile::Append(std::string_view data) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("append to ", final_path_, " after Commit() or a failed write"));
  }
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      Abandon();
      return ErrnoError(err, absl::StrCat("cannot write ", final_path_),
                        "free some space or choose another output directory");
    }
    data.remove_prefix(static_cast<size_t>(n));
    bytes_written_ += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("commit of ", final_path_, " after Commit() or a failed write"));
  }
  if (::fsync(fd_) != 0) {
    const int err = errno;
    Abandon();
    return ErrnoError(err, absl::StrCat("cannot fsync ", final_path_), "");
  }
  const int rc = ::close(std::exchange(fd_, -1));
  if (rc != 0) {
    const int err = errno;
    Abandon();
    return ErrnoError(err, absl::StrCat("cannot close ", final_path_), "");
  }
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    const int err = errno;
    Abandon();
    return ErrnoError(err, absl::StrCat("cannot rename ", temp_path_, " to ", final_path_), "");
  }
  temp_path_.clear();
  return SyncDirectory(ParentDir(final_path_));
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view data) {
  absl::StatusOr<AtomicFile> file = AtomicFile::Create(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->Append(data); !s.ok()) return s;
  return file->Commit();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("cannot open ", path), "");
  std::string contents;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) contents.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoError(err, absl::StrCat("cannot read ", path), "");
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return contents;
}

absl::Status EnsureWritableDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return ErrnoError(ec.value(), absl::StrCat("cannot create output directory ", dir),
                      "choose another --out");
  }
  // access(W_OK) says yes to root and knows nothing of read-only mounts; creating a file
  // is the only honest test.
  const std::string probe = absl::StrCat(dir, "/.framepair-write-test-", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return ErrnoError(errno, absl::StrCat("output directory ", dir, " is not writable"),
                      "choose another --out");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

}  // namespace framepair
