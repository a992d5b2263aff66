// The S3 backend's server-side copy against real S3-compatible servers, each started here as a
// process on 127.0.0.1:
//
// - @20minutes/s3rver (npm, part_copy_server.mjs), which implements UploadPartCopy: a copy over
//   the single-copy limit is a multipart copy whose result is the source's bytes, read back with
//   an independent client (the AWS SDK, object_digest.mjs);
// - s3rver 3.7.1 (npm, the server of s3_test.mjs), which answers UploadPartCopy with 501
//   NotImplemented and AbortMultipartUpload with 405: the refusal is reported as such
//   (UNIMPLEMENTED, not "try again later") and nothing appears at the destination.
//
// The single-copy limit (5 GiB on S3) and the part size are ObjectStoreOptions, shrunk here so
// that megabytes take the multipart path. The split into parts is checked without a server
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
#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

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

// Which server a test runs against.
enum class Server { kPartCopy, kS3rver371 };

class S3CopyTest : public ::testing::Test {
 protected:
  void Start(Server server) {
    char dir_template[] = "/tmp/framepair-s3copy-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    fs::create_directories(dir_ + "/data");
    const std::string log = dir_ + "/server.log";
    const std::string tests = std::string(FRAMEPAIR_SOURCE_DIR) + "/tests/s3";
    const std::string data = dir_ + "/data";
    std::vector<std::string> args = {FRAMEPAIR_NODE};
    if (server == Server::kPartCopy) {
      args.insert(args.end(),
                  {tests + "/part_copy_server.mjs", "--dir", data, "--bucket", "fp-bucket"});
    } else {
      args.insert(args.end(), {tests + "/node_modules/s3rver/bin/s3rver.js", "-d", data, "-a",
                               "127.0.0.1", "-p", "0", "--configure-bucket", "fp-bucket"});
    }
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Both print the port they listen on.
    const std::regex listening("listening on 127\\.0\\.0\\.1:(\\d+)");
    for (int i = 0; i < 400 && port_.empty(); ++i) {
      std::smatch m;
      absl::StatusOr<std::string> text = ReadFile(log);
      if (text.ok() && std::regex_search(*text, m, listening)) port_ = m[1];
      if (port_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(port_.empty()) << "the S3 server did not start (run scripts/install-deps.sh, "
                                   "which runs `npm ci` in tests/s3): "
                                << ReadFile(log).value_or("");
    ASSERT_EQ(::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1), 0);
    ASSERT_EQ(::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1), 0);
    ASSERT_EQ(::setenv("AWS_REGION", "us-east-1", 1), 0);
    ASSERT_EQ(::setenv("AWS_ENDPOINT_URL", Endpoint().c_str(), 1), 0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + port_; }

  std::unique_ptr<ObjectStore> Open(const ObjectStoreOptions& options) {
    absl::StatusOr<std::unique_ptr<ObjectStore>> store =
        OpenObjectStore("s3://fp-bucket/copies", options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // "<size> <sha256>" of the object at `key` (below the bucket), as the AWS SDK reads it.
  std::string DigestBySdk(const std::string& key) {
    const std::string command = std::string(FRAMEPAIR_NODE) + " " + FRAMEPAIR_SOURCE_DIR +
                                "/tests/s3/object_digest.mjs --endpoint " + Endpoint() +
                                " --bucket fp-bucket --key " + key + " 2>" + dir_ + "/digest.err";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
    if (!pipe) return "cannot run node";
    std::string out;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) out += buffer;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    // Nothing on stdout: what went wrong (stderr also has node's warnings, when it works).
    return out.empty() ? ReadFile(dir_ + "/digest.err").value_or("no output") : out;
  }

  std::string dir_;
  std::string port_;
  pid_t pid_ = -1;
};

// Over the single-copy limit, a multipart copy (UploadPartCopy of 5 MiB ranges, S3's minimum
// part, and a shorter last one) that a server implementing it completes: the destination holds
// the source's bytes exactly, as an independent client reads them.
TEST_F(S3CopyTest, ALargerCopyIsAMultipartCopyOfTheSourcesBytes) {
  ASSERT_NO_FATAL_FAILURE(Start(Server::kPartCopy));
  ObjectStoreOptions options;
  options.max_single_copy = 5 * kMiB;
  options.copy_part_bytes = 5 * kMiB;
  std::unique_ptr<ObjectStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  const std::string bytes = RandomHex(static_cast<int>(6 * kMiB + 12345));  // 3 parts
  const absl::Status put = store->PutBytes("staging/a1/train_00000-of-00001.tfrecord", bytes);
  ASSERT_TRUE(put.ok()) << put;
  const absl::Status copied =
      store->Copy("staging/a1/train_00000-of-00001.tfrecord", "train_00000-of-00001.tfrecord",
                  static_cast<int64_t>(bytes.size()));
  ASSERT_TRUE(copied.ok()) << copied;
  EXPECT_EQ(DigestBySdk("copies/train_00000-of-00001.tfrecord"),
            std::to_string(bytes.size()) + " " + Sha256Hex(bytes));
  // The source is untouched.
  EXPECT_EQ(DigestBySdk("copies/staging/a1/train_00000-of-00001.tfrecord"),
            std::to_string(bytes.size()) + " " + Sha256Hex(bytes));
}

// Up to the single-copy limit (inclusive), one CopyObject: the copy is the source's bytes.
TEST_F(S3CopyTest, ACopyUpToTheLimitIsTheSourcesBytes) {
  ASSERT_NO_FATAL_FAILURE(Start(Server::kS3rver371));
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

// Over the limit, a multipart copy; s3rver 3.7.1 refuses its UploadPartCopy requests (501), which
// is reported at once, names the object, and leaves nothing at the destination.
TEST_F(S3CopyTest, ALargerCopyIsAMultipartCopyWhichS3rver371Refuses) {
  ASSERT_NO_FATAL_FAILURE(Start(Server::kS3rver371));
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
