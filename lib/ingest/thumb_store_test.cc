#include "ingest/thumb_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace framepair {
namespace {

namespace fs = std::filesystem;

class ThumbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/thumb_store_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
};

std::vector<uint8_t> Record(size_t bytes, int seed) {
  std::vector<uint8_t> r(bytes);
  for (size_t i = 0; i < bytes; ++i) r[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return r;
}

// Resident set size of this process in bytes (/proc/self/statm, second field).
size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

TEST_F(ThumbStoreTest, AppendedThumbnailsReadBackAndLeaveNoFile) {
  const size_t bytes = 6912;  // 64x36 RGB
  auto store = ThumbStore::Create(bytes, dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  // More than one write batch, and a size that is not a multiple of the page.
  for (int k = 0; k < 400; ++k) ASSERT_TRUE(store->Append(Record(bytes, k).data()).ok());
  ASSERT_TRUE(store->Finish().ok());
  EXPECT_FALSE(store->Append(Record(bytes, 0).data()).ok());
  ASSERT_EQ(store->size(), 400u);
  for (int k = 0; k < 400; ++k) {
    ASSERT_EQ(std::vector<uint8_t>(store->record(k), store->record(k) + bytes), Record(bytes, k));
  }
  EXPECT_TRUE(fs::is_empty(dir_)) << "the thumbnail file must have no name";

  std::vector<uint8_t> copied(2 * bytes);
  store->Copy(150, 2, copied.data());
  EXPECT_EQ(std::vector<uint8_t>(copied.begin() + bytes, copied.end()), Record(bytes, 151));

  ThumbStore moved = *std::move(store);
  moved.ReleaseResident();
  EXPECT_EQ(std::vector<uint8_t>(moved.record(399), moved.record(399) + bytes), Record(bytes, 399));
}

TEST_F(ThumbStoreTest, EmptyStoreHasNoData) {
  auto store = ThumbStore::Create(12, dir_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(store->Finish().ok());
  EXPECT_EQ(store->size(), 0u);
  EXPECT_EQ(store->data(), nullptr);
  store->ReleaseResident();  // no mapping: nothing to do, no crash
}

TEST_F(ThumbStoreTest, MissingDirectoryIsNamed) {
  auto store = ThumbStore::Create(12, dir_ + "/missing");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(dir_ + "/missing"), std::string::npos) << store.status();
}

TEST_F(ThumbStoreTest, MapsARangeOfAFileAtAnyOffset) {
  const std::string path = dir_ + "/artifact";
  const size_t bytes = 100;
  std::string contents(4099, 'h');  // a header that ends mid-page
  for (int k = 0; k < 50; ++k) {
    const std::vector<uint8_t> r = Record(bytes, k);
    contents.append(r.begin(), r.end());
  }
  std::ofstream(path, std::ios::binary) << contents;

  auto store = ThumbStore::Map(path, 4099, 50, bytes);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int k = 0; k < 50; ++k) {
    ASSERT_EQ(std::vector<uint8_t>(store->record(k), store->record(k) + bytes), Record(bytes, k));
  }

  std::vector<uint8_t> copied(3 * bytes);
  store->Copy(47, 3, copied.data());
  EXPECT_EQ(std::vector<uint8_t>(copied.begin() + 2 * bytes, copied.end()), Record(bytes, 49));
  EXPECT_EQ(std::vector<uint8_t>(copied.begin(), copied.begin() + bytes), Record(bytes, 47));

  auto truncated = ThumbStore::Map(path, 4099, 51, bytes);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find(path), std::string::npos);
  EXPECT_FALSE(ThumbStore::Map(dir_ + "/none", 0, 1, bytes).ok());
}

// What the store is for: read through, it stops counting against the process once released.
TEST_F(ThumbStoreTest, ReleaseResidentGivesThePagesBack) {
  const size_t bytes = 1 << 20;
  const int count = 64;
  auto store = ThumbStore::Create(bytes, dir_);
  ASSERT_TRUE(store.ok());
  for (int k = 0; k < count; ++k) ASSERT_TRUE(store->Append(Record(bytes, k).data()).ok());
  ASSERT_TRUE(store->Finish().ok());

  const size_t before = ResidentBytes();
  uint64_t sum = 0;
  for (size_t i = 0; i < store->bytes(); i += 4096) sum += store->data()[i];
  const size_t touched = ResidentBytes();
  store->ReleaseResident();
  const size_t released = ResidentBytes();
  EXPECT_GT(touched, before + 48 * bytes) << "reading 64 MiB made it resident";
  EXPECT_LT(released, touched - 48 * bytes) << "released pages still counted";

  uint64_t again = 0;
  for (size_t i = 0; i < store->bytes(); i += 4096) again += store->data()[i];
  EXPECT_EQ(again, sum);
}

}  // namespace
}  // namespace framepair
