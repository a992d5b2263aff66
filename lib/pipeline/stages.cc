#include "pipeline/stages.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pipeline/accounting.h"
#include "pipeline/source_hash.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

ThumbSequence KeptThumbs(const FrameTable& t) {
  ThumbSequence seq{t.thumb_width, t.thumb_height, t.kept.data(), t.thumbs.data(), t.kept.size()};
  seq.release = [store = &t.thumbs] { store->ReleaseResident(); };
  seq.copy = [store = &t.thumbs](size_t first, size_t count, uint8_t* out) {
    store->Copy(first, count, out);
  };
  return seq;
}

// Presentation times in seconds of the kept frames; empty when the stream has no usable time
// base or its timestamps do not increase (then alignment goes by pictures alone).
std::vector<double> KeptTimes(const FrameTable& t) {
  std::vector<double> times;
  times.reserve(t.kept.size());
  for (int64_t f : t.kept) {
    const std::optional<double> s = t.seconds(f);
    if (!s || (!times.empty() && !(*s > times.back()))) return {};
    times.push_back(*s);
  }
  return times;
}

// Damaged ranges are invisible in frame indexes (undecodable frames get none), so segments are
// split explicitly where a pair's frame crosses the first index after a damaged range.
std::vector<Segment> SplitAtDamage(const std::vector<Segment>& segments,
                                   const std::vector<AlignedPair>& pairs, const FrameTable* lr,
                                   const FrameTable& hr) {
  auto crosses = [](const FrameTable* t, int64_t a, int64_t b) {
    if (t == nullptr) return false;
    for (const DamagedRange& d : t->damaged) {
      if (a < d.first_index && d.first_index <= b) return true;
    }
    return false;
  };
  std::vector<Segment> out;
  for (const Segment& s : segments) {
    int64_t begin = s.begin;
    for (int64_t p = s.begin + 1; p < s.end; ++p) {
      if (crosses(lr, pairs[p - 1].lr_frame, pairs[p].lr_frame) ||
          crosses(&hr, pairs[p - 1].hr_frame, pairs[p].hr_frame)) {
        out.push_back({begin, p});
        begin = p;
      }
    }
    out.push_back({begin, s.end});
  }
  return out;
}

std::vector<double> Motion(const ThumbSequence& thumbs) {
  std::vector<double> motion;
  for (size_t i = 0; i + 1 < thumbs.size; ++i) {
    thumbs.ReleaseEvery(i);
    motion.push_back(ThumbDistance(thumbs.thumb(i), thumbs.thumb(i + 1), thumbs.thumb_bytes()));
  }
  thumbs.ReleaseResident();
  return motion;
}

// Duplicate runs longer than this are stalls of the capture (a frozen picture), not the
// game's render rate, and are left out of it.
constexpr int64_t kStallFrames = 30;

// Distinct frames per second of a recording, the basis of the alignment's rate prior. 0 when
// the stream's frame rate is unknown.
double DistinctRate(const FrameTable& t) {
  if (t.video.fps <= 0 || t.frames.empty()) return 0;
  int64_t frames = static_cast<int64_t>(t.frames.size());
  int64_t run = 0;
  for (const FrameRecord& f : t.frames) {
    if (f.dup != DupKind::kKept) {
      ++run;
      continue;
    }
    if (run > kStallFrames) frames -= run;
    run = 0;
  }
  if (run > kStallFrames) frames -= run;
  if (frames <= 0) return 0;
  return t.video.fps * static_cast<double>(t.kept.size()) / static_cast<double>(frames);
}

// Colour agreement of the pairs (AlignStats::colour_*). A range mismatch scales by 14-16 %;
// encoders and downscaling stay within about 1 %.
constexpr double kColourRefuseGain = 0.08;
constexpr double kColourWarnGain = 0.05;
constexpr double kColourWarnShift = 8;  // levels at mid grey

std::string ColourTags(const FrameTable& t) {
  return absl::StrCat(t.video.path, ": ", t.video.color_matrix,
                      t.video.full_range ? " full range" : " limited range");
}

