// The aligned pairs (step 2's work file) as the planner and packers read them from shared
// storage.
#include <cmath>
#include <string>

#include "fuzz/fuzz_util.h"
#include "pipeline/artifacts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace framepair;
  const std::string path = fuzz::ScratchDir() + "/pairs.pb";
  fuzz::WriteScratchFile(path, data, size);
  absl::StatusOr<AlignOutput> aligned = ReadPairs(path);
  if (!aligned.ok()) return 0;
  for (const AlignedPair& p : aligned->pairs) {
    FP_FUZZ_CHECK(p.lr_frame >= 0 && p.hr_frame >= 0, "negative frame index in a pair");
  }
  const AlignStats& s = aligned->stats;
  FP_FUZZ_CHECK(s.rejected_spike >= 0 && s.rejected_residual >= 0 && s.rejected_ambiguous >= 0 &&
                    s.reanchors >= 0 && s.rejected() >= 0,
                "negative counts accepted");
  // The write/read round trip is exact (artifacts.h).
  const std::string copy = fuzz::ScratchDir() + "/pairs-copy.pb";
  absl::Status written = WritePairs(copy, *aligned);
  FP_FUZZ_CHECK(written.ok(), "rewriting failed: %s", written.ToString().c_str());
  absl::StatusOr<AlignOutput> again = ReadPairs(copy);
  FP_FUZZ_CHECK(again.ok() && again->pairs.size() == aligned->pairs.size() &&
                    again->warnings == aligned->warnings,
                "rewritten pairs read differently: %s", again.status().ToString().c_str());
  return 0;
}
