// File helpers with the durability rules of the output contract: write to a temporary name in
// the same directory, fsync, rename, fsync the directory. A reader never sees a partial file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace framepair {

// A file being written under a hidden temporary name beside it ("<dir>/.<name>.tmp-<pid>-<n>":
// no glob for the final names matches it). Commit() fsyncs,
// renames onto the final path and fsyncs the directory; destruction without Commit()
// removes the temporary file. Not thread-safe.
class AtomicFile {
 public:
  static absl::StatusOr<AtomicFile> Create(const std::string& final_path);
  // The temporary file at `temp_path` instead, which must be on the final path's filesystem:
  // a staging directory whose leftovers a sweeper removes (uploads/). Created exclusively:
  // ALREADY_EXISTS when the name is taken.
  static absl::StatusOr<AtomicFile> CreateAt(const std::string& final_path, std::string temp_path);
  // A download that an interruption does not waste: the temporary name is fixed
  // ("<dir>/.<name>.partial"), opened for appending, and kept when the file is destroyed
  // without Commit(), so the next Resume() continues at bytes_written() (what is already
  // there). Discard() removes it (a download whose bytes turned out wrong).
  static absl::StatusOr<AtomicFile> Resume(const std::string& final_path);
  void Discard();
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) noexcept;
  ~AtomicFile();

  absl::Status Append(std::string_view data);
  absl::Status Commit();
  const std::string& final_path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  AtomicFile() = default;
  void Abandon();
  int fd_ = -1;
  std::string final_path_;
  std::string temp_path_;
  uint64_t bytes_written_ = 0;
  bool keep_partial_ = false;  // Resume(): the temporary file outlives the object
};

// A status for a failed system call: the errno's status code (NOT_FOUND, PERMISSION_DENIED,
// ...) and "<what>: <strerror>[; <hint>]". `what` names the file and the action, `hint` says
// what the user can do about it ("" for none).
absl::Status ErrnoError(int err, absl::string_view what, absl::string_view hint);

// fsyncs a directory, making renames into it durable (without it a crash can forget the new
// directory entry).
absl::Status SyncDirectory(const std::string& dir);

// Writes `data` to `path` atomically (AtomicFile in one call).
absl::Status WriteFileAtomically(const std::string& path, std::string_view data);
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Creates the directory (and parents) if needed and checks it is writable; the message names
// the directory and says what to do.
absl::Status EnsureWritableDirectory(const std::string& dir);

}  // namespace framepair
