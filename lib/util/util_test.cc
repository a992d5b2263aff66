#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "util/crc32c.h"
#include "util/file.h"
#include "util/image.h"
#include "util/sad.h"
#include "util/sha256.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A fresh, empty directory per test so reruns and parallel ctest runs do not interfere.
fs::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) /
                 (std::string("fp_util_") + info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

TEST(Crc32cTest, KnownAnswers) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  // RFC 3720 (iSCSI) B.4 vectors.
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, ExtendIsConcatenation) {
  const std::string a = "The quick brown fox ", b = "jumps over the lazy dog";
  EXPECT_EQ(Crc32cExtend(Crc32c(a), b.data(), b.size()), Crc32c(a + b));
}

TEST(Crc32cTest, MaskMatchesFormula) {
  // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8, computed by hand.
  EXPECT_EQ(MaskCrc32c(0xE3069283u), 0xc78ab0e5u);
  EXPECT_EQ(MaskCrc32c(0), 0xa282ead8u);
}

TEST(Crc32cTest, HardwareMatchesPortableAtEveryLengthAndAlignment) {
  if (!crc32c_internal::HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  EXPECT_TRUE(Crc32cUsesHardware());
  std::mt19937 rng(42);
  std::vector<uint8_t> buffer(300 + 8);
  for (auto& b : buffer) b = static_cast<uint8_t>(rng());
  for (size_t start = 0; start < 8; ++start) {
    for (size_t n = 0; n <= 300; ++n) {
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(crc32c_internal::ExtendHardware(seed, buffer.data() + start, n),
                crc32c_internal::ExtendPortable(seed, buffer.data() + start, n))
          << "start " << start << " length " << n;
    }
  }
}

// Long inputs take the three-lane path (3 x 2048-byte blocks joined by shift tables).
TEST(Crc32cTest, HardwareMatchesPortableOnLongInputs) {
  if (!crc32c_internal::HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 rng(7);
  std::vector<uint8_t> buffer(100000 + 8);
  for (auto& b : buffer) b = static_cast<uint8_t>(rng());
  for (size_t n : {6143u, 6144u, 6145u, 6151u, 12288u, 12301u, 99999u, 100000u}) {
    for (size_t start : {0u, 3u}) {
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(crc32c_internal::ExtendHardware(seed, buffer.data() + start, n),
                crc32c_internal::ExtendPortable(seed, buffer.data() + start, n))
          << "start " << start << " length " << n;
    }
  }
}

TEST(SumAbsDiffTest, MatchesTheDefinitionAtEveryLengthAndAlignment) {
  std::mt19937 rng(3);
  std::vector<uint8_t> a(300), b(300);
  for (auto& v : a) v = static_cast<uint8_t>(rng());
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 3; ++offset) {
    for (size_t n = 0; n + offset <= a.size(); n += 7) {
      uint64_t want = 0;
      for (size_t k = 0; k < n; ++k)
        want += static_cast<uint64_t>(std::abs(a[offset + k] - b[offset + k]));
      EXPECT_EQ(SumAbsDiff(a.data() + offset, b.data() + offset, n), want) << n << " at " << offset;
    }
  }
  const std::vector<uint8_t> zeros(1000, 0), full(1000, 255);
  EXPECT_EQ(SumAbsDiff(zeros.data(), full.data(), full.size()), 255000u);
}

TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  Sha256 hasher;
  hasher.Update("ab");
  hasher.Update("c");
  EXPECT_EQ(hasher.HexDigest(), Sha256Hex("abc"));
}

TEST(Sha256Test, HashesFilesAndNamesMissingOnes) {
  const fs::path dir = TestDir();
  const std::string path = dir / "f";
  std::string big(3 << 20, 'x');  // larger than one read buffer
  ASSERT_TRUE(WriteFileAtomically(path, big).ok());
  auto digest = Sha256File(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Hex(big));

  auto missing = Sha256File(dir / "nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope"));
}

TEST(AtomicFileTest, CommitPublishesContentsAndLeavesNoTemp) {
  const fs::path dir = TestDir();
  const std::string path = dir / "out.bin";
  auto file = AtomicFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Append("hello ").ok());
  ASSERT_TRUE(file->Append("world").ok());
  EXPECT_EQ(file->bytes_written(), 11u);
  EXPECT_FALSE(fs::exists(path)) << "visible before Commit()";
  // The temporary file is hidden: a glob for the final names (manifest.json, train-*) cannot
  // see a half-written file.
  for (const std::string& name : ListDir(dir))
    EXPECT_TRUE(name.starts_with(".out.bin.tmp-")) << name;
  ASSERT_TRUE(file->Commit().ok());
  EXPECT_THAT(ListDir(dir), ::testing::ElementsAre("out.bin"));
  auto contents = ReadFile(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(*contents, "hello world");
  EXPECT_FALSE(file->Append("more").ok());
}

