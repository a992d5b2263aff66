// Streams TFRecord records into one shard file and publishes it atomically, so a shard of any
// size is written with bounded memory and a reader never sees it half-written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"
#include "util/sha256.h"

namespace framepair {

// Not thread-safe. Destroying it without Commit() removes the temporary file.
class ShardWriter {
 public:
  static absl::StatusOr<ShardWriter> Create(const std::string& dir, const std::string& file_name,
                                            bool gzip);
  ShardWriter(ShardWriter&&) noexcept;
  ShardWriter& operator=(ShardWriter&&) noexcept;
  ~ShardWriter();

  absl::Status Write(std::string_view record);
  // Finishes the stream, fsyncs and renames; returns the manifest entry for the shard.
  absl::StatusOr<framepair::v1::ShardEntry> Commit(int64_t examples);

 private:
  ShardWriter(AtomicFile file, std::string file_name, bool gzip);
  absl::Status Drain();

  std::unique_ptr<AtomicFile> file_;
  std::unique_ptr<TfRecordWriter> records_;
  std::unique_ptr<Sha256> sha_;
  std::string file_name_;
};

}  // namespace framepair
