// A dataset's report: one self-contained HTML page (inline SVG, data-URI PNGs, no external
// URL, no script) that a person opens to judge whether a dataset is aligned: the inputs and
// options, a timeline per recording (paired, duplicate, unpaired and damaged frames, segment
// breaks, windows), the residual of every pair with the gate drawn, contact sheets of sampled
// windows and of the worst pairs (LR, HR and their amplified difference), and the accounting.
//
// It reads only the dataset directory: manifest.json, the shards, and the sidecar
// (pipeline/sidecar.h) for what the shards do not hold. So `framepair run`, `framepair
// report DIR` and (later) the coordinator make the same page from the same files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace framepair {

struct ReportOptions {
  int sample_windows = 12;  // windows in the contact sheet (0: none)
  // Picks the sampled windows; unset: the dataset's own --seed, so a report is reproducible.
  std::optional<uint64_t> seed;
  int worst_pairs = 10;  // pairs with the largest residual, in a sheet of their own (0: none)
  int tile_width = 104;  // pixels of one frame in the sheets (10 fit in 1100 px)
  int diff_gain = 4;     // |LR - HR| is multiplied by this so small misalignments show
  // What the page calls the dataset ("job j0123 of dataset games"); empty: the directory.
  std::string title;
};

// The page. NOT_FOUND / DATA_LOSS / INVALID_ARGUMENT naming the file when the directory holds
// no readable dataset. A missing, damaged or stale sidecar is not an error: the page then says
// so and shows what the manifest and shards alone allow (no timeline, no residuals).
absl::StatusOr<std::string> RenderReport(const std::string& dir, const ReportOptions& options);

// RenderReport written atomically to `out_path` (util/file.h).
absl::Status WriteReport(const std::string& dir, const std::string& out_path,
                         const ReportOptions& options);

}  // namespace framepair
