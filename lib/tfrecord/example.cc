#include "tfrecord/example.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/str_cat.h"

namespace framepair {

std::string SerializeExampleDeterministic(const framepair::v1::tf::Example& example) {
  std::string out;
  {
    // The streams flush into `out` when they go out of scope.
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    // Map order is otherwise unspecified, and the output contract promises identical bytes.
    coded.SetSerializationDeterministic(true);
    example.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::StatusOr<framepair::v1::tf::Example> ParseExample(std::string_view bytes) {
  framepair::v1::tf::Example example;
  if (!example.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("record of ", bytes.size(), " bytes is not a tf.train.Example"));
  }
  return example;
}

void AddBytesFeature(framepair::v1::tf::Example* example, const std::string& name,
                     const std::vector<const std::string*>& values) {
  auto* list = (*example->mutable_features()->mutable_feature())[name].mutable_bytes_list();
  list->Clear();
  for (const std::string* value : values) list->add_value(*value);
}

void AddInt64Feature(framepair::v1::tf::Example* example, const std::string& name,
                     const std::vector<int64_t>& values) {
  auto* list = (*example->mutable_features()->mutable_feature())[name].mutable_int64_list();
  list->Clear();
  list->mutable_value()->Add(values.begin(), values.end());
}

}  // namespace framepair
