#include "dataset/shard_writer.h"

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace framepair {

absl::StatusOr<ShardWriter> ShardWriter::Create(const std::string& dir,
                                                const std::string& file_name, bool gzip) {
  FP_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create(dir + "/" + file_name));
  return ShardWriter(std::move(file), file_name, gzip);
}

ShardWriter::ShardWriter(AtomicFile file, std::string file_name, bool gzip)
    : file_(std::make_unique<AtomicFile>(std::move(file))),
      records_(std::make_unique<TfRecordWriter>(gzip ? TfRecordCompression::kGzip
                                                     : TfRecordCompression::kNone)),
      sha_(std::make_unique<Sha256>()),
      file_name_(std::move(file_name)) {}

ShardWriter::ShardWriter(ShardWriter&&) noexcept = default;
ShardWriter& ShardWriter::operator=(ShardWriter&&) noexcept = default;
ShardWriter::~ShardWriter() = default;

absl::Status ShardWriter::Drain() {
  std::string bytes = records_->TakeOutput();
  if (bytes.empty()) return absl::OkStatus();
  sha_->Update(bytes);
  return file_->Append(bytes);
}

absl::Status ShardWriter::Write(std::string_view record) {
  FP_RETURN_IF_ERROR(records_->Write(record));
  return Drain();
}

absl::StatusOr<framepair::v1::ShardEntry> ShardWriter::Commit(int64_t examples) {
  FP_ASSIGN_OR_RETURN(std::string tail, records_->Finish());
  if (!tail.empty()) {
    sha_->Update(tail);
    FP_RETURN_IF_ERROR(file_->Append(tail));
  }
  FP_RETURN_IF_ERROR(file_->Commit());
  framepair::v1::ShardEntry entry;
  entry.set_file(file_name_);
  entry.set_examples(examples);
  entry.set_bytes(static_cast<int64_t>(file_->bytes_written()));
  entry.set_sha256(sha_->HexDigest());
  return entry;
}

}  // namespace framepair
