// TFRecord files: framing (uint64 LE length, masked CRC32C of the length, data, masked
// CRC32C of the data), optionally GZIP-compressed as a whole stream (as TensorFlow does).
#pragma once

#include <cstdint>
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

// Reads records from a whole file's bytes. Not thread-safe.
class TfRecordReader {
 public:
  // Detects GZIP by its magic bytes (1f 8b) and inflates the whole stream up front; DATA_LOSS
  // for a damaged or truncated GZIP stream.
  static absl::StatusOr<TfRecordReader> FromBytes(std::string bytes);
  // Next record, valid until the reader is destroyed or moved; absl::OutOfRangeError at a
  // clean end; DATA_LOSS with the byte offset (of the uncompressed stream for GZIP) for a
  // truncated record or a CRC mismatch.
  absl::StatusOr<std::string_view> Next();
  // Offset of the next record in the uncompressed stream.
  uint64_t offset() const { return offset_; }
  bool gzip() const { return gzip_; }

 private:
  explicit TfRecordReader(std::string bytes) : data_(std::move(bytes)) {}
  std::string data_;
  uint64_t offset_ = 0;
  bool gzip_ = false;
};

}  // namespace framepair
