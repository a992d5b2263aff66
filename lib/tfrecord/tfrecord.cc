#include "tfrecord/tfrecord.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "util/crc32c.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

constexpr size_t kHeaderSize = 12;  // uint64 length + masked CRC of it
constexpr size_t kFooterSize = 4;   // masked CRC of the data
// zlib counts in uInt; feed and drain it in slices that always fit.
constexpr size_t kZlibSlice = size_t{1} << 20;

void PutLe32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

void PutLe64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetLe32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint64_t GetLe64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void Header(std::string_view record, char out[kHeaderSize]) {
  PutLe64(out, record.size());
  PutLe32(out + 8, MaskCrc32c(Crc32c(out, 8)));
}

void Footer(std::string_view record, char out[kFooterSize]) {
  PutLe32(out, MaskCrc32c(Crc32c(record)));
}

bool HasValidHeaderCrc(std::string_view bytes) {
  return bytes.size() >= kHeaderSize &&
         MaskCrc32c(Crc32c(bytes.data(), 8)) == GetLe32(bytes.data() + 8);
}

bool HasGzipMagic(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f &&
         static_cast<uint8_t>(bytes[1]) == 0x8b;
}

}  // namespace

std::string FrameTfRecord(std::string_view record) {
  std::string out(kHeaderSize + record.size() + kFooterSize, '\0');
  Header(record, out.data());
  std::memcpy(out.data() + kHeaderSize, record.data(), record.size());
  Footer(record, out.data() + kHeaderSize + record.size());
  return out;
}

struct TfRecordWriter::Impl {
  Impl(TfRecordCompression compression, int gzip_level)
      : compression(compression), gzip_level(gzip_level) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  const TfRecordCompression compression;
  const int gzip_level;
  std::string out;
  z_stream zs{};
  bool deflating = false;
  bool finished = false;

  ~Impl() {
    if (deflating) deflateEnd(&zs);
  }

  absl::Status Start() {
    if (compression != TfRecordCompression::kGzip || deflating) return absl::OkStatus();
    // windowBits 15+16 writes a gzip header with mtime 0, so output is reproducible.
    if (deflateInit2(&zs, gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("deflateInit2 failed (level ", gzip_level, ")"));
    }
    deflating = true;
    return absl::OkStatus();
  }

  absl::Status Deflate(std::string_view data, int flush) {
    do {
      const size_t slice = std::min(data.size(), kZlibSlice);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      zs.avail_in = static_cast<uInt>(slice);
      const int slice_flush = slice == data.size() ? flush : Z_NO_FLUSH;
      int rc;
      do {
        const size_t before = out.size();
        const size_t room = std::max<size_t>(deflateBound(&zs, zs.avail_in), 4096);
        out.resize(before + room);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
        zs.avail_out = static_cast<uInt>(room);
        rc = deflate(&zs, slice_flush);
        out.resize(out.size() - zs.avail_out);
        if (rc == Z_STREAM_ERROR) return absl::InternalError("deflate failed");
      } while (zs.avail_out == 0 || (slice_flush == Z_FINISH && rc != Z_STREAM_END));
      data.remove_prefix(slice);
    } while (!data.empty());
    return absl::OkStatus();
  }

  absl::Status Append(std::string_view data) {
    if (compression == TfRecordCompression::kNone) {
      out.append(data);
      return absl::OkStatus();
    }
    return Deflate(data, Z_NO_FLUSH);
  }
};

TfRecordWriter::TfRecordWriter(TfRecordCompression compression, int gzip_level)
    : impl_(std::make_unique<Impl>(compression, gzip_level)) {}

TfRecordWriter::~TfRecordWriter() = default;

