#include "png/png.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace framepair {
namespace {

using ::testing::HasSubstr;

// An image whose pixel (x, y) is set by `pixel(x, y, rng, p)`, p pointing at its R, G, B.
template <typename PixelFn>
RgbImage Generate(int width, int height, uint32_t seed, PixelFn pixel) {
  RgbImage image{.width = width, .height = height};
  image.pixels.resize(image.stride() * height);
  std::mt19937 rng(seed);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) pixel(x, y, rng, image.row(y) + 3 * x);
  }
  return image;
}

RgbImage MakeImage(int width, int height, uint32_t seed) {
  return Generate(width, height, seed, [&](int x, int y, std::mt19937& rng, uint8_t* p) {
    // A gradient with noise: compressible but not trivially so.
    p[0] = static_cast<uint8_t>(x * 255 / width + rng() % 8);
    p[1] = static_cast<uint8_t>(y * 255 / height);
    p[2] = static_cast<uint8_t>(rng());
  });
}

uint32_t ReadBe32(const std::string& s, size_t at) {
  return uint32_t{static_cast<uint8_t>(s[at])} << 24 |
         uint32_t{static_cast<uint8_t>(s[at + 1])} << 16 |
         uint32_t{static_cast<uint8_t>(s[at + 2])} << 8 | static_cast<uint8_t>(s[at + 3]);
}

std::vector<std::string> ChunkTypes(const std::string& png) {
  std::vector<std::string> types;
  for (size_t at = 8; at + 8 <= png.size();) {
    const uint32_t length = ReadBe32(png, at);
    types.push_back(png.substr(at + 4, 4));
    at += 12 + length;
  }
  return types;
}

// Writes a PNG in a format EncodePng never produces, with libpng's simplified API.
std::string EncodeOther(uint32_t format, int width, int height) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.format = format;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  if (format & PNG_FORMAT_FLAG_COLORMAP) image.colormap_entries = 256;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image), 0x55);
  std::vector<uint8_t> colormap(PNG_IMAGE_COLORMAP_SIZE(image), 0x20);
  png_alloc_size_t size = 0;
  const void* map = (format & PNG_FORMAT_FLAG_COLORMAP) ? colormap.data() : nullptr;
  EXPECT_TRUE(png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, map));
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, map));
  out.resize(size);
  return out;
}

// Rendered-game-like content: flat areas, gradients, repeated tiles, a HUD strip of sharp
// glyph-like edges and a little noise, so every path of the level-1 encoder (runs of a byte,
// runs of a pixel, literals) and libdeflate's matches all get exercised.
RgbImage GameLikeImage(int width, int height, uint32_t seed) {
  return Generate(width, height, seed, [&](int x, int y, std::mt19937& rng, uint8_t* p) {
    if (y < height / 6) {  // HUD: 8x8 glyphs from a small alphabet on a flat bar
      const uint32_t glyph = (x / 8 * 2654435761u) >> 29;
      const bool on = ((glyph * 0x9e3779b9u) >> ((x % 8) + 8 * (y % 4))) & 1;
      p[0] = on ? 250 : 20, p[1] = on ? 220 : 20, p[2] = on ? 40 : 30;
    } else if (x < width / 3) {  // flat wall
      p[0] = 90, p[1] = 60, p[2] = 40;
    } else if (x < 2 * width / 3) {  // 16x16 checker tiles with a gradient
      const int tile = ((x / 16) + (y / 16)) % 2;
      p[0] = static_cast<uint8_t>(tile * 100 + y / 2);
      p[1] = static_cast<uint8_t>(tile * 50 + x / 4);
      p[2] = static_cast<uint8_t>(128);
    } else {  // sky gradient with sensor-like noise
      p[0] = static_cast<uint8_t>(x * 255 / width + rng() % 3);
      p[1] = static_cast<uint8_t>(y * 255 / height + rng() % 3);
      p[2] = static_cast<uint8_t>(200 + rng() % 5);
    }
  });
}

