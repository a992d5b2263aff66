// Publishing a job into a shared dataset directory: shards moved in, manifest last, and a
// second publication of the same job (a coordinator that crashed half-way) changes nothing.
#include "services/coordinator/publisher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_format.h"
#include "dataset/dataset.h"
#include "pipeline/parameters.h"
#include "util/file.h"
#include "util/sha256.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;

class PublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fp_publisher_" + std::to_string(getpid()));
    fs::remove_all(root_);
    absl::StatusOr<StorageRoot> storage = StorageRoot::Open(root_.string());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_.emplace(*storage);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A job of `shards` packed shards whose files sit in the packers' attempt directories.
  std::map<std::string, DoneTask> Results(const std::string& job, int shards, int hr_width = 640,
                                          const framepair::v1::RunParameters* params = nullptr) {
    framepair::v1::RunParameters defaults = Spec(shards).parameters();
    if (params == nullptr) params = &defaults;
    std::map<std::string, DoneTask> done;
    for (const char* task : {"ingest-lr", "ingest-hr", "align", "scene"}) done[task].attempt = 1;
    for (int k = 0; k < shards; ++k) done[absl::StrFormat("pack-%05d", k)].attempt = 1;
    auto r = [&](const std::string& task) -> framepair::v1::TaskResult& {
      return done[task].result;
    };
    for (const char* role : {"lr", "hr"}) {
      auto* source = r(std::string("ingest-") + role).mutable_ingest()->mutable_source();
      source->set_role(role);
      source->set_width(role == std::string("lr") ? hr_width / 4 : hr_width);
      source->set_height(role == std::string("lr") ? 96 : 384);
    }
    r("align").mutable_align()->set_pairs_aligned(100);
    r("scene").mutable_scene()->set_windows(shards * 3);
    for (int k = 0; k < PackTaskCount(*params); ++k) {
      done[absl::StrFormat("pack-%05d", k)].attempt = 1;
      const std::string name = JobPackFileName(job, k, *params);
      const std::string dir = absl::StrFormat("work/%s/pack-%05d.a1", job, k);
      fs::create_directories(root_ / dir);
      const std::string bytes = absl::StrFormat("shard %d of %s", k, job);
      EXPECT_TRUE(WriteFileAtomically((root_ / dir / name).string(), bytes).ok());
      auto* pack = r(absl::StrFormat("pack-%05d", k)).mutable_pack();
      pack->set_shard(dir + "/" + name);
      pack->mutable_entry()->set_file(name);
      pack->mutable_entry()->set_examples(3);
      pack->mutable_entry()->set_bytes(static_cast<int64_t>(bytes.size()));
      pack->mutable_entry()->set_sha256(Sha256Hex(bytes));
    }
    return done;
  }

  framepair::v1::JobSpec Spec(int shards, int64_t val_windows = 0,
                              const std::string& name_template = "") {
    RunOptions o;
    o.shards = shards;
    o.sample.val_windows = val_windows;
    o.name_template = name_template;
    framepair::v1::JobSpec spec;
    spec.set_dataset("games");
    *spec.mutable_parameters() = ParametersFor(o);
    return spec;
  }

  fs::path root_;
  std::optional<StorageRoot> storage_;
};