// A warning for a moderate colour disagreement, an error for a gross one, OK otherwise.
absl::Status JudgeColour(const FrameTable& lr, const FrameTable& hr, const AlignStats& s,
                         std::vector<std::string>* warnings) {
  if (s.colour_samples == 0) return absl::OkStatus();
  double worst_gain = 0, worst_shift = 0;
  for (int c = 0; c < 3; ++c) {
    worst_gain = std::max(worst_gain, std::abs(s.colour_gain[c] - 1));
    worst_shift =
        std::max(worst_shift, std::abs(s.colour_gain[c] * 128 + s.colour_offset[c] - 128));
  }
  if (worst_gain <= kColourWarnGain && worst_shift <= kColourWarnShift) return absl::OkStatus();
  const std::string fit =
      absl::StrFormat("HR = %.3f x LR %+.1f (R), %.3f x LR %+.1f (G), %.3f x LR %+.1f (B)",
                      s.colour_gain[0], s.colour_offset[0], s.colour_gain[1], s.colour_offset[1],
                      s.colour_gain[2], s.colour_offset[2]);
  const std::string what = absl::StrCat(
      "the LR and HR recordings disagree in colour after alignment: ", fit, "; converted as ",
      ColourTags(lr), ", ", ColourTags(hr),
      ". A gain near 0.86 or 1.16 is a range mismatch (one recording is full range, the other "
      "limited, or one is mis-tagged): set the true range with --lr-range or --hr-range "
      "(full|limited); a matrix mismatch shows in the colourful channels: --lr-matrix or "
      "--hr-matrix (bt601|bt709|bt2020)");
  if (worst_gain > kColourRefuseGain) return absl::InvalidArgumentError(what);
  warnings->push_back(what);
  return absl::OkStatus();
}

absl::Status Prefixed(const absl::Status& s, const std::string& prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

}  // namespace

absl::StatusOr<StoredFrameTable> IngestSource(const std::string& role, const std::string& path,
                                              const IngestOptions& options,
                                              const ProgressFn& progress,
                                              const std::atomic<bool>* cancel) {
  StoredFrameTable out;
  FP_ASSIGN_OR_RETURN(out.table, IngestVideo(path, options, progress, cancel));
  FP_ASSIGN_OR_RETURN(SourceHash hash, HashSource(path));
  out.source = SourceEntryFor(role, path, hash.sha256, hash.bytes, out.table);
  return out;
}