// A 3D game's walls and floors: a random 48x48 texture repeated, so the redundancy lies in
// repeats a texture apart, which only a matching encoder finds.
RgbImage TexturedImage(int width, int height, uint32_t seed) {
  std::mt19937 tile_rng(seed);
  std::vector<uint8_t> tile(48 * 48 * 3);
  for (uint8_t& b : tile) b = static_cast<uint8_t>(tile_rng() % 64 + 64);
  return Generate(width, height, seed, [&](int x, int y, std::mt19937&, uint8_t* p) {
    for (int c = 0; c < 3; ++c) p[c] = tile[((y % 48) * 48 + x % 48) * 3 + c];
  });
}

RgbImage NoiseImage(int width, int height, uint32_t seed) {
  return Generate(width, height, seed, [](int, int, std::mt19937& rng, uint8_t* p) {
    for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>(rng());
  });
}

// libpng's own simplified reader, not DecodePng: the pixels a user's tools would see.
std::vector<uint8_t> LibpngPixels(const std::string& png, int* width, int* height) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) return {};
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return {};
  *width = static_cast<int>(image.width);
  *height = static_cast<int>(image.height);
  return pixels;
}

// Every --png-level (0 stores, 1 is the run-only encoder of fast_deflate.h, 2..12 libdeflate),
// with the default filter and with each filter at level 1, gives a PNG that libpng decodes to
// exactly the RGB encoded.
TEST(PngTest, EveryLevelDecodesWithLibpngToTheInput) {
  const std::vector<std::pair<std::string, RgbImage>> images = {
      {"noise", NoiseImage(131, 67, 21)},
      {"game-like", GameLikeImage(400, 240, 22)},
      {"game-like odd", GameLikeImage(173, 97, 23)},
  };
  for (const auto& [name, image] : images) {
    std::vector<PngOptions> settings;
    for (int level = 0; level <= kMaxPngLevel; ++level)
      settings.push_back({.compression_level = level});
    for (PngFilter filter : {PngFilter::kNone, PngFilter::kSub, PngFilter::kAverage,
                             PngFilter::kPaeth, PngFilter::kAdaptive}) {
      settings.push_back({.compression_level = 1, .filter = filter});
    }
    for (const PngOptions& options : settings) {
      auto png = EncodePng(image, options);
      ASSERT_TRUE(png.ok()) << png.status();
      int width = 0, height = 0;
      EXPECT_EQ(LibpngPixels(*png, &width, &height), image.pixels)
          << name << " level " << options.compression_level << " filter "
          << static_cast<int>(options.filter);
      EXPECT_EQ(width, image.width);
      EXPECT_EQ(height, image.height);
    }
  }
}

TEST(PngTest, RoundTripsExactly) {
  const RgbImage image = MakeImage(97, 31, 1);  // odd sizes catch stride mistakes
  auto png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status();
  auto decoded = DecodePng(*png);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, image);
}

TEST(PngTest, EveryFilterAndLevelRoundTrips) {
  const RgbImage image = MakeImage(40, 20, 2);
  for (int level : {0, 1, 6, 9, 12}) {
    for (PngFilter filter : {PngFilter::kNone, PngFilter::kSub, PngFilter::kUp, PngFilter::kAverage,
                             PngFilter::kPaeth, PngFilter::kAdaptive}) {
      auto png = EncodePng(image, {.compression_level = level, .filter = filter});
      ASSERT_TRUE(png.ok()) << png.status();
      auto decoded = DecodePng(*png);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(*decoded, image) << "level " << level << " filter " << static_cast<int>(filter);
    }
  }
}

// Sizes that stress the filters' edges: one pixel (no left or upper neighbour at all), rows
// shorter than a SIMD register, widths off every vector multiple. libpng decodes each, for every
// filter, to exactly the pixels encoded.
TEST(PngTest, OddSizesRoundTripThroughLibpng) {
  struct Size {
    int width, height;
  };
  uint32_t seed = 100;
  for (Size size : {Size{1, 1}, Size{3, 7}, Size{1, 9}, Size{9, 1}, Size{15, 4}, Size{17, 3},
                    Size{33, 5}, Size{101, 2}, Size{255, 3}}) {
    const RgbImage image = MakeImage(size.width, size.height, ++seed);
    for (PngFilter filter : {PngFilter::kNone, PngFilter::kSub, PngFilter::kUp, PngFilter::kAverage,
                             PngFilter::kPaeth, PngFilter::kAdaptive}) {
      auto png = EncodePng(image, {.compression_level = 1, .filter = filter});
      ASSERT_TRUE(png.ok()) << png.status();
      auto decoded = DecodePng(*png);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(*decoded, image) << size.width << "x" << size.height << " filter "
                                 << static_cast<int>(filter);
    }
  }
}

