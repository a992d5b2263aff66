// The window plan (step 3's work file) as the packers and the coordinator read it from shared
// storage: what ReadWindowPlan accepts has ranges and shard numbers its users may index with.
#include <string>

#include "fuzz/fuzz_util.h"
#include "pipeline/artifacts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace framepair;
  const std::string path = fuzz::ScratchDir() + "/plan.pb";
  fuzz::WriteScratchFile(path, data, size);
  absl::StatusOr<WindowPlan> plan = ReadWindowPlan(path);
  if (!plan.ok()) return 0;
  FP_FUZZ_CHECK(plan->shards >= 1 && plan->scenes >= 0, "%d shards, %lld scenes", plan->shards,
                static_cast<long long>(plan->scenes));
  for (const Segment& s : plan->segments) {
    FP_FUZZ_CHECK(s.begin >= 0 && s.end >= s.begin, "segment [%lld, %lld)",
                  static_cast<long long>(s.begin), static_cast<long long>(s.end));
  }
  for (const Window& w : plan->windows) {
    FP_FUZZ_CHECK(w.start >= 0 && w.shard >= 0 && w.shard < plan->shards,
                  "window at %lld in shard %d of %d", static_cast<long long>(w.start), w.shard,
                  plan->shards);
  }
  // What the packer does with its shard number (a few: each call scans the whole plan).
  for (size_t i = 0; i < plan->windows.size() && i < 8; ++i) {
    for (const Window& w : plan->WindowsOfShard(plan->windows[i].shard)) {
      FP_FUZZ_CHECK(w.shard == plan->windows[i].shard, "WindowsOfShard mixed shards");
    }
  }
  return 0;
}
