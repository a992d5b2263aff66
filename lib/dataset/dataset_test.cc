#include "dataset/dataset.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dataset/publish.h"
#include "dataset/shard_writer.h"
#include "tfrecord/tfrecord.h"
#include "util/file.h"
#include "util/sha256.h"

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

// JoshUpscale's configuration globs train_*.tfrecord and reads validate.tfrecord.
TEST(DatasetTest, DefaultNamesMatchJoshUpscalesGlobs) {
  EXPECT_EQ(ShardFileNameFrom("", "", 0, 16, false), "train_00000-of-00016.tfrecord");
  EXPECT_EQ(ShardFileNameFrom("", "j000000000007", 3, 4, true),
            "train_j000000000007_00003-of-00004.tfrecord.gz");
  EXPECT_EQ(ShardFileNameFrom("train-{shard}-of-{shards}", "", 2, 3, false),
            "train-00002-of-00003.tfrecord");
  EXPECT_EQ(ValidationFileName(false), "validate.tfrecord");
  EXPECT_EQ(ValidationFileName(true), "validate.tfrecord.gz");
}

TEST(DatasetTest, NameTemplatesMustGiveDistinctPlainShardNames) {
  for (const char* t : {"", "train_{shard}", "train-{shard}-of-{shards}", "train_game.{shard}"}) {
    EXPECT_TRUE(CheckNameTemplate(t, false).ok()) << t;
  }
  EXPECT_TRUE(CheckNameTemplate("train_{job}_{shard}", true).ok());
  for (const char* t : {"train", "train_{shard", "train_{shard}}", "train_{index}",
                        "../train_{shard}", "train_{shard}/x", "shard_{shard}", "validate{shard}",
                        "train_{shard} x", "train_{job}_{shard}"}) {
    absl::Status s = CheckNameTemplate(t, false);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << t;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("--name-template")) << t;
  }
  // A dataset of many jobs needs {job}, or the jobs' shards would overwrite each other.
  EXPECT_EQ(CheckNameTemplate("train_{shard}", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckNameTemplate(std::string(200, 'a'), false).code(),
            absl::StatusCode::kInvalidArgument);
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

std::vector<std::string> ReadRecords(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<TfRecordReader> reader = TfRecordReader::FromBytes(*bytes);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> records;
  for (;;) {
    absl::StatusOr<std::string_view> r = reader->Next();
    if (!r.ok()) {
      EXPECT_TRUE(absl::IsOutOfRange(r.status())) << r.status();
      break;
    }
    records.emplace_back(*r);
  }
  return records;
}

TEST(ShardWriterTest, StreamsRecordsAndReportsTheFileItWrote) {
  for (bool gzip : {false, true}) {
    fs::path dir = TestDir();
    const std::string name = ShardFileName("train", 0, 1, gzip);
    absl::StatusOr<ShardWriter> writer = ShardWriter::Create(dir, name, gzip);
    ASSERT_TRUE(writer.ok()) << writer.status();
    std::vector<std::string> written;
    for (int i = 0; i < 50; ++i) {
      written.push_back(std::string(1000 + i * 37, static_cast<char>('a' + i % 26)));
      ASSERT_TRUE(writer->Write(written.back()).ok());
    }
    // Nothing is visible under the final name before Commit.
    EXPECT_FALSE(fs::exists(dir / name));
    absl::StatusOr<framepair::v1::ShardEntry> entry = writer->Commit(50);
    ASSERT_TRUE(entry.ok()) << entry.status();
    EXPECT_EQ(entry->file(), name);
    EXPECT_EQ(entry->examples(), 50);
    EXPECT_EQ(entry->bytes(), static_cast<int64_t>(fs::file_size(dir / name)));
    EXPECT_EQ(entry->sha256(), *Sha256File((dir / name).string()));
    EXPECT_EQ(ReadRecords((dir / name).string()), written);
    EXPECT_THAT(ListDir(dir), ElementsAre(name));
  }
}

TEST(ShardWriterTest, AbandonedWriterLeavesNothing) {
  fs::path dir = TestDir();
  {
    absl::StatusOr<ShardWriter> writer =
        ShardWriter::Create(dir, "train-00000-of-00001.tfrecord", false);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Write("partial").ok());
  }
  EXPECT_TRUE(ListDir(dir).empty());
}