// Extreme values make the Average and Paeth predictors overflow a byte if computed in 8 bits.
TEST(PngTest, SaturatedPixelsRoundTrip) {
  RgbImage image{.width = 37, .height = 11};
  image.pixels.resize(image.stride() * image.height);
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    image.pixels[i] = (i * 7919 % 13) < 6 ? 255 : (i % 5 == 0 ? 0 : 254);
  }
  for (PngFilter filter : {PngFilter::kAverage, PngFilter::kPaeth, PngFilter::kAdaptive}) {
    auto png = EncodePng(image, {.filter = filter});
    ASSERT_TRUE(png.ok());
    auto decoded = DecodePng(*png);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, image) << static_cast<int>(filter);
  }
}

// The encoder before libdeflate was libpng at zlib level 1 with the Up filter. The default
// must stay within 10 % of that size: zlib here compresses the same Up-filtered rows.
TEST(PngTest, DefaultSizeStaysNearZlibLevel1) {
  for (const RgbImage& image :
       {MakeImage(320, 180, 9), GameLikeImage(640, 360, 9), TexturedImage(640, 480, 9)}) {
    std::string raw;
    for (int y = 0; y < image.height; ++y) {
      raw.push_back(2);  // Up
      for (size_t i = 0; i < image.stride(); ++i) {
        raw.push_back(static_cast<char>(image.row(y)[i] - (y == 0 ? 0 : image.row(y - 1)[i])));
      }
    }
    uLongf zlib_size = compressBound(static_cast<uLong>(raw.size()));
    std::vector<Bytef> zlib_out(zlib_size);
    ASSERT_EQ(compress2(zlib_out.data(), &zlib_size, reinterpret_cast<const Bytef*>(raw.data()),
                        static_cast<uLong>(raw.size()), 1),
              Z_OK);
    auto png = EncodePng(image);
    ASSERT_TRUE(png.ok());
    const size_t framing = 8 + 25 + 12 + 12;  // signature, IHDR, one IDAT's header/CRC, IEND
    EXPECT_LE(png->size(), (zlib_size + framing) * 11 / 10) << image.width << "x" << image.height;
  }
}

TEST(PngTest, DeterministicAcrossThreads) {
  const RgbImage image = MakeImage(123, 45, 10);
  for (PngFilter filter : {PngFilter::kUp, PngFilter::kAdaptive}) {
    auto here = EncodePng(image, {.filter = filter});
    ASSERT_TRUE(here.ok());
    std::string there;
    std::thread([&] { there = *EncodePng(image, {.filter = filter}); }).join();
    EXPECT_EQ(there, *here);
  }
}

TEST(PngTest, OutputIsDeterministicAndMinimal) {
  const RgbImage image = MakeImage(64, 48, 3);
  auto a = EncodePng(image);
  auto b = EncodePng(image);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  ASSERT_GT(a->size(), 33u);
  EXPECT_EQ(a->substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_EQ(ReadBe32(*a, 16), 64u);  // IHDR width
  EXPECT_EQ(ReadBe32(*a, 20), 48u);  // IHDR height
  EXPECT_EQ((*a)[24], 8);            // bit depth
  EXPECT_EQ((*a)[25], 2);            // colour type: RGB
  // No tIME/tEXt/gAMA...: nothing that could vary between runs or hosts.
  const std::vector<std::string> chunks = ChunkTypes(*a);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front(), "IHDR");
  EXPECT_EQ(chunks.back(), "IEND");
  for (size_t i = 1; i + 1 < chunks.size(); ++i) EXPECT_EQ(chunks[i], "IDAT");
}

TEST(PngTest, LevelTradesSizeForSpeed) {
  const RgbImage image = MakeImage(128, 128, 4);
  auto stored = EncodePng(image, {.compression_level = 0});
  auto best = EncodePng(image, {.compression_level = kMaxPngLevel});
  ASSERT_TRUE(stored.ok() && best.ok());
  EXPECT_GT(stored->size(), image.pixels.size());  // level 0 only wraps the raw rows
  EXPECT_LT(best->size(), stored->size() * 3 / 4);
}

