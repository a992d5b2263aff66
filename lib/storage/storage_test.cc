#include "storage/storage.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "util/file.h"
#include "util/sha256.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr int64_t kMaxBytes = 1 << 20;

// A fresh, empty directory per test: <tmp>/fp_storage_<suite>_<test>/{root,outside}.
fs::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) /
                 (std::string("fp_storage_") + info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return fs::canonical(dir);
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

void WriteFile(const fs::path& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir();
    outside_ = dir_ / "outside";
    fs::create_directories(outside_);
    WriteFile(outside_ / "passwd", "secret");
    absl::StatusOr<StorageRoot> root = StorageRoot::Open((dir_ / "root").string());
    ASSERT_TRUE(root.ok()) << root.status();
    storage_.emplace(*std::move(root));
  }

  const StorageRoot& storage() const { return *storage_; }
  fs::path root() const { return storage_->root(); }

  // Expects Resolve(relative) to be refused as INVALID_ARGUMENT with `substring` in the message.
  void ExpectRefused(std::string_view relative, std::string_view substring) {
    for (bool must_exist : {false, true}) {
      absl::StatusOr<std::string> resolved = storage().Resolve(relative, must_exist);
      ASSERT_FALSE(resolved.ok()) << "'" << relative << "' resolved to " << *resolved;
      EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument)
          << relative << ": " << resolved.status();
      EXPECT_THAT(resolved.status().message(), HasSubstr(substring)) << relative;
    }
  }

  fs::path dir_;
  fs::path outside_;
  std::optional<StorageRoot> storage_;
};

// --- Open ------------------------------------------------------------------------------------

TEST_F(StorageTest, OpenCreatesLayoutAndCanonicalisesTheRoot) {
  EXPECT_EQ(root(), dir_ / "root");
  for (const char* sub : {"footage/sha256", "uploads", "work", "datasets"}) {
    EXPECT_TRUE(fs::is_directory(root() / sub)) << sub;
    EXPECT_THAT(ListDir(root() / sub), IsEmpty()) << sub << ": write probe left behind";
  }
  // Reached through a symlink and a non-normal spelling, the root is still the real path.
  fs::create_directory_symlink(root(), dir_ / "alias");
  absl::StatusOr<StorageRoot> again = StorageRoot::Open((dir_ / "alias" / "." / "").string());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->root(), root().string());
}

TEST_F(StorageTest, OpenRefusesASymlinkedLayoutDirectory) {
  const fs::path other = dir_ / "other";
  fs::create_directories(other);
  fs::create_directory_symlink(outside_, other / "work");
  absl::StatusOr<StorageRoot> opened = StorageRoot::Open(other.string());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr((other / "work").string()));
  EXPECT_THAT(opened.status().message(), HasSubstr("symbolic link"));
}