absl::Status TfRecordWriter::Write(std::string_view record) {
  if (impl_->finished) return absl::FailedPreconditionError("TfRecordWriter::Write after Finish");
  if (record.size() > kMaxTfRecordBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a record of ", record.size(),
                                                   " bytes is more than the TFRecord maximum ",
                                                   kMaxTfRecordBytes));
  }
  if (absl::Status s = impl_->Start(); !s.ok()) return s;
  // Framing pieces go straight into the output (or deflate) so a large record is not copied.
  char header[kHeaderSize];
  char footer[kFooterSize];
  Header(record, header);
  Footer(record, footer);
  for (std::string_view piece :
       {std::string_view(header, kHeaderSize), record, std::string_view(footer, kFooterSize)}) {
    if (absl::Status s = impl_->Append(piece); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string TfRecordWriter::TakeOutput() {
  std::string taken;
  taken.swap(impl_->out);
  return taken;
}

absl::StatusOr<std::string> TfRecordWriter::Finish() {
  if (impl_->finished) return absl::FailedPreconditionError("TfRecordWriter::Finish called twice");
  impl_->finished = true;
  if (absl::Status s = impl_->Start(); !s.ok()) return s;  // an empty gzip file is still gzip
  if (impl_->deflating) {
    if (absl::Status s = impl_->Deflate({}, Z_FINISH); !s.ok()) return s;
    deflateEnd(&impl_->zs);
    impl_->deflating = false;
  }
  return std::move(impl_->out);
}

// The uncompressed byte stream of a TFRecord file, read through fixed-size buffers: plain
// bytes are copied out of `raw`, GZIP is inflated from `raw` straight into the caller's buffer.
struct TfRecordReader::Impl {
 public:
  Impl(TfRecordSource source, uint64_t max_record_bytes)
      : source_(std::move(source)), max_record_bytes_(max_record_bytes) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (inflating_) inflateEnd(&zs_);
  }

  // Looks at the first bytes to choose between plain and GZIP.
  absl::Status Start() {
    while (raw_end_ < kHeaderSize) {
      FP_ASSIGN_OR_RETURN(size_t got, Fill());
      if (got == 0) break;
    }
    // A plain file whose first length happens to start with 1f 8b would look like gzip; its
    // header CRC tells them apart (a gzip header passes that check with odds of 2^-32).
    const std::string_view head(raw_.data(), raw_end_);
    if (!HasGzipMagic(head) || HasValidHeaderCrc(head)) return absl::OkStatus();
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) return absl::ResourceExhaustedError("inflateInit2");
    inflating_ = true;
    gzip_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<std::string_view> Next() {
    const char* where = gzip_ ? "uncompressed byte offset " : "byte offset ";
    char header[kHeaderSize];
    FP_ASSIGN_OR_RETURN(size_t got, Read(header, kHeaderSize));
    if (got == 0) return absl::OutOfRangeError("end of TFRecord data");
    if (got < kHeaderSize) {
      return absl::DataLossError(absl::StrCat("truncated record header at ", where, offset_, ": ",
                                              got, " of ", kHeaderSize, " bytes"));
    }
    if (!HasValidHeaderCrc(std::string_view(header, kHeaderSize))) {
      return absl::DataLossError(
          absl::StrCat("corrupt record length at ", where, offset_, " (CRC mismatch)"));
    }
    const uint64_t length = GetLe64(header);
    if (length > max_record_bytes_) {
      return absl::DataLossError(absl::StrCat("record at ", where, offset_, " claims ", length,
                                              " bytes, more than the ", max_record_bytes_,
                                              " a record may have here"));
    }
    FP_RETURN_IF_ERROR(ReadRecordData(length, where));
    char footer[kFooterSize];
    FP_ASSIGN_OR_RETURN(got, Read(footer, kFooterSize));
    if (got < kFooterSize) return Truncated(where, length, length + got);
    if (MaskCrc32c(Crc32c(record_)) != GetLe32(footer)) {
      return absl::DataLossError(
          absl::StrCat("corrupt record data at ", where, offset_, " (CRC mismatch)"));
    }
    offset_ += kHeaderSize + length + kFooterSize;
    return std::string_view(record_);
  }

  uint64_t offset() const { return offset_; }
  bool gzip() const { return gzip_; }

 private:
  static constexpr size_t kRawBuffer = size_t{256} << 10;
  static constexpr size_t kRecordStep = size_t{1} << 20;

  // The record grows with the bytes that actually arrive, not with what its length field
  // claims: a lying length runs into the end of the data before it costs memory.
  absl::Status ReadRecordData(uint64_t length, const char* where) {
    record_.clear();
    while (record_.size() < length) {
      const size_t before = record_.size();
      const size_t step = static_cast<size_t>(std::min<uint64_t>(length - before, kRecordStep));
      record_.resize(before + step);
      FP_ASSIGN_OR_RETURN(size_t got, Read(record_.data() + before, step));
      record_.resize(before + got);
      if (got < step) return Truncated(where, length, record_.size());
    }
    if (record_.capacity() > 2 * std::max<size_t>(length, kRecordStep)) record_.shrink_to_fit();
    return absl::OkStatus();
  }

  absl::Status Truncated(const char* where, uint64_t length, uint64_t got) const {
    return absl::DataLossError(absl::StrCat("truncated record at ", where, offset_, ": needs ",
                                            length, " data bytes + ", kFooterSize, " CRC bytes, ",
                                            got, " remain"));
  }

  // More raw bytes after the ones held (called with room left); 0 at the end of the source.
  absl::StatusOr<size_t> Fill() {
    if (raw_pos_ == raw_end_) raw_pos_ = raw_end_ = 0;
    if (raw_.size() < kRawBuffer) raw_.resize(kRawBuffer);
    FP_ASSIGN_OR_RETURN(size_t got, source_(raw_.data() + raw_end_, raw_.size() - raw_end_));
    raw_end_ += got;
    return got;
  }

  // Up to n uncompressed bytes; fewer only at the end of the stream.
  absl::StatusOr<size_t> Read(char* out, size_t n) {
    return gzip_ ? Inflate(out, n) : Copy(out, n);
  }

  absl::StatusOr<size_t> Copy(char* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      if (raw_pos_ == raw_end_) {
        FP_ASSIGN_OR_RETURN(size_t got, Fill());
        if (got == 0) break;
      }
      const size_t k = std::min(n - done, raw_end_ - raw_pos_);
      std::memcpy(out + done, raw_.data() + raw_pos_, k);
      raw_pos_ += k;
      done += k;
    }
    return done;
  }

  absl::StatusOr<size_t> Inflate(char* out, size_t n) {
    if (!damage_.ok()) return damage_;
    size_t done = 0;
    while (done < n && !stream_end_) {
      if (raw_pos_ == raw_end_) {
        FP_ASSIGN_OR_RETURN(size_t got, Fill());
        if (got == 0) {
          return absl::DataLossError(
              absl::StrCat("GZIP stream truncated after ", compressed_, " compressed bytes"));
        }
      }
      const size_t in = std::min(raw_end_ - raw_pos_, kZlibSlice);
      const size_t room = std::min(n - done, kZlibSlice);
      zs_.next_in = reinterpret_cast<Bytef*>(raw_.data() + raw_pos_);
      zs_.avail_in = static_cast<uInt>(in);
      zs_.next_out = reinterpret_cast<Bytef*>(out + done);
      zs_.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      raw_pos_ += in - zs_.avail_in;
      compressed_ += in - zs_.avail_in;
      done += room - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        FP_RETURN_IF_ERROR(NextMember());
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        damage_ = absl::DataLossError(
            absl::StrCat("corrupt GZIP stream near compressed byte offset ", compressed_, ": ",
                         zs_.msg ? zs_.msg : "inflate failed"));
        // The bytes inflated before the damage are returned first, and the error on the next
        // read: whether they arrive in the same call as the damage depends only on how the
        // source hands out its bytes, and that must not change which records a file yields
        // (found by fuzz/tfrecord_fuzzer: a damaged GZIP trailer dropped the last record when
        // read from one buffer, not when read in small pieces).
        if (done > 0) return done;
        return damage_;
      }
    }
    return done;
  }

  // Concatenated gzip members are one valid gzip file (what `cat a.gz b.gz` gives).
  absl::Status NextMember() {
    if (raw_pos_ == raw_end_) {
      FP_ASSIGN_OR_RETURN(size_t got, Fill());
      if (got == 0) {
        stream_end_ = true;
        return absl::OkStatus();
      }
    }
    if (inflateReset(&zs_) != Z_OK) return absl::InternalError("inflateReset");
    return absl::OkStatus();
  }

  TfRecordSource source_;
  const uint64_t max_record_bytes_;
  std::string raw_;  // source bytes; [raw_pos_, raw_end_) not consumed yet
  size_t raw_pos_ = 0;
  size_t raw_end_ = 0;
  z_stream zs_{};
  bool inflating_ = false;
  bool gzip_ = false;
  bool stream_end_ = false;
  uint64_t compressed_ = 0;  // compressed bytes consumed
  absl::Status damage_;      // a damaged GZIP stream: every later read fails with it
  uint64_t offset_ = 0;
  std::string record_;
};

