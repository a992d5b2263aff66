// The S3 backend without a server: the part size of multipart uploads and copies (S3's 10 000
// parts, its 5 TiB object), how a multipart copy splits an object, and that a copy over the
// single-copy limit takes the multipart path. tests/s3 runs the backend against real servers
// (s3_copy_test.cc there: a multipart copy that succeeds, and one that s3rver 3.7.1 refuses).
#include "storage/s3_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "storage/object_store.h"

namespace framepair {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kMiB = int64_t{1} << 20;

// The ranges cover [0, size) exactly once, in order, as S3's inclusive byte ranges.
void ExpectTiles(const std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t size) {
  ASSERT_FALSE(ranges.empty());
  EXPECT_EQ(ranges.front().first, 0);
  EXPECT_EQ(ranges.back().second, size - 1);
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_LE(ranges[i].first, ranges[i].second) << "part " << i + 1 << " is empty";
    if (i > 0) {
      EXPECT_EQ(ranges[i].first, ranges[i - 1].second + 1) << "gap before part " << i + 1;
    }
  }
}

constexpr int64_t kTiB = int64_t{1} << 40;

// How many parts of `part_bytes` hold `size` bytes.
int64_t Parts(int64_t size, int64_t part_bytes) { return (size + part_bytes - 1) / part_bytes; }

// What fits in 10 000 parts of the configured size keeps that size (no surprise for the
// operator who chose it), the exact fit included.
TEST(MultipartPartBytesTest, TheConfiguredSizeWhileTenThousandPartsSuffice) {
  EXPECT_EQ(MultipartPartBytes(1, 16 * kMiB).value(), 16 * kMiB);
  EXPECT_EQ(MultipartPartBytes(int64_t{6} << 30, 16 * kMiB).value(), 16 * kMiB);
  EXPECT_EQ(MultipartPartBytes(10000 * 16 * kMiB, 16 * kMiB).value(), 16 * kMiB);
  EXPECT_EQ(MultipartPartBytes(0, 16 * kMiB).value(), 16 * kMiB);
}

// One byte more than 10 000 parts hold: the parts grow to the next whole MiB, as the AWS SDKs
// grow theirs, and the file fits in at most 10 000 of them.
TEST(MultipartPartBytesTest, LargerPartsBeyondTenThousand) {
  const int64_t size = 10000 * 16 * kMiB + 1;
  const int64_t part = MultipartPartBytes(size, 16 * kMiB).value();
  EXPECT_EQ(part, 17 * kMiB);
  EXPECT_LE(Parts(size, part), 10000);
  // Tiny configured parts (the tests' 64 KiB) grow too.
  EXPECT_EQ(MultipartPartBytes(10000 * 65536 + 1, 65536).value(), kMiB);
}

// Every size up to S3's largest object (5 TiB) fits in 10 000 parts, each within S3's limits
// (5 MiB to 5 GiB, so the default 16 MiB parts), with the part size non-decreasing in the size.
TEST(MultipartPartBytesTest, EverySizeUpToFiveTiBFits) {
  int64_t previous = 0;
  for (int64_t size : {int64_t{1} << 30, int64_t{100} << 30, int64_t{156} << 30, int64_t{157} << 30,
                       kTiB, 3 * kTiB, 5 * kTiB - 1, 5 * kTiB}) {
    SCOPED_TRACE(size);
    const absl::StatusOr<int64_t> part = MultipartPartBytes(size, 16 * kMiB);
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_LE(Parts(size, *part), 10000);
    EXPECT_GE(*part, 16 * kMiB);
    EXPECT_LE(*part, int64_t{5} << 30);
    EXPECT_GE(*part, previous);
    previous = *part;
  }
  EXPECT_EQ(MultipartPartBytes(5 * kTiB, 16 * kMiB).value(), 525 * kMiB);
}

