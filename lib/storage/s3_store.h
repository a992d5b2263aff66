// The S3 backend of ObjectStore (object_store.h): libcurl, signed with CURLOPT_AWS_SIGV4.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/object_store.h"

namespace framepair {

struct ObjectUrl {
  std::string scheme;  // "s3" or "gs"
  std::string bucket;
  std::string prefix;  // "" or ending in '/'
};

// "s3://bucket", "s3://bucket/some/prefix[/]", "gs://...". INVALID_ARGUMENT, naming the rule,
// for a bucket name S3 would refuse (3-63 of a-z 0-9 . -) or a prefix with "." or ".."
// segments, empty segments or characters outside A-Z a-z 0-9 - _ . / (keys that need no
// escaping anywhere: in URLs, in x-amz-copy-source, in readers' glob patterns).
absl::StatusOr<ObjectUrl> ParseObjectUrl(std::string_view url);

// S3's limits: the largest object, and the most parts one multipart upload may have.
inline constexpr int64_t kMaxObjectBytes = int64_t{5} << 40;  // 5 TiB
inline constexpr int64_t kMaxParts = 10000;

// The part size of a multipart upload or copy of `size` bytes: `part_bytes`, grown (to a whole
// number of MiB) when the object would need more than 10 000 parts, as the AWS SDKs do, so that
// any object up to 5 TiB fits (its parts are then at most 525 MiB, below S3's 5 GiB largest
// part). INVALID_ARGUMENT, saying so, for more than 5 TiB: S3 stores no larger object.
absl::StatusOr<int64_t> MultipartPartBytes(int64_t size, int64_t part_bytes);

// The byte ranges [first, last] (inclusive, as in x-amz-copy-source-range: bytes=first-last) of a
// multipart copy of `size` bytes: parts of MultipartPartBytes(), the last one shorter. Empty for
// size <= 0; MultipartPartBytes()'s error above 5 TiB.
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> CopyPartRanges(int64_t size,
                                                                        int64_t part_bytes);

// The environment is read here (object_store.h lists the variables).
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& url,
                                                         const ObjectStoreOptions& options);

}  // namespace framepair
