// TFRecord shards as `framepair verify` and the trainer's side read them: framing, CRCs,
// GZIP (streamed: a small file may inflate to terabytes), tf.train.Example parsing and PNG
// decoding of every bytes feature. Each input is read twice, from one buffer and through a
// source that hands out 7 bytes at a time, and both reads must agree: the reader's buffering
// must not change what a file means.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "png/png.h"
#include "tfrecord/example.h"
#include "tfrecord/tfrecord.h"

namespace framepair {
namespace {

// Enough to reach the interesting states; more only slows an iteration down.
constexpr int kMaxRecords = 16;
// A record maximum of the kind verify.cc derives from the manifest (MaxRecordBytes), below
// the seeds' record sizes so that the refusal path runs too.
constexpr uint64_t kSmallMaxRecord = 256;

struct Outcome {
  std::vector<std::string> records;
  // How the reading ended: the status code only, as messages name offsets in the compressed
  // stream, which depend on how zlib was fed.
  std::string end;
};

Outcome ReadAll(absl::StatusOr<TfRecordReader> reader) {
  Outcome out;
  if (!reader.ok()) {
    out.end = absl::StatusCodeToString(reader.status().code());
    return out;
  }
  for (int i = 0; i < kMaxRecords; ++i) {
    absl::StatusOr<std::string_view> record = reader->Next();
    if (!record.ok()) {
      out.end = absl::StatusCodeToString(record.status().code());
      return out;
    }
    out.records.emplace_back(*record);
  }
  out.end = "limit";
  return out;
}

void DecodeExample(const std::string& record) {
  absl::StatusOr<framepair::v1::tf::Example> example = ParseExample(record);
  if (!example.ok()) return;
  for (const auto& [name, feature] : example->features().feature()) {
    if (feature.kind_case() != framepair::v1::tf::Feature::kBytesList) continue;
    for (const std::string& value : feature.bytes_list().value()) {
      absl::StatusOr<RgbImage> image = DecodePng(value);
      if (!image.ok()) continue;
      FP_FUZZ_CHECK(
          image->width > 0 && image->height > 0 &&
              image->pixels.size() == static_cast<size_t>(image->width) * 3 * image->height,
          "%dx%d image with %zu bytes", image->width, image->height, image->pixels.size());
    }
  }
}

}  // namespace
}  // namespace framepair

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace framepair;
  const std::string bytes(fuzz::AsView(data, size));
  Outcome whole = ReadAll(TfRecordReader::FromBytes(bytes));

  size_t pos = 0;
  auto trickle = [&](char* out, size_t n) -> absl::StatusOr<size_t> {
    const size_t k = std::min({n, size - pos, size_t{7}});
    if (k > 0) std::memcpy(out, data + pos, k);
    pos += k;
    return k;
  };
  Outcome trickled = ReadAll(TfRecordReader::FromSource(trickle));
  FP_FUZZ_CHECK(whole.records == trickled.records && whole.end == trickled.end,
                "buffered read: %zu records, '%s'; 7-byte reads: %zu records, '%s'",
                whole.records.size(), whole.end.c_str(), trickled.records.size(),
                trickled.end.c_str());

  // A small maximum refuses long records before reading them; what it accepts is a prefix of
  // the records above.
  Outcome small = ReadAll(TfRecordReader::FromBytes(bytes, kSmallMaxRecord));
  FP_FUZZ_CHECK(small.records.size() <= whole.records.size() &&
                    std::equal(small.records.begin(), small.records.end(), whole.records.begin()),
                "a smaller maximum changed the records");

  for (const std::string& record : whole.records) DecodeExample(record);
  return 0;
}
