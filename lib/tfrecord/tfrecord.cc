#include "tfrecord/tfrecord.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "util/crc32c.h"

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

absl::StatusOr<std::string> Gunzip(std::string_view in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return absl::ResourceExhaustedError("inflateInit2");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};
  std::string out;
  size_t consumed = 0;
  for (;;) {
    const size_t slice = std::min(in.size() - consumed, kZlibSlice);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed));
    zs.avail_in = static_cast<uInt>(slice);
    const size_t before = out.size();
    out.resize(before + kZlibSlice);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    zs.avail_out = static_cast<uInt>(kZlibSlice);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(out.size() - zs.avail_out);
    consumed += slice - zs.avail_in;
    if (rc == Z_STREAM_END) {
      if (consumed == in.size()) return out;
      // Concatenated gzip members are one valid gzip file (what `cat a.gz b.gz` gives).
      if (inflateReset(&zs) != Z_OK) return absl::InternalError("inflateReset");
      continue;
    }
    if (rc == Z_BUF_ERROR && consumed == in.size()) {
      return absl::DataLossError(
          absl::StrCat("GZIP stream truncated after ", in.size(), " compressed bytes"));
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return absl::DataLossError(absl::StrCat("corrupt GZIP stream near compressed byte offset ",
                                              consumed, ": ", zs.msg ? zs.msg : "inflate failed"));
    }
  }
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

absl::StatusOr<TfRecordReader> TfRecordReader::FromBytes(std::string bytes) {
  // A plain file whose first length happens to start with 1f 8b would look like gzip; its
  // header CRC tells them apart (a gzip header passes that check with odds of 2^-32).
  if (HasGzipMagic(bytes) && !HasValidHeaderCrc(bytes)) {
    absl::StatusOr<std::string> plain = Gunzip(bytes);
    if (!plain.ok()) return plain.status();
    TfRecordReader reader(std::move(*plain));
    reader.gzip_ = true;
    return reader;
  }
  return TfRecordReader(std::move(bytes));
}

absl::StatusOr<std::string_view> TfRecordReader::Next() {
  const std::string_view rest = std::string_view(data_).substr(offset_);
  if (rest.empty()) return absl::OutOfRangeError("end of TFRecord data");
  const char* where = gzip_ ? "uncompressed byte offset " : "byte offset ";
  if (rest.size() < kHeaderSize) {
    return absl::DataLossError(absl::StrCat("truncated record header at ", where, offset_, ": ",
                                            rest.size(), " of ", kHeaderSize, " bytes"));
  }
  if (!HasValidHeaderCrc(rest)) {
    return absl::DataLossError(
        absl::StrCat("corrupt record length at ", where, offset_, " (CRC mismatch)"));
  }
  const uint64_t length = GetLe64(rest.data());
  const size_t available = rest.size() - kHeaderSize;
  if (available < kFooterSize || length > available - kFooterSize) {
    return absl::DataLossError(absl::StrCat("truncated record at ", where, offset_, ": needs ",
                                            length, " data bytes + ", kFooterSize, " CRC bytes, ",
                                            available, " remain"));
  }
  const std::string_view record = rest.substr(kHeaderSize, length);
  if (MaskCrc32c(Crc32c(record)) != GetLe32(rest.data() + kHeaderSize + length)) {
    return absl::DataLossError(
        absl::StrCat("corrupt record data at ", where, offset_, " (CRC mismatch)"));
  }
  offset_ += kHeaderSize + length + kFooterSize;
  return record;
}

}  // namespace framepair