// Writes one shard holding `record` into a fresh staging dir of `out` and publishes it.
void PublishOne(const fs::path& out, const std::string& name, const std::string& record) {
  absl::StatusOr<std::string> staging = CreateStagingDir(out);
  ASSERT_TRUE(staging.ok()) << staging.status();
  absl::StatusOr<ShardWriter> writer = ShardWriter::Create(*staging, name, false);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->Write(record).ok());
  framepair::v1::Manifest m;
  *m.add_shards() = *writer->Commit(1);
  m.set_total_examples(1);
  ASSERT_TRUE(PublishDataset(*staging, out, m).ok());
}

TEST(PublishTest, ReplacesThePreviousDatasetAndCleansUp) {
  fs::path out = TestDir();
  PublishOne(out, "train-00000-of-00002.tfrecord", "old");
  PublishOne(out, "train-00000-of-00001.tfrecord", "new");
  // The old shard is gone, the staging directory too; only the new dataset remains.
  EXPECT_THAT(ListDir(out), UnorderedElementsAre("manifest.json", "train-00000-of-00001.tfrecord"));
  EXPECT_THAT(ReadRecords((out / "train-00000-of-00001.tfrecord").string()), ElementsAre("new"));
  absl::StatusOr<framepair::v1::Manifest> m = ReadManifest(out);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->shards(0).file(), "train-00000-of-00001.tfrecord");
}

TEST(ManifestNamesTest, TheValidationFileIsNoTrainingShard) {
  framepair::v1::Manifest m;
  m.add_shards()->set_file("validate.tfrecord");
  EXPECT_EQ(CheckManifestFileNames(m, "m.json").code(), absl::StatusCode::kInvalidArgument);
  m.mutable_shards(0)->set_file("train_00000-of-00001.tfrecord");
  m.mutable_validation()->set_file("train_00000-of-00001.tfrecord");
  EXPECT_EQ(CheckManifestFileNames(m, "m.json").code(), absl::StatusCode::kInvalidArgument);
  m.mutable_validation()->set_file("../validate.tfrecord");
  EXPECT_EQ(CheckManifestFileNames(m, "m.json").code(), absl::StatusCode::kInvalidArgument);
  m.mutable_validation()->set_file("validate.tfrecord");
  EXPECT_TRUE(CheckManifestFileNames(m, "m.json").ok());
}

TEST(PublishTest, TheValidationFileIsPublishedAndReplacedWithTheShards) {
  fs::path out = TestDir();
  auto publish = [&](bool with_validation, const std::string& record) {
    absl::StatusOr<std::string> staging = CreateStagingDir(out);
    ASSERT_TRUE(staging.ok());
    framepair::v1::Manifest m;
    for (const std::string& name : {std::string("train_00000-of-00001.tfrecord"),
                                    std::string(with_validation ? "validate.tfrecord" : "")}) {
      if (name.empty()) continue;
      absl::StatusOr<ShardWriter> writer = ShardWriter::Create(*staging, name, false);
      ASSERT_TRUE(writer.ok());
      ASSERT_TRUE(writer->Write(record).ok());
      absl::StatusOr<framepair::v1::ShardEntry> entry = writer->Commit(1);
      ASSERT_TRUE(entry.ok());
      *(name == "validate.tfrecord" ? m.mutable_validation() : m.add_shards()) = *entry;
    }
    m.set_total_examples(1);
    ASSERT_TRUE(PublishDataset(*staging, out, m).ok());
  };
  publish(true, "first");
  EXPECT_THAT(ListDir(out), UnorderedElementsAre("manifest.json", "train_00000-of-00001.tfrecord",
                                                 "validate.tfrecord"));
  EXPECT_THAT(ReadRecords((out / "validate.tfrecord").string()), ElementsAre("first"));
  EXPECT_EQ(ReadManifest(out)->validation().file(), "validate.tfrecord");
  // A run without a split leaves no stale validation file behind.
  publish(false, "second");
  EXPECT_THAT(ListDir(out), UnorderedElementsAre("manifest.json", "train_00000-of-00001.tfrecord"));
}

