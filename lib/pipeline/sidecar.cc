#include "pipeline/sidecar.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

using framepair::v1::ReportData;
using framepair::v1::ReportRecording;

ReportRecording RecordingOf(const std::string& role, const FrameTable& table,
                            const AlignOutput& aligned, bool lr_side) {
  ReportRecording r;
  const VideoInfo& v = table.video;
  r.set_role(role);
  r.set_path(v.path);
  r.set_container(v.container);
  r.set_codec(v.codec);
  r.set_pixel_format(v.pixel_format);
  r.set_width(v.width);
  r.set_height(v.height);
  r.set_fps(v.fps);
  r.set_color_matrix(v.color_matrix);
  r.set_full_range(v.full_range);
  r.set_frames(static_cast<int64_t>(table.frames.size()));
  std::string classes(table.frames.size(), static_cast<char>(framepair::v1::FRAME_DUPLICATE));
  for (int64_t k : table.kept) {
    if (k >= 0 && k < static_cast<int64_t>(classes.size())) {
      classes[k] = static_cast<char>(framepair::v1::FRAME_UNPAIRED);
    }
  }
  // A frame a gate refused may still be paired with another partner: paired wins.
  for (const GatedPair& g : aligned.gated) {
    const int64_t f = lr_side ? g.lr_frame : g.hr_frame;
    if (f >= 0 && f < static_cast<int64_t>(classes.size()) &&
        classes[f] == static_cast<char>(framepair::v1::FRAME_UNPAIRED)) {
      classes[f] = static_cast<char>(framepair::v1::FRAME_GATED);
    }
  }
  for (const AlignedPair& p : aligned.pairs) {
    const int64_t f = lr_side ? p.lr_frame : p.hr_frame;
    if (f >= 0 && f < static_cast<int64_t>(classes.size())) {
      classes[f] = static_cast<char>(framepair::v1::FRAME_PAIRED);
    }
  }
  r.set_frame_class(std::move(classes));
  for (const DamagedRange& d : table.damaged) {
    r.add_damaged_first(d.first_index);
    r.add_damaged_frames(d.corrupt_frames);
  }
  return r;
}

}  // namespace

ReportData BuildReportData(const FrameTable* lr, const FrameTable& hr, const AlignOutput& aligned,
                           const WindowPlan& plan, int window,
                           const framepair::v1::Manifest& manifest) {
  ReportData d;
  d.set_format(1);
  if (lr != nullptr) *d.add_recordings() = RecordingOf("lr", *lr, aligned, true);
  *d.add_recordings() = RecordingOf("hr", hr, aligned, false);
  for (const GatedPair& g : aligned.gated) {
    if (lr != nullptr) d.add_gated_lr_frame(g.lr_frame);
    d.add_gated_hr_frame(g.hr_frame);
    d.add_gated_residual(static_cast<float>(g.residual));
    d.add_gated_gate(static_cast<int32_t>(g.gate));
  }
  for (const AlignedPair& p : aligned.pairs) {
    if (lr != nullptr) d.add_lr_frame(p.lr_frame);
    d.add_hr_frame(p.hr_frame);
    d.add_residual(static_cast<float>(p.residual));
  }
  for (const Segment& s : plan.segments) {
    d.add_segment_begin(s.begin);
    d.add_segment_end(s.end);
  }
  for (const Window& w : plan.windows) {
    d.add_window_start(w.start);
    d.add_window_shard(w.shard);
  }
  d.set_window(window);
  for (const auto& shard : manifest.shards()) d.add_shard_sha256(shard.sha256());
  for (int c = 0; c < 3; ++c) {
    d.add_colour_gain(aligned.stats.colour_gain[c]);
    d.add_colour_offset(aligned.stats.colour_offset[c]);
  }
  d.set_colour_samples(aligned.stats.colour_samples);
  d.set_start_offset(aligned.stats.start_offset);
  return d;
}

absl::Status WriteReportData(const std::string& dir, const ReportData& data) {
  std::string bytes;
  if (!data.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the report sidecar");
  }
  return WriteFileAtomically(absl::StrCat(dir, "/", kReportSidecarName), bytes);
}

absl::StatusOr<ReportData> ReadReportData(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kReportSidecarName);
  FP_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  ReportData d;
  auto damaged = [&path](const std::string& why) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", why, "; it is only needed for the report: delete it, or run again"));
  };
  if (!d.ParseFromString(bytes)) return damaged("not a framepair report sidecar");
  if (d.format() != 1) return damaged(absl::StrCat("unknown format ", d.format()));
  const int pairs = d.hr_frame_size();
  if (d.residual_size() != pairs || (d.lr_frame_size() != 0 && d.lr_frame_size() != pairs) ||
      d.segment_begin_size() != d.segment_end_size() ||
      d.window_start_size() != d.window_shard_size()) {
    return damaged("its arrays disagree in length");
  }
  const int gated = d.gated_hr_frame_size();
  if (d.gated_residual_size() != gated || d.gated_gate_size() != gated ||
      (d.gated_lr_frame_size() != 0 && d.gated_lr_frame_size() != gated)) {
    return damaged("its gated pair arrays disagree in length");
  }
  for (const auto& r : d.recordings()) {
    if (static_cast<int64_t>(r.frame_class().size()) != r.frames() ||
        r.damaged_first_size() != r.damaged_frames_size()) {
      return damaged(absl::StrCat("recording ", r.role(), " is inconsistent"));
    }
  }
  for (int i = 0; i < d.window_start_size(); ++i) {
    if (d.window_start(i) < 0 || d.window_start(i) + std::max(d.window(), 1) > pairs) {
      return damaged(absl::StrCat("window ", i, " lies outside the pairs"));
    }
  }
  for (int i = 0; i < d.segment_begin_size(); ++i) {
    if (d.segment_begin(i) < 0 || d.segment_end(i) < d.segment_begin(i) ||
        d.segment_end(i) > pairs) {
      return damaged(absl::StrCat("segment ", i, " lies outside the pairs"));
    }
  }
  return d;
}

std::string SidecarMismatch(const ReportData& data, const framepair::v1::Manifest& manifest) {
  if (data.shard_sha256_size() != manifest.shards_size()) {
    return absl::StrCat("it describes ", data.shard_sha256_size(), " shard(s), the manifest lists ",
                        manifest.shards_size());
  }
  for (int i = 0; i < manifest.shards_size(); ++i) {
    if (data.shard_sha256(i) != manifest.shards(i).sha256()) {
      return absl::StrCat("it describes another dataset (shard ", i, " differs)");
    }
  }
  return "";
}

}  // namespace framepair
