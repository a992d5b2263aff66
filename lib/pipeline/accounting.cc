#include "pipeline/accounting.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace framepair {
namespace {

framepair::v1::RecordingAccount Account(const std::string& role, const FrameTable& t,
                                        const std::vector<AlignedPair>& pairs, bool hr_side) {
  framepair::v1::RecordingAccount a;
  a.set_role(role);
  a.set_frames_decoded(static_cast<int64_t>(t.frames.size()));
  a.set_duplicates(t.exact_duplicates() + t.noise_duplicates());
  a.set_distinct(static_cast<int64_t>(t.kept.size()));
  a.set_paired(static_cast<int64_t>(pairs.size()));
  a.set_unpaired(a.distinct() - a.paired());

  // Kept frames and pair frames are both ascending: one merge finds the unpaired runs.
  std::vector<framepair::v1::UnpairedRange> runs;
  size_t p = 0;
  for (size_t k = 0; k < t.kept.size();) {
    const int64_t frame = t.kept[k];
    auto pair_frame = [&](size_t q) { return hr_side ? pairs[q].hr_frame : pairs[q].lr_frame; };
    while (p < pairs.size() && pair_frame(p) < frame) ++p;
    if (p < pairs.size() && pair_frame(p) == frame) {
      ++k;
      continue;
    }
    size_t end = k;
    while (end < t.kept.size() && (p >= pairs.size() || t.kept[end] < pair_frame(p))) ++end;
    framepair::v1::UnpairedRange r;
    r.set_first_frame(frame);
    r.set_last_frame(t.kept[end - 1]);
    r.set_frames(static_cast<int64_t>(end - k));
    r.set_first_seconds(t.seconds(r.first_frame()).value_or(0));
    r.set_last_seconds(t.seconds(r.last_frame()).value_or(0));
    runs.push_back(r);
    k = end;
  }
  std::stable_sort(runs.begin(), runs.end(),
                   [](const auto& x, const auto& y) { return x.frames() > y.frames(); });
  if (runs.size() > kLongestUnpairedRanges) runs.resize(kLongestUnpairedRanges);
  std::sort(runs.begin(), runs.end(),
            [](const auto& x, const auto& y) { return x.first_frame() < y.first_frame(); });
  for (auto& r : runs) *a.add_longest_unpaired() = std::move(r);
  return a;
}

std::string UnpairedWarning(const FrameTable& t, const framepair::v1::RecordingAccount& a) {
  const double fraction = a.distinct() > 0 ? static_cast<double>(a.unpaired()) / a.distinct() : 0;
  if (fraction <= kUnpairedWarnFraction) return "";
  std::string where;
  for (const auto& r : a.longest_unpaired()) {
    absl::StrAppend(&where, where.empty() ? "" : ", ", DescribeRange(r));
  }
  return absl::StrFormat(
      "%s (%s): %d of %d distinct frames (%.1f %%) have no partner in the other recording; "
      "longest runs: %s. Look there for a stall, an overlay only one recording has "
      "(--ignore-region), or footage only one recording shows",
      a.role() == "lr" ? "LR" : "HR", t.video.path, a.unpaired(), a.distinct(), 100 * fraction,
      where);
}

}  // namespace

std::string DescribeRange(const framepair::v1::UnpairedRange& r) {
  return absl::StrFormat("frames %d-%d (%.2f-%.2f s)", r.first_frame(), r.last_frame(),
                         r.first_seconds(), r.last_seconds());
}

framepair::v1::Accounting BuildAccounting(const FrameTable* lr, const FrameTable& hr,
                                          const std::vector<AlignedPair>& pairs,
                                          const AlignStats& align,
                                          const std::vector<std::string>& align_warnings,
                                          const SceneStats& scene, const SampleStats& sample) {
  framepair::v1::Accounting a;
  if (lr != nullptr) *a.add_recordings() = Account("lr", *lr, pairs, /*hr_side=*/false);
  *a.add_recordings() = Account("hr", hr, pairs, /*hr_side=*/true);
  a.set_rejected_spike(align.rejected_spike);
  a.set_rejected_residual(align.rejected_residual);
  a.set_rejected_ambiguous(align.rejected_ambiguous);
  a.set_reanchors(align.reanchors);
  a.set_rate_ratio(align.rate_ratio);
  a.set_breaks_lost_moment(scene.lost_moments);
  a.set_breaks_stall(scene.stalls);
  a.set_max_jump_lr(scene.max_jump_lr);
  a.set_max_jump_hr(scene.max_jump_hr);
  a.set_windows_requested(sample.requested);
  if (align.colour_samples > 0) {
    for (int c = 0; c < 3; ++c) {
      a.add_colour_gain(align.colour_gain[c]);
      a.add_colour_offset(align.colour_offset[c]);
    }
  }
  for (const std::string& w : align_warnings) a.add_warnings(w);
  if (lr != nullptr) {
    for (const auto& [table, account] :
         {std::pair{lr, &a.recordings(0)}, std::pair{&hr, &a.recordings(1)}}) {
      if (std::string w = UnpairedWarning(*table, *account); !w.empty()) a.add_warnings(w);
    }
  }
  return a;
}

}  // namespace framepair
