#include "png/png.h"

#include <libdeflate.h>
#include <png.h>

#include <algorithm>
#include <array>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "png/fast_deflate.h"
#include "png/png_filter.h"

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

// Everything between setjmp and the last libpng call lives in these small functions with
// only trivially destructible locals, because longjmp skips C++ destructors.
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

// libdeflate compressors, one per level and thread: allocating one costs more than
// compressing a small frame, and a compressor must not be shared between threads.
libdeflate_compressor* Compressor(int level) {
  struct Free {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  thread_local std::array<std::unique_ptr<libdeflate_compressor, Free>, kMaxPngLevel + 1> cache;
  auto& slot = cache[static_cast<size_t>(level)];
  if (slot == nullptr) slot.reset(libdeflate_alloc_compressor(level));
  return slot.get();
}

void AppendBe32(std::string* out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                         static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(bytes, 4);
}

// One chunk: length, type, data, then the CRC-32 of type and data (PNG spec 5.3).
void AppendChunk(std::string* out, const char (&type)[5], const uint8_t* data, size_t size) {
  AppendBe32(out, static_cast<uint32_t>(size));
  out->append(type, 4);
  uint32_t crc = libdeflate_crc32(0, type, 4);
  // Only with data: libdeflate_crc32 given a null buffer returns the initial value instead.
  if (size > 0) {
    out->append(reinterpret_cast<const char*>(data), size);
    crc = libdeflate_crc32(crc, data, size);
  }
  AppendBe32(out, crc);
}

// The run-only encoder codes runs and literals only. Where a frame's redundancy lies in repeats
// farther away than a run (the textures of a 3D game: the Doom capture through H.264), it is
// larger than libdeflate's level 1 (+13 %, beyond the 10 % that level 1 may grow) and no faster.
// A slice from the middle of the frame, compressed on its own, tells which content this is for
// a few percent of the frame's cost: runs suffice where they shrink it to a fifth or less (flat
// and gradient footage: 2-5 %; the Doom capture: over a third).
constexpr size_t kProbeBytes = 64 * 1024;
constexpr size_t kRunsSufficeRatio = 5;

bool RunsSuffice(const uint8_t* filtered, size_t size) {
  thread_local std::vector<uint8_t> probe_out;
  const size_t probe = std::min(size, kProbeBytes);
  const size_t from = (size - probe) / 2;
  return FastZlibCompress(filtered + from, probe, &probe_out) * kRunsSufficeRatio <= probe;
}

}  // namespace

absl::StatusOr<std::string> EncodePng(const RgbImage& image, const PngOptions& options) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != image.stride() * static_cast<size_t>(image.height)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode a ", image.width, "x",
                                                   image.height, " RGB image from ",
                                                   image.pixels.size(), " bytes"));
  }
  if (options.compression_level < 0 || options.compression_level > kMaxPngLevel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PNG compression level ", options.compression_level, " is not in 0..", kMaxPngLevel));
  }
  // Both scratch buffers stay with the thread: the packer encodes frames of one size over and
  // over, and a fresh multi-megabyte buffer per frame costs page faults.
  thread_local std::vector<uint8_t> filtered, compressed;
  const size_t raw_size = (image.stride() + 1) * static_cast<size_t>(image.height);
  if (filtered.size() < raw_size) filtered.resize(raw_size);
  FilterImage(image, options.filter, filtered.data());
  size_t zlib_size = 0;
  if (options.compression_level == 1 && RunsSuffice(filtered.data(), raw_size)) {
    zlib_size = FastZlibCompress(filtered.data(), raw_size, &compressed);
  } else {
    libdeflate_compressor* compressor = Compressor(options.compression_level);
    if (compressor == nullptr) return absl::ResourceExhaustedError("cannot allocate a compressor");
    const size_t bound = libdeflate_zlib_compress_bound(compressor, raw_size);
    if (compressed.size() < bound) compressed.resize(bound);
    zlib_size =
        libdeflate_zlib_compress(compressor, filtered.data(), raw_size, compressed.data(), bound);
    if (zlib_size == 0) return absl::InternalError("PNG compression overflowed its bound");
  }

  // A chunk holds at most 2^31-1 bytes. No frame we accept comes near that, but the spec lets
  // the zlib stream go on in further IDAT chunks, so split rather than fail.
  constexpr size_t kMaxChunk = (size_t{1} << 31) - 1;
  const size_t chunks = (zlib_size + kMaxChunk - 1) / kMaxChunk;
  std::string out;
  out.reserve(8 + 25 + zlib_size + 12 * chunks + 12);
  out.append("\x89PNG\r\n\x1a\n", 8);
  uint8_t ihdr[13] = {};
  for (int i = 0; i < 4; ++i) {
    ihdr[i] = static_cast<uint8_t>(static_cast<uint32_t>(image.width) >> (24 - 8 * i));
    ihdr[4 + i] = static_cast<uint8_t>(static_cast<uint32_t>(image.height) >> (24 - 8 * i));
  }
  ihdr[8] = 8;  // bit depth
  ihdr[9] = 2;  // colour type RGB; compression, filter method and interlace stay 0
  AppendChunk(&out, "IHDR", ihdr, sizeof(ihdr));
  for (size_t at = 0; at < zlib_size; at += kMaxChunk) {
    AppendChunk(&out, "IDAT", compressed.data() + at, std::min(kMaxChunk, zlib_size - at));
  }
  AppendChunk(&out, "IEND", nullptr, 0);
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
