#include "dataset/dataset.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "util/file.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

fs::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) /
                 (std::string("fp_dataset_") + info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

framepair::v1::Manifest SampleManifest() {
  framepair::v1::Manifest m;
  m.set_version("0.1.0");
  m.set_split("train");
  auto* shard = m.add_shards();
  shard->set_file("train-00000-of-00001.tfrecord");
  shard->set_examples(3);
  shard->set_bytes(1234);
  shard->set_sha256(std::string(64, 'a'));
  m.set_total_examples(3);
  auto* source = m.add_sources();
  source->set_role("lr");
  source->set_path("/footage/lr.mkv");
  source->set_width(480);
  source->set_height(270);
  source->add_damaged_ranges("17:2");
  m.mutable_parameters()->set_scale(4);
  m.mutable_parameters()->set_seed(18446744073709551615ull);  // uint64 max survives JSON
  m.mutable_parameters()->set_density(0.25);
  m.mutable_stats()->set_pngs_encoded(40);
  m.add_features("input");
  m.add_features("target");
  m.set_lr_width(480);
  return m;
}

TEST(DatasetTest, ShardFileNames) {
  EXPECT_EQ(ShardFileName("train", 0, 16, false), "train-00000-of-00016.tfrecord");
  EXPECT_EQ(ShardFileName("train", 15, 16, true), "train-00015-of-00016.tfrecord.gz");
  EXPECT_EQ(ShardFileName("val", 3, 100000, false), "val-00003-of-100000.tfrecord");
}

TEST(DatasetTest, WriteShardPublishesFileAndEntry) {
  const fs::path dir = TestDir();
  auto entry = WriteShard(dir, "train-00000-of-00001.tfrecord", "abc", 7);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->file(), "train-00000-of-00001.tfrecord");
  EXPECT_EQ(entry->examples(), 7);
  EXPECT_EQ(entry->bytes(), 3);
  EXPECT_EQ(entry->sha256(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THAT(ListDir(dir), ElementsAre("train-00000-of-00001.tfrecord"));
  EXPECT_EQ(*ReadFile(dir / "train-00000-of-00001.tfrecord"), "abc");
}

TEST(DatasetTest, UncommittedFileLeavesNothing) {
  const fs::path dir = TestDir();
  {
    auto file = AtomicFile::Create(dir / ShardFileName("train", 0, 1, false));
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(file->Append(std::string(1 << 20, 'x')).ok());
    // e.g. the packer was cancelled here
  }
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST(DatasetTest, UnwritableDirectoryIsNamedInTheError) {
  // Tests run as root, which ignores permission bits; nothing can create a directory under a
  // regular file.
  const fs::path blocker = TestDir() / "file";
  ASSERT_TRUE(WriteFileAtomically(blocker, "").ok());
  const std::string dir = blocker / "sub";

  auto shard = WriteShard(dir, "train-00000-of-00001.tfrecord", "abc", 1);
  ASSERT_FALSE(shard.ok());
  EXPECT_THAT(shard.status().message(), HasSubstr(dir));

  const absl::Status manifest = WriteManifest(dir, SampleManifest());
  ASSERT_FALSE(manifest.ok());
  EXPECT_THAT(manifest.message(), HasSubstr(dir));

  const absl::Status ensure = EnsureWritableDirectory(dir);
  ASSERT_FALSE(ensure.ok());
  EXPECT_THAT(ensure.message(), HasSubstr(dir));
  EXPECT_THAT(ensure.message(), HasSubstr("choose another --out"));
}

TEST(DatasetTest, ManifestRoundTrips) {
  const fs::path dir = TestDir();
  const framepair::v1::Manifest manifest = SampleManifest();
  ASSERT_TRUE(WriteManifest(dir, manifest).ok());
  EXPECT_THAT(ListDir(dir), ElementsAre("manifest.json"));
  auto read = ReadManifest(dir);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read, manifest))
      << read->DebugString();
}

TEST(DatasetTest, ManifestJsonIsStableAndComplete) {
  const fs::path dir = TestDir();
  ASSERT_TRUE(WriteManifest(dir, SampleManifest()).ok());
  const std::string first = *ReadFile(dir / "manifest.json");
  ASSERT_TRUE(WriteManifest(dir, SampleManifest()).ok());
  EXPECT_EQ(*ReadFile(dir / "manifest.json"), first);
  EXPECT_THAT(ListDir(dir), ElementsAre("manifest.json"));  // no temp files left over

  EXPECT_THAT(first, HasSubstr("\"total_examples\": \"3\""));  // proto names, not camelCase
  EXPECT_THAT(first, HasSubstr("\"hr_only\": false"));         // defaults are printed
  EXPECT_THAT(first, HasSubstr("\"png_level\": 0"));
  EXPECT_THAT(first, HasSubstr("\n \"split\": \"train\",\n"));  // one field per line
  EXPECT_EQ(first.back(), '\n');
  EXPECT_LT(first.find("\"version\""), first.find("\"shards\""));  // field-number order
}

TEST(DatasetTest, ReadManifestErrors) {
  const fs::path dir = TestDir();
  auto missing = ReadManifest(dir);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr((dir / "manifest.json").string()));

  ASSERT_TRUE(WriteFileAtomically(dir / "manifest.json", "{\"split\": ").ok());
  EXPECT_EQ(ReadManifest(dir).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(
      WriteFileAtomically(dir / "manifest.json", R"({"split": "train", "from_the_future": 1})")
          .ok());
  auto tolerant = ReadManifest(dir);
  ASSERT_TRUE(tolerant.ok()) << tolerant.status();
  EXPECT_EQ(tolerant->split(), "train");
}

TEST(DatasetTest, DirectoryWithTrailingSlash) {
  const fs::path dir = TestDir();
  auto entry = WriteShard(dir.string() + "/", "s.tfrecord", "x", 1);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_THAT(ListDir(dir), UnorderedElementsAre("s.tfrecord"));
}

}  // namespace
}  // namespace framepair
