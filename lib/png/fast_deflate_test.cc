#include "png/fast_deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace framepair {
namespace {

// zlib's inflate, an implementation independent of the encoder, must give back the input.
std::vector<uint8_t> Inflate(const std::vector<uint8_t>& stream, size_t expected_size) {
  std::vector<uint8_t> out(expected_size + 1);
  uLongf size = static_cast<uLongf>(out.size());
  const int rc = uncompress(out.data(), &size, stream.data(), static_cast<uLong>(stream.size()));
  EXPECT_EQ(rc, Z_OK) << "zlib refused the stream";
  out.resize(rc == Z_OK ? size : 0);
  return out;
}

std::vector<uint8_t> Compress(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> buffer;
  const size_t size = FastZlibCompress(data.data(), data.size(), &buffer);
  buffer.resize(size);
  return buffer;
}

void ExpectRoundTrip(const std::vector<uint8_t>& data, const std::string& what) {
  const std::vector<uint8_t> stream = Compress(data);
  EXPECT_EQ(Inflate(stream, data.size()), data) << what;
}

// Inputs built from the pieces the encoder treats differently: literals, runs of one byte
// (distance 1), runs of one pixel (distance 3), runs longer than 258, and runs that start
// right at a block boundary or at the very start or end.
std::vector<uint8_t> Pieces(std::mt19937& rng, size_t size) {
  std::vector<uint8_t> data;
  while (data.size() < size) {
    const size_t n = 1 + rng() % (rng() % 4 == 0 ? 2000 : 20);
    switch (rng() % 4) {
      case 0:  // literals
        for (size_t i = 0; i < n; ++i) data.push_back(static_cast<uint8_t>(rng()));
        break;
      case 1:  // one byte repeated
        data.insert(data.end(), n, static_cast<uint8_t>(rng() % 3));
        break;
      case 2: {  // one pixel repeated
        const uint8_t pixel[3] = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                                  static_cast<uint8_t>(rng())};
        for (size_t i = 0; i < n; ++i) data.push_back(pixel[i % 3]);
        break;
      }
      default:  // small values, as filtered rows of smooth content give
        for (size_t i = 0; i < n; ++i) data.push_back(static_cast<uint8_t>(rng() % 3 - 1));
        break;
    }
  }
  data.resize(size);
  return data;
}

TEST(FastDeflateTest, EdgeSizesRoundTrip) {
  for (size_t size : {0, 1, 2, 3, 4, 7, 8, 9, 258, 259, 65535, 65536}) {
    ExpectRoundTrip(std::vector<uint8_t>(size, 0), "zeros of " + std::to_string(size));
    ExpectRoundTrip(std::vector<uint8_t>(size, 0xff), "0xff of " + std::to_string(size));
  }
}

// Incompressible input falls back to stored blocks (65535 bytes at most each), which must
// still form one valid stream with the Huffman blocks around them.
TEST(FastDeflateTest, RandomBytesRoundTripAndStayNearTheirSize) {
  std::mt19937 rng(1);
  std::vector<uint8_t> data(300 * 1024);
  for (uint8_t& byte : data) byte = static_cast<uint8_t>(rng());
  const std::vector<uint8_t> stream = Compress(data);
  EXPECT_EQ(Inflate(stream, data.size()), data);
  // Stored blocks cost 5 bytes per 65535; a Huffman block of random bytes would cost more.
  EXPECT_LE(stream.size(), 2 + data.size() + 5 * (data.size() / 65535 + 3) + 4);
}

// Symbol counts in a Fibonacci sequence make an unlimited Huffman code deeper than deflate's
// 15 bits: the limited code must still be a valid (complete, decodable) one.
TEST(FastDeflateTest, SkewedCountsNeedLimitedCodeLengths) {
  std::vector<uint8_t> data;
  uint32_t a = 1, b = 1;
  for (int symbol = 0; symbol < 24; ++symbol) {
    data.insert(data.end(), a, static_cast<uint8_t>(symbol * 7 + 1));
    const uint32_t next = a + b;
    a = b;
    b = next;
  }
  std::mt19937 rng(3);
  std::shuffle(data.begin(), data.end(), rng);  // mostly literals, few runs
  ASSERT_LT(data.size(), 128u * 1024);          // one block, one code
  ExpectRoundTrip(data, "fibonacci counts");
}

// A fuzz-like sweep: many mixtures of runs and literals, sizes across block boundaries.
TEST(FastDeflateTest, MixturesRoundTrip) {
  for (uint32_t seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(seed);
    const size_t size = seed < 40 ? rng() % 5000 : 128 * 1024 - 100 + rng() % 300000;
    ExpectRoundTrip(Pieces(rng, size), "seed " + std::to_string(seed));
  }
}

TEST(FastDeflateTest, RunsCompress) {
  std::vector<uint8_t> data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<uint8_t>("\x05\x80\x11"[i % 3]));
  data.insert(data.end(), 100000, 0);
  const std::vector<uint8_t> stream = Compress(data);
  EXPECT_EQ(Inflate(stream, data.size()), data);
  EXPECT_LT(stream.size(), data.size() / 100);  // a 258-byte run costs a few bits
}

TEST(FastDeflateTest, Deterministic) {
  std::mt19937 rng(7);
  const std::vector<uint8_t> data = Pieces(rng, 200000);
  EXPECT_EQ(Compress(data), Compress(data));
}

}  // namespace
}  // namespace framepair
