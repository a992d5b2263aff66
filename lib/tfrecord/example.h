// tf.train.Example building and parsing for the output contract, over our wire-compatible
// proto (proto/framepair/v1/example.proto).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "framepair/v1/example.pb.h"

namespace framepair {

// Serializes deterministically (map keys sorted), so equal examples give equal bytes.
std::string SerializeExampleDeterministic(const framepair::v1::tf::Example& example);

// DATA_LOSS when the bytes do not parse (a record from some other TFRecord producer).
absl::StatusOr<framepair::v1::tf::Example> ParseExample(std::string_view bytes);

// Both replace any feature of the same name.
void AddBytesFeature(framepair::v1::tf::Example* example, const std::string& name,
                     const std::vector<const std::string*>& values);
void AddInt64Feature(framepair::v1::tf::Example* example, const std::string& name,
                     const std::vector<int64_t>& values);

}  // namespace framepair