absl::Status CheckSources(const FrameTable* lr, const FrameTable& hr, int scale, int window) {
  const VideoInfo& h = hr.video;
  if (lr == nullptr) {
    if (h.width % scale != 0 || h.height % scale != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          h.path, " is ", h.width, "x", h.height, ", which is not divisible by --scale ", scale,
          "; crop the recording or choose another --scale"));
    }
  } else {
    const VideoInfo& l = lr->video;
    if (h.width != l.width * scale || h.height != l.height * scale) {
      return absl::InvalidArgumentError(absl::StrCat(
          h.path, " is ", h.width, "x", h.height, " but ", l.path, " is ", l.width, "x", l.height,
          "; with --scale ", scale, " HR must be exactly ", l.width * scale, "x", l.height * scale,
          " (check that --lr and --hr are not swapped, or set --scale)"));
    }
  }
  for (const FrameTable* t : std::initializer_list<const FrameTable*>{lr, &hr}) {
    if (t != nullptr && static_cast<int64_t>(t->kept.size()) < window) {
      return absl::InvalidArgumentError(absl::StrCat(
          t->video.path, " has only ", t->kept.size(), " distinct frames; a window needs ", window,
          " (use longer footage or a smaller --window)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AlignOutput> AlignSources(const FrameTable* lr, const FrameTable& hr,
                                         const AlignOptions& options) {
  AlignOutput out;
  if (lr == nullptr) {
    for (int64_t f : hr.kept) out.pairs.push_back({f, f, 0.0});
    out.stats.pairs = out.stats.matched = static_cast<int64_t>(out.pairs.size());
    return out;
  }
  AlignOptions with_prior = options;
  const double lr_rate = DistinctRate(*lr), hr_rate = DistinctRate(hr);
  if (lr_rate > 0 && hr_rate > 0) with_prior.rate_ratio = hr_rate / lr_rate;
  const std::vector<double> lr_time = KeptTimes(*lr), hr_time = KeptTimes(hr);
  ThumbSequence lr_thumbs = KeptThumbs(*lr), hr_thumbs = KeptThumbs(hr);
  lr_thumbs.time = lr_time.empty() ? nullptr : lr_time.data();
  hr_thumbs.time = hr_time.empty() ? nullptr : hr_time.data();
  absl::StatusOr<AlignResult> aligned = Align(lr_thumbs, hr_thumbs, with_prior);
  if (!aligned.ok()) {
    return Prefixed(aligned.status(), absl::StrCat(lr->video.path, " and ", hr.video.path));
  }
  out.pairs = std::move(aligned->pairs);
  out.gated = std::move(aligned->gated);
  out.stats = aligned->stats;
  FP_RETURN_IF_ERROR(JudgeColour(*lr, hr, out.stats, &out.warnings));
  return out;
}

absl::StatusOr<PairThumbs> PairThumbsOf(const FrameTable& t, const std::vector<AlignedPair>& pairs,
                                        bool use_hr_index) {
  PairThumbs out;
  out.positions.reserve(pairs.size());
  for (const AlignedPair& p : pairs) {
    const int64_t frame = use_hr_index ? p.hr_frame : p.lr_frame;
    const auto it = std::lower_bound(t.kept.begin(), t.kept.end(), frame);
    if (it == t.kept.end() || *it != frame) {
      return absl::InvalidArgumentError(absl::StrCat(t.video.path, ": aligned frame ", frame,
                                                     " is not a kept frame of this video"));
    }
    out.positions.push_back(static_cast<size_t>(it - t.kept.begin()));
  }
  out.sequence = KeptThumbs(t);
  out.sequence.frame_index = nullptr;
  out.sequence.size = out.positions.size();
  out.sequence.position = out.positions.data();
  return out;
}

namespace {

struct ValidationDraw {
  bool used = false;
  std::vector<Segment> train_segments;
  std::vector<Window> windows;
  framepair::v1::ValidationSplit split;
};

// The validation split of --val-windows/--val-fraction: whole scenes held out (lib/sample),
// their windows drawn with a seed of their own. Scene k spans the pairs between the k-th and
// the (k+1)-th cut.
absl::StatusOr<ValidationDraw> DrawValidation(const std::vector<Segment>& segments,
                                              const std::vector<int64_t>& cuts,
                                              const std::vector<AlignedPair>& pairs, bool hr_side,
                                              const std::vector<double>& motion,
                                              const SampleOptions& sample) {
  ValidationDraw draw;
  int64_t eligible = 0;
  for (const Segment& s : segments) eligible += std::max<int64_t>(0, s.size() - sample.window + 1);
  const double train_requested =
      sample.windows > 0 ? static_cast<double>(sample.windows) : sample.density * eligible;
  int64_t wanted = sample.val_windows;
  if (wanted == 0 && sample.val_fraction > 0) {
    wanted = std::max<int64_t>(1, std::llround(sample.val_fraction * train_requested));
  }
  if (wanted <= 0) return draw;
  draw.used = true;
  std::vector<int64_t> scene_of_segment;
  for (const Segment& s : segments) {
    scene_of_segment.push_back(std::upper_bound(cuts.begin(), cuts.end(), s.begin) - cuts.begin());
  }
  const uint64_t seed = ValidationSeed(sample.seed);
  const double density = eligible > 0 ? train_requested / static_cast<double>(eligible) : 1.0;
  FP_ASSIGN_OR_RETURN(SceneSplit split, HoldOutScenes(segments, scene_of_segment, sample.window,
                                                      wanted, density, seed));
  SampleOptions options = sample;
  options.windows = wanted;
  options.seed = seed;
  options.shards = 1;
  FP_ASSIGN_OR_RETURN(SampleResult drawn, SampleWindows(split.validation, motion, options));
  draw.train_segments = std::move(split.train);
  draw.windows = std::move(drawn.windows);
  draw.split.set_seed(seed);
  draw.split.set_scenes(static_cast<int64_t>(cuts.size()) + (pairs.empty() ? 0 : 1));
  draw.split.set_eligible_starts(split.eligible_starts);
  draw.split.set_windows_requested(wanted);
  draw.split.set_windows_written(static_cast<int64_t>(draw.windows.size()));
  for (int64_t scene : split.held_out) {
    const int64_t first = scene == 0 ? 0 : cuts[scene - 1];
    const int64_t end = scene < static_cast<int64_t>(cuts.size())
                            ? cuts[scene]
                            : static_cast<int64_t>(pairs.size());
    framepair::v1::HeldOutScene* h = draw.split.add_held_out();
    h->set_scene(scene);
    h->set_first_frame(hr_side ? pairs[first].hr_frame : pairs[first].lr_frame);
    h->set_last_frame(hr_side ? pairs[end - 1].hr_frame : pairs[end - 1].lr_frame);
  }
  return draw;
}

}  // namespace

absl::StatusOr<WindowPlan> PlanWindows(const ThumbSequence& pair_thumbs, const FrameTable* lr,
                                       const FrameTable& hr, const AlignOutput& aligned,
                                       const SceneOptions& scene, const SampleOptions& sample,
                                       const std::string& names) {
  const std::vector<AlignedPair>& pairs = aligned.pairs;
  const FrameTable& scene_side = lr != nullptr ? *lr : hr;
  const KeptFrames kept{std::span<const int64_t>(scene_side.kept), hr.kept, scene_side.scene_scores,
                        lr == nullptr};
  absl::StatusOr<SceneResult> scenes = DetectScenes(pair_thumbs, pairs, kept, scene);
  if (!scenes.ok()) return Prefixed(scenes.status(), names);

  WindowPlan plan;
  plan.segments = SplitAtDamage(scenes->segments, pairs, lr, hr);
  plan.scenes = static_cast<int64_t>(scenes->cut_positions.size()) + (pairs.empty() ? 0 : 1);
  plan.shards = sample.shards;
  std::vector<double> motion;
  if (sample.min_motion > 0) motion = Motion(pair_thumbs);
  absl::StatusOr<ValidationDraw> validation =
      DrawValidation(plan.segments, scenes->cut_positions, pairs, lr == nullptr, motion, sample);
  if (!validation.ok()) return Prefixed(validation.status(), names);
  const std::vector<Segment>& train_segments =
      validation->used ? validation->train_segments : plan.segments;
  absl::StatusOr<SampleResult> sampled = SampleWindows(train_segments, motion, sample);
  if (!sampled.ok()) return Prefixed(sampled.status(), names);
  plan.windows = std::move(sampled->windows);
  plan.accounting = BuildAccounting(lr, hr, pairs, aligned.stats, aligned.warnings, scenes->stats,
                                    sampled->stats);
  plan.accounting.set_windows_written(static_cast<int64_t>(plan.windows.size()));
  if (validation->used) {
    for (Window w : validation->windows) {
      w.shard = plan.ValidationShard();
      plan.windows.push_back(w);
    }
    *plan.accounting.mutable_validation() = validation->split;
    if (validation->split.windows_written() < validation->split.windows_requested()) {
      plan.accounting.add_warnings(absl::StrCat(
          "validation: ", validation->split.windows_written(), " of ",
          validation->split.windows_requested(),
          " windows written (the held-out scenes have no room for more without taking every "
          "scene from training)"));
    }
  }
  return plan;
}

framepair::v1::SourceEntry SourceEntryFor(const std::string& role, const std::string& path,
                                          const std::string& sha256, int64_t bytes,
                                          const FrameTable& table) {
  framepair::v1::SourceEntry e;
  e.set_role(role);
  e.set_path(path);
  e.set_sha256(sha256);
  e.set_bytes(bytes);
  e.set_codec(table.video.codec);
  e.set_width(table.video.width);
  e.set_height(table.video.height);
  e.set_color_matrix(table.video.color_matrix);
  e.set_full_range(table.video.full_range);
  e.set_frames_decoded(static_cast<int64_t>(table.frames.size()));
  e.set_exact_duplicates(table.exact_duplicates());
  e.set_noise_duplicates(table.noise_duplicates());
  int64_t corrupt = 0;
  for (const DamagedRange& d : table.damaged) {
    corrupt += d.corrupt_frames;
    e.add_damaged_ranges(absl::StrCat(d.first_index, ":", d.corrupt_frames));
  }
  e.set_corrupt_frames(corrupt);
  return e;
}

}  // namespace framepair