TEST_F(PublisherTest, MovesShardsAndListsEveryPairInOneManifest) {
  auto first = PublishJob(*storage_, "j000000000001", Spec(2), Results("j000000000001", 2));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->dataset_dir(), "datasets/games");
  EXPECT_EQ(first->examples(), 6);
  auto second = PublishJob(*storage_, "j000000000002", Spec(1), Results("j000000000002", 1));
  ASSERT_TRUE(second.ok()) << second.status();

  const fs::path dataset = root_ / "datasets" / "games";
  EXPECT_TRUE(fs::exists(dataset / "train_j000000000001_00001-of-00002.tfrecord"));
  EXPECT_TRUE(fs::exists(dataset / "train_j000000000002_00000-of-00001.tfrecord"));
  EXPECT_FALSE(fs::exists(root_ / "work/j000000000001/pack-00000.a1" /
                          "train_j000000000001_00000-of-00002.tfrecord"));
  absl::StatusOr<framepair::v1::Manifest> m = ReadManifest(dataset.string());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->shards_size(), 3);
  EXPECT_EQ(m->total_examples(), 9);
  ASSERT_EQ(m->pairs_size(), 2);
  EXPECT_EQ(m->pairs(0).job_id(), "j000000000001");
  EXPECT_EQ(m->pairs(1).shard_files_size(), 1);
  EXPECT_EQ(m->hr_width(), 640);
  EXPECT_EQ(m->lr_width(), 160);
}

TEST_F(PublisherTest, NamesFollowTheTemplate) {
  const framepair::v1::JobSpec spec = Spec(2, 0, "train-{job}-{shard}-of-{shards}");
  auto r = PublishJob(*storage_, "j000000000020", spec,
                      Results("j000000000020", 2, 640, &spec.parameters()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(fs::exists(root_ / "datasets/games/train-j000000000020-00001-of-00002.tfrecord"));
  EXPECT_EQ(JobShardFileName("j000000000020", 3, 16, true),
            "train_j000000000020_00003-of-00016.tfrecord.gz");
}

// validate.tfrecord holds every job's validation part, in publication order, and the manifest
// says which bytes are whose.
TEST_F(PublisherTest, ValidationPartsOfEveryJobAreConcatenated) {
  const framepair::v1::JobSpec spec = Spec(1, 5);
  auto part = [&](const std::string& job) {
    return *ReadFile(
        (root_ / absl::StrFormat("work/%s/pack-00001.a1/validate.tfrecord", job)).string());
  };
  auto first = Results("j000000000021", 1, 640, &spec.parameters());
  auto second = Results("j000000000022", 1, 640, &spec.parameters());
  const std::string expected = part("j000000000021") + part("j000000000022");
  ASSERT_TRUE(PublishJob(*storage_, "j000000000021", spec, first).ok());
  // A job without validation in between adds nothing to the file.
  ASSERT_TRUE(PublishJob(*storage_, "j000000000023", Spec(1), Results("j000000000023", 1)).ok());
  auto r = PublishJob(*storage_, "j000000000022", spec, second);
  ASSERT_TRUE(r.ok()) << r.status();
  const fs::path dataset = root_ / "datasets/games";
  EXPECT_EQ(*ReadFile((dataset / "validate.tfrecord").string()), expected);
  absl::StatusOr<framepair::v1::Manifest> m = ReadManifest(dataset.string());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->validation().file(), "validate.tfrecord");
  EXPECT_EQ(m->validation().examples(), 6);
  EXPECT_EQ(m->validation().bytes(), static_cast<int64_t>(expected.size()));
  EXPECT_EQ(m->validation().sha256(), Sha256Hex(expected));
  EXPECT_EQ(m->total_examples(), 9);  // training examples only
  ASSERT_EQ(m->pairs_size(), 3);
  EXPECT_EQ(m->pairs(0).validation().examples(), 3);
  EXPECT_FALSE(m->pairs(1).has_validation());
  EXPECT_EQ(m->pairs(2).validation().sha256(), Sha256Hex(part("j000000000022")));
  for (const auto& shard : m->shards()) EXPECT_NE(shard.file(), "validate.tfrecord");
}

// A coordinator that died after rewriting validate.tfrecord but before the manifest publishes
// again: the part is not appended twice.
TEST_F(PublisherTest, AnInterruptedValidationAppendIsNotRepeated) {
  const framepair::v1::JobSpec spec = Spec(1, 5);
  auto first = Results("j000000000031", 1, 640, &spec.parameters());
  auto second = Results("j000000000032", 1, 640, &spec.parameters());
  ASSERT_TRUE(PublishJob(*storage_, "j000000000031", spec, first).ok());
  const fs::path file = root_ / "datasets/games/validate.tfrecord";
  const std::string listed = *ReadFile(file.string());
  const std::string part =
      *ReadFile((root_ / "work/j000000000032/pack-00001.a1/validate.tfrecord").string());
  ASSERT_TRUE(WriteFileAtomically(file.string(), listed + part).ok());  // the crash
  ASSERT_TRUE(PublishJob(*storage_, "j000000000032", spec, second).ok());
  EXPECT_EQ(*ReadFile(file.string()), listed + part);
  // And one that does not begin with what the manifest lists is refused, not overwritten.
  auto third = Results("j000000000033", 1, 640, &spec.parameters());
  ASSERT_TRUE(WriteFileAtomically(file.string(), "tampered").ok());
  auto r = PublishJob(*storage_, "j000000000033", spec, third);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_EQ(*ReadFile(file.string()), "tampered");
}

TEST_F(PublisherTest, PublishingTheSameJobAgainChangesNothing) {
  auto results = Results("j000000000003", 2);
  ASSERT_TRUE(PublishJob(*storage_, "j000000000003", Spec(2), results).ok());
  const std::string manifest = *ReadFile((root_ / "datasets/games/manifest.json").string());
  // The shards were moved already: a resumed publication recognises them.
  auto again = PublishJob(*storage_, "j000000000003", Spec(2), results);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*ReadFile((root_ / "datasets/games/manifest.json").string()), manifest);
}

