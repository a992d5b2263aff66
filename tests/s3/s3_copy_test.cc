// The S3 backend's server-side copy against a real S3-compatible server: s3rver (npm, the
// server of s3_test.mjs), started here as a process on 127.0.0.1.
//
// s3rver 3.7.1 does not implement UploadPartCopy (it answers 501 NotImplemented to a part
// upload with x-amz-copy-source) nor AbortMultipartUpload (405), so a multipart copy cannot
// succeed here: what is checked against it is that a copy over the single-copy limit becomes
// a multipart upload of the destination whose part requests the server recognises as
// UploadPartCopy, that the refusal is reported as such (UNIMPLEMENTED, not "try again later") and
// that nothing appears at the destination. The split into parts is checked without a server
// (lib/storage/s3_store_test.cc).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "storage/object_store.h"
#include "util/file.h"
#include "util/random_id.h"
#include "util/sha256.h"

namespace framepair {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kMiB = int64_t{1} << 20;

class S3CopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/framepair-s3copy-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    fs::create_directories(dir_ + "/data");
    const std::string log = dir_ + "/s3rver.log";
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string s3rver =
          std::string(FRAMEPAIR_SOURCE_DIR) + "/tests/s3/node_modules/.bin/s3rver";
      const std::string data = dir_ + "/data";
      ::execlp(s3rver.c_str(), s3rver.c_str(), "-d", data.c_str(), "-a", "127.0.0.1", "-p", "0",
               "--configure-bucket", "fp-bucket", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // s3rver prints the port it listens on.
    const std::regex listening("listening on 127\\.0\\.0\\.1:(\\d+)");
    for (int i = 0; i < 400 && port_.empty(); ++i) {
      std::smatch m;
      absl::StatusOr<std::string> text = ReadFile(log);
      if (text.ok() && std::regex_search(*text, m, listening)) port_ = m[1];
      if (port_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(port_.empty()) << "s3rver did not start (run `npm ci` in tests/s3): "
                                << ReadFile(log).value_or("");
    ASSERT_EQ(::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1), 0);
    ASSERT_EQ(::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1), 0);
    ASSERT_EQ(::setenv("AWS_REGION", "us-east-1", 1), 0);
    ASSERT_EQ(::setenv("AWS_ENDPOINT_URL", ("http://127.0.0.1:" + port_).c_str(), 1), 0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<ObjectStore> Open(const ObjectStoreOptions& options) {
    absl::StatusOr<std::unique_ptr<ObjectStore>> store =
        OpenObjectStore("s3://fp-bucket/copies", options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::string dir_;
  std::string port_;
  pid_t pid_ = -1;
};

// Up to the single-copy limit (inclusive), one CopyObject: the copy is the source's bytes.
TEST_F(S3CopyTest, ACopyUpToTheLimitIsTheSourcesBytes) {
  ObjectStoreOptions options;
  options.max_single_copy = 3 * kMiB + kMiB / 2;
  options.copy_part_bytes = kMiB;
  std::unique_ptr<ObjectStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  const std::string bytes = RandomHex(static_cast<int>(7 * kMiB / 4));
  ASSERT_TRUE(store->PutBytes("staging/a1/train_00000-of-00001.tfrecord", bytes).ok());
  const absl::Status copied =
      store->Copy("staging/a1/train_00000-of-00001.tfrecord", "train_00000-of-00001.tfrecord",
                  static_cast<int64_t>(bytes.size()));
  ASSERT_TRUE(copied.ok()) << copied;
  absl::StatusOr<std::string> got = store->GetBytes("train_00000-of-00001.tfrecord");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Sha256Hex(*got), Sha256Hex(bytes));
}

// Over the limit, a multipart copy; s3rver refuses its UploadPartCopy requests (501), which
// is reported at once, names the object, and leaves nothing at the destination.
TEST_F(S3CopyTest, ALargerCopyIsAMultipartCopyWhichS3rverRefuses) {
  ObjectStoreOptions options;
  options.max_single_copy = kMiB;
  options.copy_part_bytes = kMiB;
  std::unique_ptr<ObjectStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  const std::string bytes = RandomHex(static_cast<int>(7 * kMiB / 4));
  ASSERT_TRUE(store->PutBytes("staging/a1/shard", bytes).ok());
  const absl::Status copied = store->Copy("staging/a1/shard", "train_00000-of-00001.tfrecord",
                                          static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(copied.code(), absl::StatusCode::kUnimplemented) << copied;
  EXPECT_THAT(std::string(copied.message()),
              HasSubstr("s3://fp-bucket/copies/train_00000-of-00001.tfrecord"));
  EXPECT_THAT(std::string(copied.message()), HasSubstr("HTTP 501"));
  EXPECT_THAT(std::string(copied.message()), HasSubstr("UploadPartCopy"));
  EXPECT_THAT(std::string(copied.message()), Not(HasSubstr("attempts")));
  // s3rver cannot abort an upload either (405): the message says how to remove it.
  EXPECT_THAT(std::string(copied.message()), HasSubstr("abort-multipart-upload"));
  EXPECT_EQ(store->GetBytes("train_00000-of-00001.tfrecord").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> source = store->GetBytes("staging/a1/shard");
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(Sha256Hex(*source), Sha256Hex(bytes));
}

}  // namespace
}  // namespace framepair
