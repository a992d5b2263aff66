// The options that shape a dataset, shared by `framepair run` (in process) and
// `framepair submit` (through the coordinator): one flag list, one parser, so both commands
// accept exactly the same spelling and produce the same bytes.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "pipeline/pipeline.h"

namespace framepair::cli {

struct RunFlags {
  RunOptions options;
  std::string format = "pair";
  std::string align = "sequence";
  std::string scene = "adaptive";
  std::string overlap = "allow";
  double scene_threshold = -1;
  bool hr_only = false;
  bool no_provenance = false;
  bool no_dedup = false;
  std::vector<std::string> ignore_regions;  // --ignore-region X,Y,W,H, as given
};

// --windows --density --seed --scale --window --shards --png-level --hr-only --format
// --no-provenance --gzip --align --max-residual --spike-ratio --scene --scene-threshold
// --min-scene-len --max-jump --max-offset --band --overlap --min-motion --no-dedup
// --ignore-region --lr-range --hr-range --lr-matrix --hr-matrix. Values land in *flags.
void AddDatasetFlags(boost::program_options::options_description& desc, RunFlags* flags);

// Copies the parsed names (format, align, ...) and regions into flags->options.
// INVALID_ARGUMENT naming the flag for an unknown or malformed value.
absl::Status ApplyDatasetFlags(RunFlags* flags);

}  // namespace framepair::cli
