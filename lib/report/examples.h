// Chosen records of a dataset's shards, as tf.train.Examples: what the report's contact sheets
// and `framepair extract` show. Reads a shard once, up to the last wanted record, with the
// TFRecord reader's bounded memory (GZIP shards too), and hands over one example at a time:
// however many are wanted, only one is held.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "framepair/v1/example.pb.h"

namespace framepair {

// Calls `visit` with each wanted record of `path` (index 0-based, ascending) as it is read; the
// example lives only for the call. A wanted index past the end is simply not visited. The first
// error `visit` returns ends the reading and is returned. DATA_LOSS naming the file and record
// for damage; errno statuses for an unreadable file.
absl::Status ForEachShardExample(
    const std::string& path, const std::set<int64_t>& wanted,
    const std::function<absl::Status(int64_t, const framepair::v1::tf::Example&)>& visit);

}  // namespace framepair
