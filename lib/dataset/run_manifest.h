// The manifest of one run of the pipeline over one footage pair: what `framepair run` publishes
// as manifest.json, and what the coordinator publishes for each job (the pair's entry and its
// part of the dataset's manifest). One builder, so both write the same fields from the same
// figures and `verify` reads either the same way.
#pragma once

#include <cstdint>

#include "framepair/v1/manifest.pb.h"

namespace framepair {

// What packing one file took: distinct frames decoded for it and PNGs encoded.
struct PackedFrames {
  int64_t distinct_lr = 0;
  int64_t distinct_hr = 0;
  int64_t pngs = 0;
};

class RunManifestBuilder {
 public:
  // The run's effective parameters (ParametersFor of the options it ran with).
  explicit RunManifestBuilder(framepair::v1::RunParameters parameters);

  // In order: LR (unless HR-only), then HR.
  RunManifestBuilder& AddSource(const framepair::v1::SourceEntry& source);
  // The train shards, in order.
  RunManifestBuilder& AddShard(const framepair::v1::ShardEntry& entry, const PackedFrames& frames);
  RunManifestBuilder& SetValidation(const framepair::v1::ShardEntry& entry,
                                    const PackedFrames& frames);
  RunManifestBuilder& SetAlignment(int64_t pairs_aligned, int64_t pairs_rejected,
                                   double mean_residual);
  // `windows`: windows written to the train shards (the accounting has the validation's).
  RunManifestBuilder& SetScenes(int64_t scenes, int64_t windows,
                                const framepair::v1::Accounting& accounting);

  // Everything set above plus version, split, example total (of the train shards), feature
  // names (from format and provenance) and frame sizes (LR = HR / scale).
  framepair::v1::Manifest Build(int hr_width, int hr_height) const;

 private:
  framepair::v1::Manifest manifest_;
};

}  // namespace framepair