TEST(PublishTest, StagingDirsOfDeadProcessesAreRemoved) {
  fs::path out = TestDir();
  // pid 999999999 cannot exist (pid_max is at most 2^22).
  fs::create_directories(out / ".framepair-staging-999999999-0");
  std::ofstream(out / ".framepair-staging-999999999-0" / "x.tfrecord") << "partial";
  absl::StatusOr<std::string> staging = CreateStagingDir(out);
  ASSERT_TRUE(staging.ok());
  EXPECT_FALSE(fs::exists(out / ".framepair-staging-999999999-0"));
  EXPECT_TRUE(fs::exists(*staging));
  RemoveStagingDir(*staging);
  EXPECT_TRUE(ListDir(out).empty());
}

TEST(ManifestNamesTest, OnlyPlainShardNamesAreShardFileNames) {
  for (const char* name :
       {"train-00000-of-00001.tfrecord", "train-00003-of-00016.tfrecord.gz",
        "train-j000000000001-00000-of-00002.tfrecord", "train_00000-of-00001.tfrecord",
        "train_x.tfrecord.gz", "validate.tfrecord", "validate.tfrecord.gz"}) {
    EXPECT_TRUE(IsShardFileName(name)) << name;
  }
  for (const char* name : {"validate_x.tfrecord", "validate-0.tfrecord", "xvalidate.tfrecord",
                           "validate.tfrecord.tmp-1-2", "../validate.tfrecord"}) {
    EXPECT_FALSE(IsShardFileName(name)) << name;
  }
  for (const char* name :
       {"", ".", "..", "../victim.txt", "../train-0.tfrecord", "/etc/passwd",
        "/tmp/train-0.tfrecord", "a/b.tfrecord", "train-0/../../x.tfrecord", "train-0.tfrecord/",
        "manifest.json", "victim.txt", "train-0.txt", "train-0.tfrecord.tmp-1-2", "train.tfrecord",
        "xtrain-0.tfrecord", "train-0 .tfrecord", "train-\n.tfrecord"}) {
    EXPECT_FALSE(IsShardFileName(name)) << name;
  }
  EXPECT_FALSE(IsShardFileName(std::string("train-\0.tfrecord", 16)));
  EXPECT_FALSE(IsShardFileName("train-" + std::string(300, 'a') + ".tfrecord"));
}

// A manifest.json in `dir` whose only shard (or a pair's shard file) is `name`.
void WriteManifestNaming(const fs::path& dir, const std::string& name, bool in_pair = false) {
  framepair::v1::Manifest m = SampleManifest();
  if (in_pair) {
    m.add_pairs()->add_shard_files(name);
  } else {
    m.mutable_shards(0)->set_file(name);
  }
  // Written by hand: WriteManifest is for manifests framepair makes.
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(m, &json, options).ok());
  ASSERT_TRUE(WriteFileAtomically((dir / "manifest.json").string(), json).ok());
}

const char* const kHostileNames[] = {"../victim.txt", "/tmp/fp_dataset_victim_absolute.txt",
                                     "a/b.tfrecord", ".."};

TEST(ManifestNamesTest, ReadManifestRefusesNamesOutsideTheDirectory) {
  const fs::path dir = TestDir();
  for (const char* name : kHostileNames) {
    for (bool in_pair : {false, true}) {
      WriteManifestNaming(dir, name, in_pair);
      absl::StatusOr<framepair::v1::Manifest> m = ReadManifest(dir.string());
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_THAT(m.status().message(), HasSubstr((dir / "manifest.json").string()));
    }
  }
  // The message quotes a hostile name only up to a bound.
  WriteManifestNaming(dir, "../" + std::string(100000, 'x'));
  EXPECT_LT(ReadManifest(dir.string()).status().message().size(), 1000u);
}