TfRecordReader::TfRecordReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TfRecordReader::TfRecordReader(TfRecordReader&&) noexcept = default;
TfRecordReader& TfRecordReader::operator=(TfRecordReader&&) noexcept = default;
TfRecordReader::~TfRecordReader() = default;

absl::StatusOr<TfRecordReader> TfRecordReader::FromSource(TfRecordSource source,
                                                          uint64_t max_record_bytes) {
  auto impl = std::make_unique<Impl>(std::move(source), max_record_bytes);
  FP_RETURN_IF_ERROR(impl->Start());
  return TfRecordReader(std::move(impl));
}

absl::StatusOr<TfRecordReader> TfRecordReader::FromBytes(std::string bytes,
                                                         uint64_t max_record_bytes) {
  auto source = [bytes = std::move(bytes), pos = size_t{0}](char* out, size_t n) mutable -> size_t {
    const size_t k = std::min(n, bytes.size() - pos);
    std::memcpy(out, bytes.data() + pos, k);
    pos += k;
    return k;
  };
  return FromSource(std::move(source), max_record_bytes);
}

absl::StatusOr<std::string_view> TfRecordReader::Next() { return impl_->Next(); }
uint64_t TfRecordReader::offset() const { return impl_->offset(); }
bool TfRecordReader::gzip() const { return impl_->gzip(); }

}  // namespace framepair