TEST(PngTest, EncodeRejectsBadInput) {
  RgbImage image = MakeImage(8, 8, 5);
  EXPECT_EQ(EncodePng(image, {.compression_level = kMaxPngLevel + 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(image, {.compression_level = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  image.pixels.pop_back();
  EXPECT_EQ(EncodePng(image).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(RgbImage{}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PngTest, DecodeRejectsWhatTrainingCannotRead) {
  struct Case {
    const char* name;
    uint32_t format;
  };
  for (const Case& c :
       {Case{"grey", PNG_FORMAT_GRAY}, Case{"rgba", PNG_FORMAT_RGBA},
        Case{"16-bit", PNG_FORMAT_LINEAR_RGB}, Case{"palette", PNG_FORMAT_RGB_COLORMAP}}) {
    const std::string png = EncodeOther(c.format, 6, 4);
    auto decoded = DecodePng(png);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(decoded.status().message(), HasSubstr("not 8-bit RGB")) << c.name;
  }
  // The simplified API writes plain RGB too: proves the helper is not what fails above.
  EXPECT_TRUE(DecodePng(EncodeOther(PNG_FORMAT_RGB, 6, 4)).ok());
}

TEST(PngTest, DecodeRejectsRgbWithTransparency) {
  auto png = EncodePng(MakeImage(4, 4, 6));
  ASSERT_TRUE(png.ok());
  // tRNS for an RGB image: one 16-bit sample per channel, inserted right after IHDR.
  const std::string body = std::string("tRNS") + std::string(6, '\0');
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  std::string chunk = std::string("\0\0\0\x06", 4) + body;
  for (int shift : {24, 16, 8, 0}) chunk.push_back(static_cast<char>(crc >> shift));
  png->insert(8 + 25, chunk);
  auto decoded = DecodePng(*png);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("transparency"));
}

TEST(PngTest, DecodeRejectsDamagedData) {
  auto png = EncodePng(MakeImage(50, 50, 7));
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(DecodePng("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePng("GIF89a..........").status().code(), absl::StatusCode::kInvalidArgument);
  for (size_t keep : {size_t{8}, size_t{20}, size_t{40}, png->size() / 2, png->size() - 13}) {
    auto decoded = DecodePng(std::string_view(*png).substr(0, keep));
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << "kept " << keep;
  }
  std::string flipped = *png;
  flipped[60] ^= 0x40;  // inside the first IDAT: its CRC no longer matches
  auto decoded = DecodePng(flipped);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("invalid PNG"));
}

// A header that declares far more pixels than the file could inflate to is refused before
// the pixel buffer exists (fuzz/corpus/png/regress-huge-header.png: 69 bytes, 18918x18918,
// used to cost 1 GiB).
TEST(PngTest, DecodeRefusesHeaderLargerThanItsData) {
  auto png = EncodePng(MakeImage(4, 4, 8));
  ASSERT_TRUE(png.ok());
  // IHDR's width and height sit at bytes 16..23; its CRC follows the 13 data bytes.
  std::string huge = *png;
  for (int at : {16, 20}) {
    const uint32_t side = 18918;
    for (int i = 0; i < 4; ++i) huge[at + i] = static_cast<char>(side >> (24 - 8 * i));
  }
  const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(huge.data() + 12), 17);
  for (int i = 0; i < 4; ++i) huge[29 + i] = static_cast<char>(crc >> (24 - 8 * i));
  auto decoded = DecodePng(huge);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("cannot come from"));
  // Highly compressible images stay far inside the bound.
  RgbImage flat{.width = 1000, .height = 1000};
  flat.pixels.assign(flat.stride() * flat.height, 0);
  auto flat_png = EncodePng(flat, {.compression_level = 9});
  ASSERT_TRUE(flat_png.ok());
  auto flat_decoded = DecodePng(*flat_png);
  ASSERT_TRUE(flat_decoded.ok()) << flat_decoded.status();
  EXPECT_EQ(flat_decoded->pixels, flat.pixels);
}

}  // namespace
}  // namespace framepair
