// Where a dataset is written and read: the one storage interface of framepair, with two
// backends. A POSIX directory (what `--out DIR` has always been) and an S3-compatible bucket
// (`--out s3://bucket/prefix`, and `gs://bucket/prefix` through Cloud Storage's S3 XML API with
// HMAC keys). Keys are relative to the store's root (the directory or the prefix) and use '/'.
//
// The S3 backend signs with libcurl's CURLOPT_AWS_SIGV4 and takes its credentials from the
// usual environment variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
// (optional), AWS_REGION (default us-east-1; "auto" for gs://), AWS_ENDPOINT_URL (default
// https://s3.<region>.amazonaws.com, https://storage.googleapis.com for gs://). Requests use
// path-style addressing. Nothing secret ever enters a message: errors name the bucket and
// key, the HTTP status and the S3 error code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace framepair {

struct ObjectInfo {
  std::string key;  // relative to the store's root
  int64_t size = 0;
};

// Tuning of the S3 backend; the defaults suit real buckets, tests shrink them.
struct ObjectStoreOptions {
  // Files larger than this are uploaded in parts of this size (S3's minimum part is 5 MiB),
  // so memory stays bounded by one part whatever the shard size. A file that would need more
  // than S3's 10 000 parts gets larger ones (MultipartPartBytes in s3_store.h: 525 MiB for the
  // largest object S3 stores, 5 TiB); a larger file is refused before any request.
  int64_t part_bytes = 16 << 20;
  // Attempts per request for transport errors, 5xx and throttling (429, 503 SlowDown), with
  // exponential backoff from `backoff_ms` (doubling, jittered, capped at 5 s).
  int attempts = 6;
  int backoff_ms = 100;
  // Server-side copies of objects larger than `max_single_copy` (S3's limit for one CopyObject)
  // are multipart copies (UploadPartCopy) of ranges of `copy_part_bytes`, widened when needed
  // to stay within S3's 10 000 parts. Tests shrink both to take that path with small objects.
  int64_t max_single_copy = int64_t{5} << 30;
  int64_t copy_part_bytes = int64_t{512} << 20;
};

// Not thread-safe: one caller at a time.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // The store as the user named it ("s3://bucket/prefix", or the directory): for messages.
  virtual std::string Describe() const = 0;
  // A cheap request that fails with the real reason (no such bucket, access denied, wrong
  // secret, unreachable endpoint) before any work is done.
  virtual absl::Status Check() = 0;

  // Uploads a local file. Large files go in parts; a failed multipart upload is aborted, so
  // no invisible parts are left behind (and are billed) in the bucket.
  virtual absl::Status PutFile(const std::string& key, const std::string& local_path) = 0;
  virtual absl::Status PutBytes(const std::string& key, std::string_view bytes) = 0;
  // Server-side copy (no data through this machine on S3).
  virtual absl::Status Copy(const std::string& from_key, const std::string& to_key,
                            int64_t size) = 0;
  // A missing key is not an error.
  virtual absl::Status Delete(const std::string& key) = 0;
  // Every object whose key starts with `prefix`, sorted by key.
  virtual absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  // NOT_FOUND for a missing key.
  virtual absl::StatusOr<std::string> GetBytes(const std::string& key) = 0;
  virtual absl::Status GetFile(const std::string& key, const std::string& local_path) = 0;
  // Up to `length` bytes from `offset` (fewer at the end of the object; none past it).
  // NOT_FOUND for a missing key.
  virtual absl::StatusOr<std::string> GetRange(const std::string& key, int64_t offset,
                                               int64_t length) = 0;
};

// "s3://..." or "gs://...": a location for OpenObjectStore's S3 backend, not a path.
bool IsObjectUrl(std::string_view location);

// A directory (created if missing) or an object URL. INVALID_ARGUMENT for a malformed URL
// (bucket name, ".." in the prefix), FAILED_PRECONDITION when credentials are missing.
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenObjectStore(
    const std::string& location, const ObjectStoreOptions& options = {});

}  // namespace framepair
