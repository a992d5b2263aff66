// Frame tables (step 1's work file: a protobuf header, then the kept frames' thumbnails) as
// the align and pack workers read them from shared storage, which a buggy or hostile worker
// may have written. What ReadFrameTable accepts must be safe to index the way its users do:
// kept indexes name frames, every thumbnail lies inside the mapped file.
#include <string>

#include "fuzz/fuzz_util.h"
#include "pipeline/artifacts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace framepair;
  const std::string path = fuzz::ScratchDir() + "/frames.fptable";
  fuzz::WriteScratchFile(path, data, size);

  absl::StatusOr<StoredFrameTable> light = ReadFrameTable(path, /*with_thumbs=*/false);
  absl::StatusOr<StoredFrameTable> stored = ReadFrameTable(path);
  if (stored.ok()) {
    FP_FUZZ_CHECK(light.ok(), "accepted with thumbnails, refused without: %s",
                  light.status().ToString().c_str());
  }
  if (!light.ok()) return 0;
  const FrameTable& t = light->table;
  for (size_t i = 0; i < t.kept.size(); ++i) {
    FP_FUZZ_CHECK(t.kept[i] >= 0 && t.kept[i] < static_cast<int64_t>(t.frames.size()) &&
                      (i == 0 || t.kept[i] > t.kept[i - 1]),
                  "kept[%zu] = %lld of %zu frames", i, static_cast<long long>(t.kept[i]),
                  t.frames.size());
  }
  for (const DamagedRange& d : t.damaged) {
    FP_FUZZ_CHECK(d.first_index >= 0 && d.first_index <= static_cast<int64_t>(t.frames.size()),
                  "damaged range at %lld", static_cast<long long>(d.first_index));
  }
  (void)t.positions();
  (void)t.exact_duplicates();
  (void)t.noise_duplicates();
  if (!stored.ok()) return 0;
  const FrameTable& full = stored->table;
  FP_FUZZ_CHECK(full.thumbs.size() == full.kept.size(), "%zu thumbnails for %zu kept frames",
                full.thumbs.size(), full.kept.size());
  // Touch every thumbnail byte: ASan does not see mappings, but a byte past the file's end
  // is a SIGBUS, which libFuzzer reports.
  const size_t record = static_cast<size_t>(full.thumb_width) * full.thumb_height * 3;
  FP_FUZZ_CHECK(full.thumbs.record_bytes() == record, "thumbnail records of %zu bytes, not %zu",
                full.thumbs.record_bytes(), record);
  unsigned sum = 0;
  for (size_t i = 0; i < full.kept.size(); ++i) {
    const uint8_t* thumb = full.thumb(i);
    for (size_t b = 0; b < record; b += 61) sum += thumb[b];
    sum += thumb[record - 1];
  }
  volatile unsigned sink = sum;
  (void)sink;
  return 0;
}