TEST(ManifestNamesTest, PublishingOverAHostileManifestDeletesNothing) {
  const fs::path root = TestDir();
  const fs::path out = root / "out";
  fs::create_directories(out);
  for (const char* name : kHostileNames) {
    std::ofstream(root / "victim.txt") << "keep me";
    std::ofstream("/tmp/fp_dataset_victim_absolute.txt") << "keep me";
    fs::create_directories(out / "a");
    std::ofstream(out / "a" / "b.tfrecord") << "keep me";
    WriteManifestNaming(out, name);
    const std::string manifest = *ReadFile((out / "manifest.json").string());

    // Refused up front, before a run does its work...
    absl::StatusOr<std::string> staging = CreateStagingDir(out.string());
    EXPECT_EQ(staging.status().code(), absl::StatusCode::kInvalidArgument) << name;
    // ... and again when publishing, should the manifest appear during the run.
    const std::string staging_dir = (out / ".framepair-staging-manual").string();
    fs::create_directories(staging_dir);
    std::ofstream(fs::path(staging_dir) / "train-00000-of-00001.tfrecord") << "new";
    framepair::v1::Manifest m;
    m.add_shards()->set_file("train-00000-of-00001.tfrecord");
    const absl::Status published = PublishDataset(staging_dir, out.string(), m);
    EXPECT_EQ(published.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(published.message(), HasSubstr("manifest.json"));

    EXPECT_EQ(*ReadFile((root / "victim.txt").string()), "keep me") << name;
    EXPECT_EQ(*ReadFile("/tmp/fp_dataset_victim_absolute.txt"), "keep me") << name;
    EXPECT_EQ(*ReadFile((out / "a" / "b.tfrecord").string()), "keep me") << name;
    EXPECT_EQ(*ReadFile((out / "manifest.json").string()), manifest) << name;
    RemoveStagingDir(staging_dir);
  }
  fs::remove("/tmp/fp_dataset_victim_absolute.txt");
}

// A part of a validation file: its bytes, and the entry a pair lists for it.
framepair::v1::ShardEntry PartEntry(const std::string& bytes, int examples) {
  framepair::v1::ShardEntry e;
  e.set_file("validate.tfrecord");
  e.set_examples(examples);
  e.set_bytes(static_cast<int64_t>(bytes.size()));
  Sha256 h;
  h.Update(bytes);
  e.set_sha256(h.HexDigest());
  return e;
}

// --replace in one step: the replaced pair's part goes and the new pair's is added in one
// atomic rewrite; run again (a publication interrupted before its manifest), the file is
// accepted as it is; a file that holds neither layout is refused.
TEST(ValidationFileTest, ReplacesAPartAndIsIdempotent) {
  const fs::path dir = TestDir();
  const std::string a = "part of job a", b = "job b's part", c = "the replacing job's part";
  ASSERT_TRUE(WriteFileAtomically((dir / "validate.tfrecord").string(), a + b).ok());
  ASSERT_TRUE(WriteFileAtomically((dir / "c.part").string(), c).ok());
  const framepair::v1::ShardEntry current = PartEntry(a + b, 5);
  const std::vector<framepair::v1::ShardEntry> parts = {PartEntry(a, 2), PartEntry(b, 3)};
  const std::vector<bool> keep = {false, true};
  for (int run = 0; run < 2; ++run) {
    absl::StatusOr<framepair::v1::ShardEntry> next = RewriteValidationFile(
        dir.string(), current, parts, keep, (dir / "c.part").string(), PartEntry(c, 4));
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*ReadFile((dir / "validate.tfrecord").string()), b + c) << "run " << run;
    EXPECT_EQ(next->sha256(), PartEntry(b + c, 0).sha256());
    EXPECT_EQ(next->examples(), 7);
    EXPECT_EQ(next->bytes(), static_cast<int64_t>((b + c).size()));
  }
  // Every part removed: the file stays for the caller to remove after the manifest.
  absl::StatusOr<framepair::v1::ShardEntry> none =
      RewriteValidationFile(dir.string(), PartEntry(b + c, 7), {PartEntry(b, 3), PartEntry(c, 4)},
                            {false, false}, "", {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->file().empty());
  EXPECT_TRUE(fs::exists(dir / "validate.tfrecord"));
  ASSERT_TRUE(WriteFileAtomically((dir / "validate.tfrecord").string(), "x" + b + c).ok());
  EXPECT_EQ(RewriteValidationFile(dir.string(), current, parts, keep, (dir / "c.part").string(),
                                  PartEntry(c, 4))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(ManifestNamesTest, PublishRefusesANewManifestWithHostileNames) {
  const fs::path out = TestDir();
  absl::StatusOr<std::string> staging = CreateStagingDir(out.string());
  ASSERT_TRUE(staging.ok());
  framepair::v1::Manifest m;
  m.add_shards()->set_file("../victim.txt");
  EXPECT_EQ(PublishDataset(*staging, out.string(), m).code(), absl::StatusCode::kInvalidArgument);
  RemoveStagingDir(*staging);
}

}  // namespace
}  // namespace framepair
