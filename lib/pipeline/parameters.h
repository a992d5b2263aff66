// RunOptions <-> RunParameters (manifest.proto): the output-affecting options of a run as a
// message. The manifest records them, and a job submitted to the coordinator carries them to
// the workers, which rebuild the same RunOptions.
#pragma once

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"
#include "pipeline/pipeline.h"

namespace framepair {

framepair::v1::RunParameters ParametersFor(const RunOptions& options);

// Paths, out_dir, threads and the decoder limits (not dataset parameters) stay empty/default.
// INVALID_ARGUMENT for unknown names (format, align mode, detector, overlap).
absl::StatusOr<RunOptions> OptionsFromParameters(const framepair::v1::RunParameters& p);

// Fills the derived fields (sample.shards, pack.scale/window/gzip/threads, pack.decoder's
// max_frame_pixels from ingest.decoder) and validates the options the way `framepair run`
// does. INVALID_ARGUMENT naming the flag.
absl::Status NormalizeRunOptions(RunOptions* options);

// OptionsFromParameters, then NormalizeRunOptions: the options a job's parameters stand for
// (what the coordinator checks at submit, each worker runs with, and the publisher records).
absl::StatusOr<RunOptions> OptionsFor(const framepair::v1::RunParameters& parameters);

// The ingest options for one recording ("lr" or "hr"): options.ingest with the ignore
// regions in that recording's pixels (LR as given, HR times scale).
IngestOptions IngestOptionsFor(const RunOptions& options, const std::string& role);

}  // namespace framepair
