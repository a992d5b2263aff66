// The report sidecar (proto/framepair/v1/report.proto): per-frame classes, pairs with their
// residuals, segments and windows of one run, stored beside the shards as "report.binpb" so a
// report (lib/report) can be made from the dataset directory alone, without decoding the
// recordings again. Built from the artifacts the pipeline already has, so `framepair run` and
// (later) the coordinator write the same thing.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "framepair/v1/manifest.pb.h"
#include "framepair/v1/report.pb.h"
#include "ingest/ingest.h"
#include "pipeline/artifacts.h"

namespace framepair {

inline constexpr char kReportSidecarName[] = "report.binpb";
// The page lib/report makes from the sidecar, beside it.
inline constexpr char kReportPageName[] = "report.html";

// `lr` is null for HR-only footage. `manifest` needs only its shards (their sha256 bind the
// sidecar to this dataset).
framepair::v1::ReportData BuildReportData(const FrameTable* lr, const FrameTable& hr,
                                          const AlignOutput& aligned, const WindowPlan& plan,
                                          int window, const framepair::v1::Manifest& manifest);

// Writes DIR/report.binpb atomically (util/file.h).
absl::Status WriteReportData(const std::string& dir, const framepair::v1::ReportData& data);

// NOT_FOUND without a sidecar; DATA_LOSS naming the file for one that does not parse or whose
// arrays disagree in length (a reader indexes them together).
absl::StatusOr<framepair::v1::ReportData> ReadReportData(const std::string& dir);

// "" when `data` describes the dataset of `manifest` (same shards, in order), else why not.
std::string SidecarMismatch(const framepair::v1::ReportData& data,
                            const framepair::v1::Manifest& manifest);

}  // namespace framepair
