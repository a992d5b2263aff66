// The S3 backend without a server: how a multipart copy splits an object, and that a copy over
// the single-copy limit takes the multipart path. tests/s3 runs the backend against a real
// server (s3rver, which does not implement UploadPartCopy: see s3_copy_test.cc there).
#include "storage/s3_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
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

TEST(CopyPartRangesTest, PartsOfTheGivenSizeAndAShorterLastOne) {
  const int64_t size = 3 * kMiB + kMiB / 2;
  const std::vector<std::pair<int64_t, int64_t>> ranges = CopyPartRanges(size, kMiB);
  const std::vector<std::pair<int64_t, int64_t>> want = {
      {0, kMiB - 1}, {kMiB, 2 * kMiB - 1}, {2 * kMiB, 3 * kMiB - 1}, {3 * kMiB, size - 1}};
  EXPECT_EQ(ranges, want);
}

TEST(CopyPartRangesTest, AnExactMultipleHasNoEmptyLastPart) {
  const std::vector<std::pair<int64_t, int64_t>> ranges = CopyPartRanges(4 * kMiB, kMiB);
  ASSERT_EQ(ranges.size(), 4u);
  ExpectTiles(ranges, 4 * kMiB);
  EXPECT_EQ(ranges.back(), std::make_pair(3 * kMiB, 4 * kMiB - 1));
  EXPECT_EQ(CopyPartRanges(1, kMiB), (std::vector<std::pair<int64_t, int64_t>>{{0, 0}}));
  EXPECT_TRUE(CopyPartRanges(0, kMiB).empty());
}

// S3 takes at most 10 000 parts: a 5 TiB object (S3's largest) in 512 MiB parts would need
// 10 240, so the parts grow instead.
TEST(CopyPartRangesTest, AtMostTenThousandParts) {
  const int64_t size = int64_t{5} << 40;
  const std::vector<std::pair<int64_t, int64_t>> ranges = CopyPartRanges(size, 512 * kMiB);
  EXPECT_LE(ranges.size(), 10000u);
  EXPECT_GT(ranges.size(), 9000u);
  ExpectTiles(ranges, size);
  EXPECT_GE(ranges.front().second + 1, 512 * kMiB);
  // The 6 GiB shard of the issue: 12 parts of 512 MiB.
  EXPECT_EQ(CopyPartRanges(int64_t{6} << 30, 512 * kMiB).size(), 12u);
}

// Over the single-copy limit a copy is a multipart upload, not a refusal: against an endpoint
// where nothing listens, it fails on the first request (creating the upload), naming the
// bucket and the endpoint to check.
TEST(S3StoreTest, ALargeCopyTakesTheMultipartPath) {
  ASSERT_EQ(::setenv("AWS_ACCESS_KEY_ID", "id", 1), 0);
  ASSERT_EQ(::setenv("AWS_SECRET_ACCESS_KEY", "secret", 1), 0);
  ASSERT_EQ(::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1), 0);
  ::unsetenv("FRAMEPAIR_S3_PART_BYTES");
  ::unsetenv("FRAMEPAIR_S3_BACKOFF_MS");
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
}

}  // namespace
}  // namespace framepair
