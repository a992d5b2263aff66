#include "dataset/run_manifest.h"

#include <utility>

#include "util/version.h"

namespace framepair {
namespace {

void AddFrames(const PackedFrames& frames, framepair::v1::RunStats* stats) {
  stats->set_distinct_lr_frames(stats->distinct_lr_frames() + frames.distinct_lr);
  stats->set_distinct_hr_frames(stats->distinct_hr_frames() + frames.distinct_hr);
  stats->set_pngs_encoded(stats->pngs_encoded() + frames.pngs);
}

}  // namespace

RunManifestBuilder::RunManifestBuilder(framepair::v1::RunParameters parameters) {
  *manifest_.mutable_parameters() = std::move(parameters);
}

RunManifestBuilder& RunManifestBuilder::AddSource(const framepair::v1::SourceEntry& source) {
  *manifest_.add_sources() = source;
  return *this;
}

RunManifestBuilder& RunManifestBuilder::AddShard(const framepair::v1::ShardEntry& entry,
                                                 const PackedFrames& frames) {
  *manifest_.add_shards() = entry;
  AddFrames(frames, manifest_.mutable_stats());
  return *this;
}

RunManifestBuilder& RunManifestBuilder::SetValidation(const framepair::v1::ShardEntry& entry,
                                                      const PackedFrames& frames) {
  *manifest_.mutable_validation() = entry;
  AddFrames(frames, manifest_.mutable_stats());
  return *this;
}

RunManifestBuilder& RunManifestBuilder::SetAlignment(int64_t pairs_aligned, int64_t pairs_rejected,
                                                     double mean_residual) {
  framepair::v1::RunStats* stats = manifest_.mutable_stats();
  stats->set_pairs_aligned(pairs_aligned);
  stats->set_pairs_rejected(pairs_rejected);
  stats->set_mean_residual(mean_residual);
  return *this;
}

RunManifestBuilder& RunManifestBuilder::SetScenes(int64_t scenes, int64_t windows,
                                                  const framepair::v1::Accounting& accounting) {
  framepair::v1::RunStats* stats = manifest_.mutable_stats();
  stats->set_scenes(scenes);
  stats->set_windows(windows);
  *stats->mutable_accounting() = accounting;
  return *this;
}

framepair::v1::Manifest RunManifestBuilder::Build(int hr_width, int hr_height) const {
  framepair::v1::Manifest manifest = manifest_;
  const framepair::v1::RunParameters& p = manifest.parameters();
  manifest.set_version(kFramepairVersion);
  manifest.set_split("train");
  int64_t examples = 0;
  for (const auto& shard : manifest.shards()) examples += shard.examples();
  manifest.set_total_examples(examples);
  if (p.format() == "single") {
    manifest.add_features("images");
    if (p.provenance()) manifest.add_features("images_frame");
  } else {
    manifest.add_features("input");
    manifest.add_features("target");
    if (p.provenance()) {
      manifest.add_features("input_frame");
      manifest.add_features("target_frame");
    }
  }
  manifest.set_hr_width(hr_width);
  manifest.set_hr_height(hr_height);
  // scale is 1..16 in any parameters a run accepted; 0 only in a hand-made message.
  const int scale = p.scale() > 0 ? p.scale() : 1;
  manifest.set_lr_width(hr_width / scale);
  manifest.set_lr_height(hr_height / scale);
  return manifest;
}

}  // namespace framepair
