// The S3 backend of ObjectStore (object_store.h): libcurl, signed with CURLOPT_AWS_SIGV4.
#pragma once

#include <memory>
#include <string>
#include <string_view>

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

// The environment is read here (object_store.h lists the variables).
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& url,
                                                         const ObjectStoreOptions& options);

}  // namespace framepair
