// TFRecord files: framing (uint64 LE length, masked CRC32C of the length, data, masked
// CRC32C of the data), optionally GZIP-compressed as a whole stream (as TensorFlow does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace framepair {

enum class TfRecordCompression { kNone, kGzip };

// Appends records to a string buffer or a sink. Not thread-safe.
class TfRecordWriter {
 public:
  // gzip_level is zlib's 0..9 (default 6, TensorFlow's). The records are mostly PNG bytes,
  // which deflate barely shrinks.
  explicit TfRecordWriter(TfRecordCompression compression = TfRecordCompression::kNone,
                          int gzip_level = 6);
  ~TfRecordWriter();
  // Frames one record and appends it to the output.
  absl::Status Write(std::string_view record);
  // Moves out the bytes produced so far, so a caller can stream them to a file and keep
  // memory bounded; Finish() then returns only the rest.
  std::string TakeOutput();
  // Finishes the stream (flushes GZIP) and returns the bytes not yet taken. Call once.
  absl::StatusOr<std::string> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Frames a single record without compression (exposed for tests).
std::string FrameTfRecord(std::string_view record);

// Where a reader gets its bytes: fills up to `size` bytes of `buffer` and returns how many,
// 0 only at the end. Errors end the reading with that status.
using TfRecordSource = std::function<absl::StatusOr<size_t>(char* buffer, size_t size)>;

// The largest record the writer frames and a reader accepts by default. A length field above
// a reader's maximum is damage (or a hostile file), reported as DATA_LOSS, never allocated.
inline constexpr uint64_t kMaxTfRecordBytes = uint64_t{1} << 30;

// Reads records one at a time with bounded memory: the current record plus fixed-size
// buffers, however far a GZIP stream inflates (a small file can inflate to terabytes). Not
// thread-safe; movable.
class TfRecordReader {
 public:
  // Detects GZIP by its magic bytes (1f 8b) and inflates as records are read. Damage in the
  // GZIP stream is DATA_LOSS from Next().
  static absl::StatusOr<TfRecordReader> FromSource(TfRecordSource source,
                                                   uint64_t max_record_bytes = kMaxTfRecordBytes);
  // A whole file's bytes (tests, small files).
  static absl::StatusOr<TfRecordReader> FromBytes(std::string bytes,
                                                  uint64_t max_record_bytes = kMaxTfRecordBytes);
  TfRecordReader(TfRecordReader&&) noexcept;
  TfRecordReader& operator=(TfRecordReader&&) noexcept;
  ~TfRecordReader();

  // Next record, valid until the next call or until the reader is destroyed or moved;
  // absl::OutOfRangeError at a clean end; DATA_LOSS with the byte offset (of the uncompressed
  // stream for GZIP) for a truncated record, a CRC mismatch, a length above the maximum, or a
  // damaged GZIP stream.
  absl::StatusOr<std::string_view> Next();
  // Offset of the next record in the uncompressed stream.
  uint64_t offset() const;
  bool gzip() const;

 private:
  struct Impl;
  explicit TfRecordReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace framepair
