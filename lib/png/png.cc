#include "png/png.h"

#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

// libpng reports fatal errors through a callback that must not return; we record the message
// and longjmp back to the setjmp in the calling phase.
struct ErrorSink {
  char message[256] = "unknown libpng error";
};

[[noreturn]] void OnError(png_structp png, png_const_charp message) {
  auto* sink = static_cast<ErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}  // warnings do not change the pixels

class WriteHandle {
 public:
  WriteHandle() {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors_, OnError, OnWarning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~WriteHandle() { png_destroy_write_struct(&png_, &info_); }
  WriteHandle(const WriteHandle&) = delete;
  WriteHandle& operator=(const WriteHandle&) = delete;
  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }
  const char* error() const { return errors_.message; }

 private:
  ErrorSink errors_;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

class ReadHandle {
 public:
  ReadHandle() {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &errors_, OnError, OnWarning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~ReadHandle() { png_destroy_read_struct(&png_, &info_, nullptr); }
  ReadHandle(const ReadHandle&) = delete;
  ReadHandle& operator=(const ReadHandle&) = delete;
  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }
  const char* error() const { return errors_.message; }

 private:
  ErrorSink errors_;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

void AppendToString(png_structp png, png_bytep data, size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

void NoFlush(png_structp) {}

int LibpngFilterMask(PngFilter filter) {
  switch (filter) {
    case PngFilter::kNone:
      return PNG_FILTER_NONE;
    case PngFilter::kSub:
      return PNG_FILTER_SUB;
    case PngFilter::kUp:
      return PNG_FILTER_UP;
    case PngFilter::kAverage:
      return PNG_FILTER_AVG;
    case PngFilter::kPaeth:
      return PNG_FILTER_PAETH;
    case PngFilter::kAdaptive:
      return PNG_ALL_FILTERS;
  }
  return PNG_ALL_FILTERS;
}

// Everything between setjmp and the last libpng call lives in these small functions with
// only trivially destructible locals, because longjmp skips C++ destructors.
bool WriteAll(const WriteHandle& h, const RgbImage& image, const PngOptions& options,
              png_bytepp rows, std::string* out) {
  if (setjmp(png_jmpbuf(h.png()))) return false;
  png_set_write_fn(h.png(), out, AppendToString, NoFlush);
  png_set_IHDR(h.png(), h.info(), static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(h.png(), options.compression_level);
  png_set_filter(h.png(), PNG_FILTER_TYPE_BASE, LibpngFilterMask(options.filter));
  png_write_info(h.png(), h.info());
  png_write_image(h.png(), rows);
  png_write_end(h.png(), nullptr);
  return true;
}

struct Source {
  const char* data;
  size_t size;
  size_t offset;
};

void ReadFromSource(png_structp png, png_bytep out, size_t n) {
  auto* source = static_cast<Source*>(png_get_io_ptr(png));
  if (source->size - source->offset < n) png_error(png, "unexpected end of data");
  std::memcpy(out, source->data + source->offset, n);
  source->offset += n;
}

struct Header {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int color_type = 0;
  bool transparency = false;
};

bool ReadHeader(const ReadHandle& h, Source* source, Header* header) {
  if (setjmp(png_jmpbuf(h.png()))) return false;
  png_set_read_fn(h.png(), source, ReadFromSource);
  png_read_info(h.png(), h.info());
  int interlace = 0;
  png_get_IHDR(h.png(), h.info(), &header->width, &header->height, &header->bit_depth,
               &header->color_type, &interlace, nullptr, nullptr);
  header->transparency = png_get_valid(h.png(), h.info(), PNG_INFO_tRNS) != 0;
  png_set_interlace_handling(h.png());
  png_read_update_info(h.png(), h.info());
  return true;
}

bool ReadRows(const ReadHandle& h, png_bytepp rows) {
  if (setjmp(png_jmpbuf(h.png()))) return false;
  png_read_image(h.png(), rows);
  png_read_end(h.png(), nullptr);
  return true;
}

std::vector<png_bytep> RowPointers(uint8_t* pixels, int height, size_t stride) {
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = pixels + y * stride;
  return rows;
}

}  // namespace

absl::StatusOr<std::string> EncodePng(const RgbImage& image, const PngOptions& options) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != image.stride() * static_cast<size_t>(image.height)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode a ", image.width, "x",
                                                   image.height, " RGB image from ",
                                                   image.pixels.size(), " bytes"));
  }
  if (options.compression_level < 0 || options.compression_level > 9) {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG compression level ", options.compression_level, " is not in 0..9"));
  }
  WriteHandle handle;
  if (!handle.ok()) return absl::ResourceExhaustedError("cannot allocate a libpng writer");
  // libpng takes non-const row pointers even for writing; it does not modify them.
  std::vector<png_bytep> rows =
      RowPointers(const_cast<uint8_t*>(image.pixels.data()), image.height, image.stride());
  std::string out;
  out.reserve(image.pixels.size() / 2);
  if (!WriteAll(handle, image, options, rows.data(), &out)) {
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", handle.error()));
  }
  return out;
}

absl::StatusOr<RgbImage> DecodePng(std::string_view bytes) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0) {
    return absl::InvalidArgumentError("not a PNG (bad signature)");
  }
  ReadHandle handle;
  if (!handle.ok()) return absl::ResourceExhaustedError("cannot allocate a libpng reader");
  Source source{bytes.data(), bytes.size(), 0};
  Header header;
  if (!ReadHeader(handle, &source, &header)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid PNG: ", handle.error()));
  }
  if (header.bit_depth != 8 || header.color_type != PNG_COLOR_TYPE_RGB || header.transparency) {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG is not 8-bit RGB (bit depth ", header.bit_depth, ", colour type ",
                     header.color_type, header.transparency ? ", with transparency" : "",
                     "); training needs 3-channel 8-bit images"));
  }
  // A corrupt or hostile header must not make us allocate gigabytes before the data runs out.
  constexpr uint64_t kMaxPixelBytes = uint64_t{1} << 30;
  if (uint64_t{header.width} * header.height * 3 > kMaxPixelBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG of ", header.width, "x", header.height, " is too large to decode"));
  }
  // Nor a small one: deflate expands at most 1032:1 (a 258-byte match in 2 bits), so a header
  // declaring more pixel bytes than the whole file could inflate to is damage or a bomb. Found
  // by fuzz/png_fuzzer: 69 bytes claiming 18918x18918 cost 1 GiB and 5 s before libpng found
  // the data missing.
  constexpr uint64_t kMaxDeflateRatio = 1032;
  if (uint64_t{header.width} * header.height * 3 > uint64_t{bytes.size()} * kMaxDeflateRatio) {
    return absl::InvalidArgumentError(absl::StrCat("invalid PNG: ", header.width, "x",
                                                   header.height, " pixels cannot come from ",
                                                   bytes.size(), " bytes (truncated or damaged)"));
  }
  RgbImage image;
  image.width = static_cast<int>(header.width);
  image.height = static_cast<int>(header.height);
  image.pixels.resize(image.stride() * header.height);
  std::vector<png_bytep> rows = RowPointers(image.pixels.data(), image.height, image.stride());
  if (!ReadRows(handle, rows.data())) {
    return absl::InvalidArgumentError(absl::StrCat("invalid PNG: ", handle.error()));
  }
  return image;
}

}  // namespace framepair