// Above 5 TiB there is no part size that helps: a clear refusal naming the limit.
TEST(MultipartPartBytesTest, MoreThanFiveTiBIsRefused) {
  const absl::StatusOr<int64_t> part = MultipartPartBytes(5 * kTiB + 1, 16 * kMiB);
  EXPECT_EQ(part.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(part.status().message()), HasSubstr("5 TiB"));
  EXPECT_EQ(CopyPartRanges(5 * kTiB + 1, 512 * kMiB).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CopyPartRangesTest, PartsOfTheGivenSizeAndAShorterLastOne) {
  const int64_t size = 3 * kMiB + kMiB / 2;
  const std::vector<std::pair<int64_t, int64_t>> ranges = CopyPartRanges(size, kMiB).value();
  const std::vector<std::pair<int64_t, int64_t>> want = {
      {0, kMiB - 1}, {kMiB, 2 * kMiB - 1}, {2 * kMiB, 3 * kMiB - 1}, {3 * kMiB, size - 1}};
  EXPECT_EQ(ranges, want);
}

TEST(CopyPartRangesTest, AnExactMultipleHasNoEmptyLastPart) {
  const std::vector<std::pair<int64_t, int64_t>> ranges = CopyPartRanges(4 * kMiB, kMiB).value();
  ASSERT_EQ(ranges.size(), 4u);
  ExpectTiles(ranges, 4 * kMiB);
  EXPECT_EQ(ranges.back(), std::make_pair(3 * kMiB, 4 * kMiB - 1));
  EXPECT_EQ(CopyPartRanges(1, kMiB).value(), (std::vector<std::pair<int64_t, int64_t>>{{0, 0}}));
  EXPECT_TRUE(CopyPartRanges(0, kMiB).value().empty());
}

// S3 takes at most 10 000 parts: a 5 TiB object (S3's largest) in 512 MiB parts would need
// 10 240, so the parts grow instead.
TEST(CopyPartRangesTest, AtMostTenThousandParts) {
  const int64_t size = int64_t{5} << 40;
  const std::vector<std::pair<int64_t, int64_t>> ranges = CopyPartRanges(size, 512 * kMiB).value();
  EXPECT_LE(ranges.size(), 10000u);
  EXPECT_GT(ranges.size(), 9000u);
  ExpectTiles(ranges, size);
  EXPECT_GE(ranges.front().second + 1, 512 * kMiB);
  // The 6 GiB shard of the issue: 12 parts of 512 MiB.
  EXPECT_EQ(CopyPartRanges(int64_t{6} << 30, 512 * kMiB).value().size(), 12u);
}

// Credentials, and an endpoint where nothing listens (the discard port): any request fails
// UNAVAILABLE at once.
void PointAtNoServer() {
  ASSERT_EQ(::setenv("AWS_ACCESS_KEY_ID", "id", 1), 0);
  ASSERT_EQ(::setenv("AWS_SECRET_ACCESS_KEY", "secret", 1), 0);
  ASSERT_EQ(::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1), 0);
  ::unsetenv("FRAMEPAIR_S3_PART_BYTES");
  ::unsetenv("FRAMEPAIR_S3_BACKOFF_MS");
}

// Over the single-copy limit a copy is a multipart upload, not a refusal: against an endpoint
// where nothing listens, it fails on the first request (creating the upload), naming the
// object and the setting to check, but not the endpoint's address.
TEST(S3StoreTest, ALargeCopyTakesTheMultipartPath) {
  ASSERT_NO_FATAL_FAILURE(PointAtNoServer());
  ObjectStoreOptions options;
  options.attempts = 1;
  options.max_single_copy = kMiB;
  options.copy_part_bytes = kMiB;
  absl::StatusOr<std::unique_ptr<ObjectStore>> store =
      OpenObjectStore("s3://fp-bucket/copies", options);
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Status copied = (*store)->Copy("staging/a", "train_a.tfrecord", 3 * kMiB);
  EXPECT_EQ(copied.code(), absl::StatusCode::kUnavailable) << copied;
  EXPECT_THAT(std::string(copied.message()), HasSubstr("s3://fp-bucket/copies/train_a.tfrecord"));
  EXPECT_THAT(std::string(copied.message()), HasSubstr("AWS_ENDPOINT_URL"));
  EXPECT_THAT(std::string(copied.message()), Not(HasSubstr("secret")));
  // No address: a job's error reaches every client of the service.
  EXPECT_THAT(std::string(copied.message()), Not(HasSubstr("127.0.0.1")));
}

// A file larger than S3's largest object is refused before any request (nothing listens at
// the endpoint: a request would fail UNAVAILABLE), naming the object and the limit. The file is
// sparse: it takes no disk space.
TEST(S3StoreTest, AFileOverFiveTiBIsRefusedBeforeAnyRequest) {
  ASSERT_NO_FATAL_FAILURE(PointAtNoServer());
  char dir_template[] = "/tmp/framepair-s3store-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string file = std::string(dir_template) + "/huge.tfrecord";
  FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const bool sized = ::ftruncate(fileno(f), 5 * kTiB + 1) == 0;
  std::fclose(f);
  if (!sized) {
    std::filesystem::remove_all(dir_template);
    GTEST_SKIP() << "this filesystem holds no 5 TiB sparse file";
  }
  ObjectStoreOptions options;
  options.attempts = 1;
  absl::StatusOr<std::unique_ptr<ObjectStore>> store =
      OpenObjectStore("s3://fp-bucket/data", options);
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Status put = (*store)->PutFile("train_00000-of-00001.tfrecord", file);
  std::filesystem::remove_all(dir_template);
  EXPECT_EQ(put.code(), absl::StatusCode::kInvalidArgument) << put;
  EXPECT_THAT(std::string(put.message()),
              HasSubstr("s3://fp-bucket/data/train_00000-of-00001.tfrecord"));
  EXPECT_THAT(std::string(put.message()), HasSubstr("5 TiB"));
}

}  // namespace
}  // namespace framepair