TEST_F(PublisherTest, ADatasetKeepsOneShape) {
  ASSERT_TRUE(PublishJob(*storage_, "j000000000004", Spec(1), Results("j000000000004", 1)).ok());
  auto other = PublishJob(*storage_, "j000000000005", Spec(1), Results("j000000000005", 1, 1280));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other.status().message()), ::testing::HasSubstr("another --dataset"));
  // Nothing of the refused job entered the dataset.
  EXPECT_FALSE(fs::exists(root_ / "datasets/games/train_j000000000005_00000-of-00001.tfrecord"));
}

TEST_F(PublisherTest, AMissingShardIsDataLoss) {
  auto results = Results("j000000000006", 1);
  fs::remove(root_ / results["pack-00000"].result.pack().shard());
  auto r = PublishJob(*storage_, "j000000000006", Spec(1), results);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(root_ / "datasets/games/manifest.json"));
}

// A dataset holding one good job, and a file uploaded by a user (what a fake packer would try to
// steal into the dataset).
class HostileResultTest : public PublisherTest {
 protected:
  void SetUp() override {
    PublisherTest::SetUp();
    ASSERT_TRUE(PublishJob(*storage_, "j000000000010", Spec(1), Results("j000000000010", 1)).ok());
    manifest_ = *ReadFile((root_ / "datasets/games/manifest.json").string());
    upload_ = root_ / "footage/sha256" / std::string(64, 'a');
    ASSERT_TRUE(WriteFileAtomically(upload_.string(), "uploaded footage").ok());
  }

  // Publishing is refused with INVALID_ARGUMENT, and nothing moved: the upload and every
  // attempt's file are where they were, and the dataset is as the good job left it.
  void ExpectRefused(const std::map<std::string, DoneTask>& results) {
    auto r = PublishJob(*storage_, "j000000000011", Spec(1), results);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("pack-00000"));
    EXPECT_LT(r.status().message().size(), 1000u);
    EXPECT_EQ(*ReadFile(upload_.string()), "uploaded footage");
    EXPECT_TRUE(fs::exists(root_ / "work/j000000000011/pack-00000.a1" /
                           "train_j000000000011_00000-of-00001.tfrecord"));
    EXPECT_EQ(*ReadFile((root_ / "datasets/games/manifest.json").string()), manifest_);
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(root_ / "datasets/games")) {
      files.push_back(e.path().filename().string());
    }
    EXPECT_THAT(files, ::testing::UnorderedElementsAre(
                           "manifest.json", "train_j000000000010_00000-of-00001.tfrecord"));
    EXPECT_FALSE(fs::exists(root_ / "outside"));
  }

  framepair::v1::PackResult& Pack(std::map<std::string, DoneTask>& results) {
    return *results["pack-00000"].result.mutable_pack();
  }

  std::string manifest_;
  fs::path upload_;
};

