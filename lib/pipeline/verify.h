// `framepair verify DIR`: reads a dataset directory back the way training will and reports
// every defect with where it is: manifest, shard sizes and sha256, TFRecord framing and CRCs,
// Example schema, PNG decoding, image sizes and scale, example counts; the validation file
// (validate.tfrecord) the same way as the shards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace framepair {

struct VerifyOptions {
  bool decode_pngs = true;  // decode every PNG (the slow part) rather than only its header
  int threads = 0;          // 0 = hardware concurrency
};

struct VerifyReport {
  std::vector<std::string> defects;   // empty = the dataset is sound
  std::vector<std::string> warnings;  // not defects (e.g. a leftover temporary file)
  int64_t shards = 0;
  int64_t examples = 0;             // in the training shards
  int64_t validation_examples = 0;  // in validate.tfrecord, when the dataset has one
  int64_t images = 0;
  bool ok() const { return defects.empty(); }
};

// Errors only for an unreadable directory; everything wrong with the dataset is a defect.
absl::StatusOr<VerifyReport> VerifyDataset(const std::string& dir, const VerifyOptions& options);

}  // namespace framepair