TEST_F(StorageTest, OpenRefusesAFileAndAnEmptyPath) {
  WriteFile(dir_ / "file", "x");
  absl::StatusOr<StorageRoot> opened = StorageRoot::Open((dir_ / "file").string());
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr((dir_ / "file").string()));
  EXPECT_EQ(StorageRoot::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

// --- Resolve ---------------------------------------------------------------------------------

TEST_F(StorageTest, ResolveAcceptsPathsBelowTheRoot) {
  EXPECT_EQ(storage().Resolve("a/b.mp4", false).value(), (root() / "a/b.mp4").string());
  EXPECT_EQ(storage().Resolve("footage/sha256/x", false).value(),
            (root() / "footage/sha256/x").string());
  // "." and empty components are ignored.
  EXPECT_EQ(storage().Resolve("./a//./b.mp4/", false).value(), (root() / "a/b.mp4").string());
  EXPECT_EQ(storage().Resolve("work", true).value(), (root() / "work").string());
}

TEST_F(StorageTest, ResolveRefusesBadSyntax) {
  ExpectRefused("", "empty");
  ExpectRefused(".", "storage root itself");
  ExpectRefused("./", "storage root itself");
  ExpectRefused("/etc/passwd", "absolute");
  ExpectRefused("../x", "'..'");
  ExpectRefused("..", "'..'");
  ExpectRefused("a/../../x", "'..'");
  // Stays inside lexically, refused all the same: no ".." at all is the rule.
  ExpectRefused("a/./../b", "'..'");
  ExpectRefused("a/..", "'..'");
  ExpectRefused(std::string_view("a\0b", 3), "NUL");
  // The message names the path.
  ExpectRefused("a/../../x", "a/../../x");
  ExpectRefused(std::string_view("a\0b", 3), "'a\\x00");  // escaped, not raw
}

TEST_F(StorageTest, ResolveRefusesDirectorySymlinksLeadingOutside) {
  fs::create_directory_symlink(outside_, root() / "evil");
  ExpectRefused("evil/passwd", "not below the storage root");
  ExpectRefused("evil/passwd", (outside_ / "passwd").string());
  ExpectRefused("evil", "not below");
  ExpectRefused("evil/not-yet-there/x.mp4", "not below");  // the missing tail changes nothing
  // A relative link climbing out, one nested deeper, and an absolute link to /etc.
  fs::create_directory_symlink("../outside", root() / "up");
  ExpectRefused("up/passwd", "not below");
  fs::create_directories(root() / "a/b");
  fs::create_directory_symlink("../../../outside", root() / "a/b/deep");
  ExpectRefused("a/b/deep/passwd", "not below");
  fs::create_directory_symlink("/etc", root() / "etc");
  ExpectRefused("etc/passwd", "not below");
  // A link to the root itself is refused too: paths name something below the root.
  fs::create_directory_symlink(root(), root() / "self");
  ExpectRefused("self", "not below");
}

TEST_F(StorageTest, ResolveRefusesFileAndDanglingSymlinksLeadingOutside) {
  fs::create_symlink(outside_ / "passwd", root() / "passwd");
  ExpectRefused("passwd", "not below");
  // Dangling: realpath() cannot resolve it, yet creating the file would write outside.
  fs::create_symlink(outside_ / "new-file", root() / "dangling");
  ExpectRefused("dangling", "not below");
  fs::create_symlink(outside_ / "new-dir", root() / "dangling-dir");
  ExpectRefused("dangling-dir/x", "not below");
  // An inside link that leads to an outside link.
  fs::create_symlink("passwd", root() / "chain");
  ExpectRefused("chain", "not below");
  // ".." after a missing directory inside a link: nothing below the missing part is checked, so
  // it is refused rather than resolved lexically (root/evil -> outside would be skipped).
  fs::create_directory_symlink(outside_, root() / "evil");
  fs::create_symlink("missing/../evil/passwd", root() / "sneaky");
  ExpectRefused("sneaky", "after a missing directory");
  EXPECT_EQ(ReadFile((outside_ / "passwd").string()).value(), "secret");
}

TEST_F(StorageTest, ResolveFollowsSymlinksThatStayInside) {
  fs::create_directories(root() / "b");
  WriteFile(root() / "b/x.mp4", "x");
  fs::create_directory_symlink(root() / "b", root() / "a");  // absolute
  fs::create_directory_symlink("b", root() / "c");           // relative
  fs::create_directories(root() / "d/e");
  fs::create_directory_symlink("../../b", root() / "d/e/f");  // ".." inside a link is fine
  for (const char* path : {"a/x.mp4", "c/x.mp4", "d/e/f/x.mp4"}) {
    EXPECT_EQ(storage().Resolve(path, true).value(), (root() / "b/x.mp4").string()) << path;
  }
  EXPECT_EQ(storage().Resolve("a/new.mp4", false).value(), (root() / "b/new.mp4").string());
  fs::create_symlink("b/missing", root() / "dangling-inside");
  EXPECT_EQ(storage().Resolve("dangling-inside", false).value(), (root() / "b/missing").string());
  EXPECT_EQ(storage().Resolve("dangling-inside", true).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StorageTest, ResolveReportsSymlinkLoopsQuickly) {
  fs::create_symlink("loop2", root() / "loop1");
  fs::create_symlink("loop1", root() / "loop2");
  fs::create_symlink("self", root() / "self");
  for (const char* path : {"loop1", "loop1/x", "self/x/y"}) {
    const auto start = std::chrono::steady_clock::now();
    ExpectRefused(path, "loop");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  }
}

TEST_F(StorageTest, ResolveMustExist) {
  absl::StatusOr<std::string> missing = storage().Resolve("a/missing.mp4", true);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("a/missing.mp4"));
  EXPECT_TRUE(storage().Resolve("a/missing.mp4", false).ok());
  WriteFile(root() / "file", "x");
  EXPECT_EQ(storage().Resolve("file", true).value(), (root() / "file").string());
  // Below a regular file nothing can exist.
  EXPECT_EQ(storage().Resolve("file/x", true).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StorageTest, ResolveWithinKeepsPathsInsideTheirDirectory) {
  fs::create_directories(root() / "work/j1/t.a1");
  fs::create_directories(root() / "work/j1/t.a2");
  WriteFile(root() / "work/j1/t.a1/out", "x");
  WriteFile(root() / "footage/sha256/f", "footage");
  EXPECT_EQ(storage().ResolveWithin("work/j1/t.a1/out", "work/j1/t.a1", true).value(),
            (root() / "work/j1/t.a1/out").string());
  EXPECT_TRUE(storage().ResolveWithin("work/j1/t.a1/later", "work/j1/t.a1", false).ok());
  fs::create_symlink(root() / "footage/sha256/f", root() / "work/j1/t.a1/link");
  fs::create_directory_symlink(root() / "footage/sha256", root() / "work/j1/t.a3");
  for (const char* path : {"work/j1/t.a2/out", "work/j1/t.a1", "work/j1/t.a1/../t.a2/out",
                           "footage/sha256/f", "work/j1/t.a1/link", "/etc/passwd"}) {
    absl::StatusOr<std::string> r = storage().ResolveWithin(path, "work/j1/t.a1", false);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
  // A directory reached through a symbolic link is not a place of its own.
  EXPECT_EQ(storage().ResolveWithin("work/j1/t.a3/f", "work/j1/t.a3", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Messages quote user text only up to a bound.
  const std::string longest(100000, 'x');
  EXPECT_LT(storage().ResolveWithin(longest, "work/j1/t.a1", false).status().message().size(),
            1000u);
}

// --- Relativize ------------------------------------------------------------------------------

TEST_F(StorageTest, Relativize) {
  EXPECT_EQ(storage().Relativize((root() / "a/b.mp4").string()).value(), "a/b.mp4");
  EXPECT_EQ(storage().Relativize(root().string() + "//a/./b/").value(), "a/b");
  const std::string resolved = storage().Resolve("footage/sha256/x", false).value();
  EXPECT_EQ(storage().Relativize(resolved).value(), "footage/sha256/x");
  for (const std::string& bad :
       {std::string("/etc/passwd"), root().string(), root().string() + "/", std::string("a/b"),
        std::string(""), root().string() + "/../outside/passwd", root().string() + "x/y",
        root().string() + std::string("/a\0b", 4)}) {
    absl::StatusOr<std::string> rel = storage().Relativize(bad);
    EXPECT_EQ(rel.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// --- Names and directories ---------------------------------------------------------------------

TEST(StorageNameTest, ValidateName) {
  for (const std::string& ok : {std::string("a"), std::string("job-1"), std::string("ds_2024.v1"),
                                std::string("0"), std::string("A") + std::string(63, 'z')}) {
    EXPECT_TRUE(StorageRoot::ValidateName("job id", ok).ok()) << ok;
  }
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string(".."), std::string(".hidden"),
        std::string("-x"), std::string("_x"), std::string("a/b"), std::string("a b"),
        std::string(65, 'a'), std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    absl::Status status = StorageRoot::ValidateName("dataset name", bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("dataset name"));
    EXPECT_THAT(status.message(), HasSubstr("A-Z a-z 0-9 . _ -"));
  }
}

TEST(StorageNameTest, ValidateSha256Hex) {
  const std::string good = Sha256Hex("x");
  EXPECT_TRUE(StorageRoot::ValidateSha256Hex(good).ok());
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad : {std::string(""), good.substr(1), good + "0", upper,
                                 std::string(64, 'g'), "../../" + good.substr(6)}) {
    EXPECT_EQ(StorageRoot::ValidateSha256Hex(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(StorageTest, WorkDirAndDatasetDir) {
  absl::StatusOr<std::string> work = storage().WorkDir("job-1");
  ASSERT_TRUE(work.ok()) << work.status();
  EXPECT_EQ(*work, (root() / "work/job-1").string());
  EXPECT_TRUE(fs::is_directory(*work));
  EXPECT_EQ(storage().WorkDir("job-1").value(), *work);  // idempotent
  absl::StatusOr<std::string> dataset = storage().DatasetDir("faces.v2");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(*dataset, (root() / "datasets/faces.v2").string());
  EXPECT_TRUE(fs::is_directory(*dataset));

  EXPECT_EQ(storage().WorkDir("../x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(storage().DatasetDir("a/b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(storage().RemoveWorkDir("..").code(), absl::StatusCode::kInvalidArgument);

  // A symlink where a work directory should be is not silently written through.
  fs::create_directory_symlink(outside_, root() / "work/planted");
  EXPECT_EQ(storage().WorkDir("planted").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StorageTest, RemoveWorkDirIsRecursiveAndNeverFollowsSymlinks) {
  const std::string work = storage().WorkDir("job-2").value();
  fs::create_directories(fs::path(work) / "frames/sub");
  WriteFile(fs::path(work) / "frames/sub/0001.png", "png");
  fs::create_directory_symlink(outside_, fs::path(work) / "link");
  ASSERT_TRUE(storage().RemoveWorkDir("job-2").ok());
  EXPECT_FALSE(fs::exists(work));
  EXPECT_EQ(ReadFile((outside_ / "passwd").string()).value(), "secret");
  EXPECT_TRUE(storage().RemoveWorkDir("job-2").ok());  // missing is fine
  EXPECT_TRUE(storage().RemoveWorkDir("never-existed").ok());
}

TEST_F(StorageTest, FootagePathAndHasFootage) {
  const std::string hex = Sha256Hex("footage");
  EXPECT_EQ(storage().FootagePath(hex).value(), (root() / "footage/sha256" / hex).string());
  EXPECT_FALSE(storage().HasFootage(hex));
  WriteFile(root() / "footage/sha256" / hex, "footage");
  EXPECT_TRUE(storage().HasFootage(hex));
  EXPECT_EQ(storage().FootagePath("../../etc/passwd").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(storage().HasFootage("../../etc/passwd"));
}

// --- FootageUpload -----------------------------------------------------------------------------

TEST_F(StorageTest, UploadInChunksIsStoredContentAddressed) {
  const std::string data = RandomBytes(300'000, 1);
  const std::string hex = Sha256Hex(data);
  absl::StatusOr<FootageUpload> upload =
      FootageUpload::Begin(storage(), hex, static_cast<int64_t>(data.size()), kMaxBytes);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_THAT(ListDir(root() / "uploads"), testing::ElementsAre(testing::EndsWith(".part")));
  for (size_t offset = 0; offset < data.size(); offset += 65'536) {
    ASSERT_TRUE(upload->Append(std::string_view(data).substr(offset, 65'536)).ok());
  }
  EXPECT_EQ(upload->bytes_received(), static_cast<int64_t>(data.size()));
  absl::StatusOr<std::string> relative = upload->Commit();
  ASSERT_TRUE(relative.ok()) << relative.status();
  EXPECT_EQ(*relative, "footage/sha256/" + hex);

  const std::string path = storage().Resolve(*relative, true).value();
  EXPECT_EQ(path, storage().FootagePath(hex).value());
  EXPECT_EQ(ReadFile(path).value(), data);
  EXPECT_EQ(Sha256File(path).value(), hex);
  EXPECT_TRUE(storage().HasFootage(hex));
  EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty());
  // Committed: the writer is spent.
  EXPECT_EQ(upload->Append("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(upload->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StorageTest, EmptyUpload) {
  const std::string hex = Sha256Hex("");
  absl::StatusOr<FootageUpload> upload = FootageUpload::Begin(storage(), hex, 0, kMaxBytes);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->Commit().value(), "footage/sha256/" + hex);
  EXPECT_TRUE(storage().HasFootage(hex));
}

TEST_F(StorageTest, SecondUploadOfTheSameContentLeavesOneFileAndNoLeftovers) {
  const std::string data = RandomBytes(10'000, 2);
  const std::string hex = Sha256Hex(data);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<FootageUpload> upload =
        FootageUpload::Begin(storage(), hex, static_cast<int64_t>(data.size()), kMaxBytes);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE(upload->Append(data).ok());
    EXPECT_EQ(upload->Commit().value(), "footage/sha256/" + hex) << "upload " << i;
    EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty()) << "upload " << i;
  }
  EXPECT_THAT(ListDir(root() / "footage/sha256"), UnorderedElementsAre(hex));
  EXPECT_EQ(ReadFile(storage().FootagePath(hex).value()).value(), data);
}

TEST_F(StorageTest, WrongSha256IsDataLossAndLeavesNothing) {
  const std::string data = RandomBytes(5'000, 3);
  const std::string declared = Sha256Hex("something else");
  absl::StatusOr<FootageUpload> upload =
      FootageUpload::Begin(storage(), declared, static_cast<int64_t>(data.size()), kMaxBytes);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE(upload->Append(data).ok());
  absl::StatusOr<std::string> committed = upload->Commit();
  ASSERT_EQ(committed.status().code(), absl::StatusCode::kDataLoss) << committed.status();
  EXPECT_THAT(committed.status().message(), HasSubstr(declared));
  EXPECT_THAT(committed.status().message(), HasSubstr(Sha256Hex(data)));
  EXPECT_THAT(ListDir(root() / "footage/sha256"), IsEmpty());
  EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty());
}

TEST_F(StorageTest, MoreBytesThanDeclaredIsResourceExhausted) {
  const std::string data = RandomBytes(1'000, 4);
  absl::StatusOr<FootageUpload> upload =
      FootageUpload::Begin(storage(), Sha256Hex(data), 999, kMaxBytes);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE(upload->Append(data.substr(0, 500)).ok());
  absl::Status status = upload->Append(data.substr(500));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(status.message(), HasSubstr("999"));
  EXPECT_EQ(upload->bytes_received(), 500);  // nothing of the offending chunk was written
  EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty());
  EXPECT_EQ(upload->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ListDir(root() / "footage/sha256"), IsEmpty());
}

TEST_F(StorageTest, FewerBytesThanDeclaredFailsCommit) {
  const std::string data = RandomBytes(1'000, 5);
  absl::StatusOr<FootageUpload> upload =
      FootageUpload::Begin(storage(), Sha256Hex(data), 1'000, kMaxBytes);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE(upload->Append(data.substr(0, 600)).ok());
  absl::StatusOr<std::string> committed = upload->Commit();
  ASSERT_EQ(committed.status().code(), absl::StatusCode::kInvalidArgument) << committed.status();
  EXPECT_THAT(committed.status().message(), HasSubstr("600"));
  EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty());
  EXPECT_THAT(ListDir(root() / "footage/sha256"), IsEmpty());
}

TEST_F(StorageTest, BeginValidatesTheDeclaration) {
  const std::string hex = Sha256Hex("x");
  std::string upper = hex;
  upper[0] = 'A';
  EXPECT_EQ(FootageUpload::Begin(storage(), upper, 1, kMaxBytes).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FootageUpload::Begin(storage(), hex.substr(1), 1, kMaxBytes).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FootageUpload::Begin(storage(), hex, -1, kMaxBytes).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status too_big = FootageUpload::Begin(storage(), hex, kMaxBytes + 1, kMaxBytes).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.message(), HasSubstr(std::to_string(kMaxBytes)));
  EXPECT_TRUE(FootageUpload::Begin(storage(), hex, kMaxBytes, kMaxBytes).ok());
  EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty());
}

TEST_F(StorageTest, DestroyingAnUncommittedUploadRemovesItsFile) {
  {
    absl::StatusOr<FootageUpload> upload =
        FootageUpload::Begin(storage(), Sha256Hex("abc"), 3, kMaxBytes);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE(upload->Append("ab").ok());
    // Moving hands the file over; the moved-from writer must not remove it.
    FootageUpload moved = *std::move(upload);
    EXPECT_EQ(ListDir(root() / "uploads").size(), 1u);
    EXPECT_EQ(moved.bytes_received(), 2);
  }
  EXPECT_THAT(ListDir(root() / "uploads"), IsEmpty());
  EXPECT_THAT(ListDir(root() / "footage/sha256"), IsEmpty());
}

TEST_F(StorageTest, CleanAbandonedUploadsRemovesOnlyOldFiles) {
  const fs::path uploads = root() / "uploads";
  WriteFile(uploads / "old.part", "old");
  WriteFile(uploads / "fresh.part", "fresh");
  fs::create_directories(uploads / "old-dir");  // not a file: not ours to remove
  const timespec two_hours_ago[2] = {{::time(nullptr) - 7200, 0}, {::time(nullptr) - 7200, 0}};
  for (const char* name : {"old.part", "old-dir"}) {
    ASSERT_EQ(::utimensat(AT_FDCWD, (uploads / name).c_str(), two_hours_ago, 0), 0) << name;
  }
  absl::StatusOr<FootageUpload> live = FootageUpload::Begin(storage(), Sha256Hex("x"), 1, 1);
  ASSERT_TRUE(live.ok()) << live.status();

  absl::StatusOr<int> removed = storage().CleanAbandonedUploads(std::chrono::hours(1));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(fs::exists(uploads / "old.part"));
  EXPECT_TRUE(fs::exists(uploads / "fresh.part"));
  EXPECT_TRUE(fs::exists(uploads / "old-dir"));
  ASSERT_TRUE(live->Append("x").ok());
  EXPECT_TRUE(live->Commit().ok()) << "a live upload was swept";
}

TEST_F(StorageTest, ACommitAfterTheSweepFailsCleanly) {
  absl::StatusOr<FootageUpload> upload = FootageUpload::Begin(storage(), Sha256Hex("x"), 1, 1);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE(upload->Append("x").ok());
  EXPECT_EQ(storage().CleanAbandonedUploads(std::chrono::seconds(-10)).value(), 1);
  absl::StatusOr<std::string> committed = upload->Commit();
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kNotFound) << committed.status();
  EXPECT_THAT(committed.status().message(), HasSubstr("send it again"));
  EXPECT_THAT(ListDir(root() / "footage/sha256"), IsEmpty());
}

// A bucket root, without a request to the bucket: its scratch directories are private, a
// task's goes with its ScratchRoot (however the task ended) and the process's with the last
// copy of the root.
TEST(BucketRootTest, ScratchDirectoriesAreRemoved) {
  const fs::path tmp = TestDir();
  ASSERT_EQ(::setenv("TMPDIR", tmp.c_str(), 1), 0);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  absl::StatusOr<StorageRoot> refused = StorageRoot::Open("s3://fp-bucket/stor");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("AWS_ACCESS_KEY_ID"));
  ::setenv("AWS_ACCESS_KEY_ID", "id", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
  ::setenv("FRAMEPAIR_S3_BACKOFF_MS", "1", 1);
  {
    absl::StatusOr<StorageRoot> root = StorageRoot::Open("s3://fp-bucket/stor/");
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_TRUE(root->remote());
    EXPECT_EQ(root->location(), "s3://fp-bucket/stor");
    ASSERT_EQ(ListDir(tmp).size(), 1u);
    const fs::path base = tmp / ListDir(tmp)[0];
    EXPECT_TRUE(fs::is_directory(fs::path(root->root()) / "uploads"));
    std::string task_dir;
    {
      absl::StatusOr<ScratchRoot> scratch = root->Scratch();
      ASSERT_TRUE(scratch.ok()) << scratch.status();
      task_dir = scratch->root().root();
      EXPECT_EQ(fs::path(task_dir).parent_path(), base);
      EXPECT_TRUE(fs::is_directory(fs::path(task_dir) / "work"));
      std::ofstream(fs::path(task_dir) / "work" / "output") << "x";
      // The durable storage is the bucket: nothing there answers (port 9).
      EXPECT_FALSE(scratch->root().Fetch("footage/sha256/none").ok());
    }
    EXPECT_FALSE(fs::exists(task_dir));
    EXPECT_TRUE(fs::exists(base));
  }
  EXPECT_THAT(ListDir(tmp), IsEmpty());
  ::unsetenv("TMPDIR");
}

}  // namespace
}  // namespace framepair
