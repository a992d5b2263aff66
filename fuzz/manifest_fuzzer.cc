// manifest.json as ReadManifest reads it from a dataset directory (`framepair verify`, the
// coordinator's publisher, anyone given a dataset): protobuf's JSON parser, then the file name
// rule. Whatever ReadManifest accepts must only name plain shard files inside the directory.
#include <sys/stat.h>

#include <string>

#include "dataset/dataset.h"
#include "fuzz/fuzz_util.h"

namespace {

void CheckPlainName(const std::string& name) {
  FP_FUZZ_CHECK(framepair::IsShardFileName(name) && !name.empty() &&
                    name.find('/') == std::string::npos && name.find('\0') == std::string::npos &&
                    name != "." && name != "..",
                "accepted manifest lists '%s'", name.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = framepair::fuzz::ScratchDir();
  framepair::fuzz::WriteScratchFile(dir + "/manifest.json", data, size);
  absl::StatusOr<framepair::v1::Manifest> manifest = framepair::ReadManifest(dir);
  if (!manifest.ok()) return 0;
  for (const auto& shard : manifest->shards()) CheckPlainName(shard.file());
  for (const auto& pair : manifest->pairs()) {
    for (const std::string& file : pair.shard_files()) CheckPlainName(file);
  }
  // What was read writes back and reads again to the same message (the publisher rewrites
  // manifests it has read).
  const std::string out_dir = dir + "/rewrite";
  ::mkdir(out_dir.c_str(), 0700);
  absl::Status written = framepair::WriteManifest(out_dir, *manifest);
  FP_FUZZ_CHECK(written.ok(), "rewriting failed: %s", written.ToString().c_str());
  absl::StatusOr<framepair::v1::Manifest> again = framepair::ReadManifest(out_dir);
  FP_FUZZ_CHECK(again.ok() && again->SerializeAsString() == manifest->SerializeAsString(),
                "rewritten manifest reads differently: %s", again.status().ToString().c_str());
  return 0;
}