TEST_F(HostileResultTest, AShardOutsideTheAttemptsWorkDirIsRefused) {
  auto results = Results("j000000000011", 1);
  for (const std::string& shard :
       {std::string("footage/sha256/") + std::string(64, 'a'),
        std::string("work/j000000000011/pack-00000.a1/../../../footage/sha256/") +
            std::string(64, 'a'),
        std::string("work/j000000000011/pack-00000.a2/train_j000000000011_00000-of-00001.tfrecord"),
        std::string("work/j000000000011/ingest-hr.a1/train_j000000000011_00000-of-00001.tfrecord"),
        std::string("/etc/passwd"), std::string("../../../../outside/x.tfrecord")}) {
    Pack(results).set_shard(shard);
    ExpectRefused(results);
  }
}

TEST_F(HostileResultTest, ASymlinkInTheAttemptsWorkDirIsRefused) {
  auto results = Results("j000000000011", 1);
  const fs::path shard = root_ / Pack(results).shard();
  fs::remove(shard);
  fs::create_symlink(upload_, shard);
  ExpectRefused(results);
}

TEST_F(HostileResultTest, AnAttemptDirReplacedByASymlinkIsRefused) {
  auto results = Results("j000000000011", 1);
  const fs::path dir = root_ / "work/j000000000011/pack-00000.a1";
  const std::string name = "train_j000000000011_00000-of-00001.tfrecord";
  fs::rename(dir, root_ / "work/j000000000011/moved");
  ASSERT_TRUE(WriteFileAtomically((root_ / "footage/sha256" / name).string(), "x").ok());
  fs::create_symlink(root_ / "footage/sha256", dir);
  auto r = PublishJob(*storage_, "j000000000011", Spec(1), results);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_TRUE(fs::exists(root_ / "footage/sha256" / name));
  EXPECT_EQ(*ReadFile((root_ / "datasets/games/manifest.json").string()), manifest_);
}

TEST_F(HostileResultTest, AShardNameOtherThanTheAssignedOneIsRefused) {
  auto results = Results("j000000000011", 1);
  for (const std::string& name :
       {std::string("../../x.tfrecord"), std::string("../../../../outside/x.tfrecord"),
        std::string("train_j000000000010_00000-of-00001.tfrecord"), std::string("manifest.json"),
        std::string("train_j000000000011_00000-of-00001.tfrecord.gz"),
        // The name the coordinator assigned before name templates.
        std::string("train-j000000000011-00000-of-00001.tfrecord"),
        "../" + std::string(100000, 'x')}) {
    Pack(results).mutable_entry()->set_file(name);
    ExpectRefused(results);
  }
}

TEST_F(HostileResultTest, OtherResultsMayOnlyNameTheirOwnFilesToo) {
  auto results = Results("j000000000011", 1);
  results["align"].result.mutable_align()->set_pairs("footage/sha256/" + std::string(64, 'a'));
  auto r = PublishJob(*storage_, "j000000000011", Spec(1), results);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckTaskResult(*storage_, "j000000000011", "align", 1, Spec(1).parameters(),
                              results["align"].result)
                  .code() == absl::StatusCode::kInvalidArgument);
  results["align"].result.mutable_align()->set_pairs("work/j000000000011/align.a1/pairs");
  EXPECT_TRUE(CheckTaskResult(*storage_, "j000000000011", "align", 1, Spec(1).parameters(),
                              results["align"].result)
                  .ok());
}

}  // namespace
}  // namespace framepair