TEST(AtomicFileTest, DestructionWithoutCommitRemovesTemp) {
  const fs::path dir = TestDir();
  {
    auto file = AtomicFile::Create(dir / "out.bin");
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(file->Append("partial").ok());
    EXPECT_TRUE(fs::exists(file->temp_path()));
  }
  EXPECT_TRUE(ListDir(dir).empty());
}

// A resumable download: an interrupted one keeps its bytes under a fixed hidden name and the
// next one continues after them; Discard() throws them away.
TEST(AtomicFileTest, ResumeContinuesAnInterruptedFile) {
  const fs::path dir = TestDir();
  const std::string path = dir / "shard.tfrecord";
  {
    auto first = AtomicFile::Resume(path);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->bytes_written(), 0u);
    ASSERT_TRUE(first->Append("hello ").ok());
  }  // interrupted: no Commit()
  EXPECT_THAT(ListDir(dir), ::testing::ElementsAre(".shard.tfrecord.partial"));
  auto second = AtomicFile::Resume(path);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->bytes_written(), 6u);
  ASSERT_TRUE(second->Append("world").ok());
  ASSERT_TRUE(second->Commit().ok());
  EXPECT_EQ(*ReadFile(path), "hello world");
  EXPECT_THAT(ListDir(dir), ::testing::ElementsAre("shard.tfrecord"));
  auto third = AtomicFile::Resume(dir / "other");
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(third->Append("wrong bytes").ok());
  third->Discard();
  EXPECT_THAT(ListDir(dir), ::testing::ElementsAre("shard.tfrecord"));
}

TEST(AtomicFileTest, MoveTransfersOwnership) {
  const fs::path dir = TestDir();
  auto created = AtomicFile::Create(dir / "a");
  ASSERT_TRUE(created.ok());
  AtomicFile moved = std::move(*created);
  ASSERT_TRUE(moved.Append("x").ok());
  { AtomicFile sink = std::move(*created); }  // the moved-from shell must not remove anything
  ASSERT_TRUE(moved.Commit().ok());
  EXPECT_THAT(ListDir(dir), ::testing::ElementsAre("a"));
}

TEST(AtomicFileTest, ReplacesExistingFile) {
  const fs::path dir = TestDir();
  const std::string path = dir / "m.json";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  EXPECT_EQ(*ReadFile(path), "new");
}

TEST(FileTest, MissingDirectoryFailsWithPath) {
  const fs::path dir = TestDir();
  const std::string path = dir / "no" / "such" / "file";
  auto file = AtomicFile::Create(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(path));
  auto read = ReadFile(path);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr(path));
}

TEST(FileTest, EnsureWritableDirectoryCreatesParents) {
  const fs::path dir = TestDir() / "a" / "b";
  ASSERT_TRUE(EnsureWritableDirectory(dir).ok());
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(ListDir(dir).empty()) << "probe file left behind";
}

TEST(FileTest, EnsureWritableDirectoryExplainsFailure) {
  // Tests run as root, which ignores permission bits: a path under a regular file is
  // unwritable for everyone.
  const fs::path blocker = TestDir() / "file";
  ASSERT_TRUE(WriteFileAtomically(blocker, "").ok());
  const std::string dir = blocker / "sub";
  const absl::Status status = EnsureWritableDirectory(dir);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(dir));
  EXPECT_THAT(status.message(), HasSubstr("Not a directory"));
  EXPECT_THAT(status.message(), HasSubstr("choose another --out"));
  EXPECT_FALSE(EnsureWritableDirectory(blocker).ok());
}

TEST(ImageTest, DownscaleNearestTakesTopLeftOfEachBlock) {
  RgbImage in{.width = 4, .height = 2, .pixels = std::vector<uint8_t>(4 * 2 * 3)};
  for (size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = static_cast<uint8_t>(i);
  const RgbImage out = DownscaleNearest(in, 2);
  EXPECT_EQ(out.width, 2);
  EXPECT_EQ(out.height, 1);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{0, 1, 2, 6, 7, 8}));
}

}  // namespace
}  // namespace framepair
