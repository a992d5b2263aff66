// Chosen records of a dataset's shards, as tf.train.Examples: what the report's contact sheets
// and `framepair extract` show. Reads a shard once, up to the last wanted record, with the
// TFRecord reader's bounded memory (GZIP shards too).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/example.pb.h"

namespace framepair {

// Records of `path` by index (0-based). A wanted index past the end is simply absent.
// DATA_LOSS naming the file and record for damage; errno statuses for an unreadable file.
absl::StatusOr<std::map<int64_t, framepair::v1::tf::Example>> ReadShardExamples(
    const std::string& path, const std::set<int64_t>& wanted);

}  // namespace framepair
