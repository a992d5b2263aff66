// Analysis thumbnails of one video, kept in a file instead of the heap. At ~7 KB per kept
// frame and side they are the only part of the analysis whose size grows with the footage
// (a 10-minute 30 fps pair: ~250 MB; an hour at 60 fps: ~3 GB), so they live in the page
// cache: ingest appends them to an unnamed file, readers map it read-only, and long passes
// call ReleaseResident() now and then so the process holds only the pages it touched since.
// Peak memory then depends on the work in flight, not on the length of the recording.
//
// A store is either being written (Create, Append, Finish) or mapped (after Finish, or Map of
// an existing file, e.g. a frame table artifact). Move-only. Reads of a mapped store are
// thread-safe; ReleaseResident() may run while other threads read (a released page is read
// back from the page cache on its next access, with the same bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace framepair {

class ThumbStore {
 public:
  ThumbStore() = default;
  ThumbStore(ThumbStore&& other) noexcept;
  ThumbStore& operator=(ThumbStore&& other) noexcept;
  ThumbStore(const ThumbStore&) = delete;
  ThumbStore& operator=(const ThumbStore&) = delete;
  ~ThumbStore();

  // An empty store of `record_bytes`-sized thumbnails in an unnamed file in `dir` (empty:
  // $TMPDIR, else /tmp). The file has no name, so nothing is left behind however the process
  // ends. Errors name the directory.
  static absl::StatusOr<ThumbStore> Create(size_t record_bytes, const std::string& dir);
  // Maps `count` thumbnails of `record_bytes` starting at byte `offset` of `path`, read-only.
  // DATA_LOSS (naming the file) if the file is shorter than that.
  static absl::StatusOr<ThumbStore> Map(const std::string& path, uint64_t offset, size_t count,
                                        size_t record_bytes);

  // Appends one thumbnail of record_bytes(). Only before Finish().
  absl::Status Append(const uint8_t* record);
  // Flushes and maps what was appended; the thumbnails are readable afterwards.
  absl::Status Finish();

  size_t size() const { return count_; }  // thumbnails
  size_t record_bytes() const { return record_bytes_; }
  size_t bytes() const { return count_ * record_bytes_; }
  // Null until mapped, and for an empty store.
  const uint8_t* data() const { return data_; }
  const uint8_t* record(size_t i) const { return data_ + i * record_bytes_; }

  // Copies thumbnails [first, first + count) to `out` with pread, not through the mapping:
  // for scattered reads, which through the mapping would each fault in a page-cache folio.
  void Copy(size_t first, size_t count, uint8_t* out) const;

  // Gives the mapped pages back to the kernel (madvise MADV_DONTNEED). They stay in the page
  // cache; the next read of each faults it in again.
  void ReleaseResident() const;

 private:
  absl::Status Flush();
  void Close();

  std::string where_;  // the directory or file, for messages
  int fd_ = -1;
  size_t record_bytes_ = 0;
  size_t count_ = 0;
  uint64_t file_offset_ = 0;  // of the first thumbnail in the file
  std::string pending_;       // appended bytes not yet written
  void* map_ = nullptr;       // page-aligned start of the mapping
  size_t map_bytes_ = 0;
  const uint8_t* data_ = nullptr;
};

}  // namespace framepair
