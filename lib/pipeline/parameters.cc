#include "pipeline/parameters.h"

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"
#include "dataset/dataset.h"

namespace framepair {
namespace {

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(what); }

}  // namespace

framepair::v1::RunParameters ParametersFor(const RunOptions& o) {
  framepair::v1::RunParameters p;
  p.set_scale(o.scale);
  p.set_window(o.sample.window);
  p.set_windows(o.sample.windows);
  p.set_density(o.sample.density);
  p.set_seed(o.sample.seed);
  p.set_shards(o.shards);
  p.set_png_level(o.pack.png.compression_level);
  p.set_hr_only(o.pack.hr_only);
  p.set_format(o.pack.format == ExampleFormat::kSingle ? "single" : "pair");
  p.set_provenance(o.pack.provenance);
  p.set_align_mode(o.align.mode == AlignMode::kGreedy ? "greedy" : "sequence");
  p.set_spike_ratio(o.align.spike_ratio);
  p.set_max_residual(o.align.max_residual);
  p.set_max_offset(o.align.max_offset);
  p.set_lr_matrix(o.lr_colour.matrix);
  p.set_lr_range(o.lr_colour.range);
  p.set_hr_matrix(o.hr_colour.matrix);
  p.set_hr_range(o.hr_colour.range);
  p.set_band_half_width(o.align.band_half_width);
  const bool content = o.scene.detector == SceneDetector::kContent;
  p.set_scene_detector(content ? "content" : "adaptive");
  p.set_scene_threshold(content ? o.scene.content_threshold : o.scene.adaptive_threshold);
  p.set_min_scene_len(o.scene.min_scene_len);
  p.set_max_jump(o.scene.max_jump);
  p.set_overlap(o.sample.overlap == OverlapPolicy::kDisjoint ? "disjoint" : "allow");
  p.set_min_motion(o.sample.min_motion);
  p.set_gzip(o.gzip);
  p.set_dedup_hi(o.ingest.dedup.hi);
  p.set_dedup_lo(o.ingest.dedup.lo);
  p.set_dedup_frac(o.ingest.dedup.frac);
  p.set_thumb_width(o.ingest.thumb_width);
  p.set_no_dedup(!o.ingest.dedup_enabled);
  p.set_name_template(o.name_template);
  p.set_val_windows(o.sample.val_windows);
  p.set_val_fraction(o.sample.val_fraction);
  for (const PixelRect& r : o.ignore_regions) {
    framepair::v1::PixelRect* out = p.add_ignore_regions();
    out->set_x(r.x);
    out->set_y(r.y);
    out->set_width(r.width);
    out->set_height(r.height);
  }
  return p;
}

absl::StatusOr<RunOptions> OptionsFromParameters(const framepair::v1::RunParameters& p) {
  RunOptions o;
  o.scale = p.scale();
  o.sample.window = p.window();
  o.sample.windows = p.windows();
  o.sample.density = p.density();
  o.sample.seed = p.seed();
  o.shards = p.shards();
  o.pack.png.compression_level = p.png_level();
  o.pack.hr_only = p.hr_only();
  if (p.format() == "single") {
    o.pack.format = ExampleFormat::kSingle;
  } else if (p.format() == "pair") {
    o.pack.format = ExampleFormat::kPair;
  } else {
    return Bad(absl::StrCat("format must be pair or single, not '", p.format(), "'"));
  }
  o.pack.provenance = p.provenance();
  if (p.align_mode() == "greedy") {
    o.align.mode = AlignMode::kGreedy;
  } else if (p.align_mode() == "sequence") {
    o.align.mode = AlignMode::kSequence;
  } else {
    return Bad(absl::StrCat("align mode must be sequence or greedy, not '", p.align_mode(), "'"));
  }
  o.align.spike_ratio = p.spike_ratio();
  o.align.max_residual = p.max_residual();
  if (p.has_max_offset()) o.align.max_offset = p.max_offset();
  o.lr_colour = {p.lr_matrix(), p.lr_range()};
  o.hr_colour = {p.hr_matrix(), p.hr_range()};
  if (p.has_band_half_width()) o.align.band_half_width = p.band_half_width();
  if (p.scene_detector() == "content") {
    o.scene.detector = SceneDetector::kContent;
    o.scene.content_threshold = p.scene_threshold();
  } else if (p.scene_detector() == "adaptive") {
    o.scene.detector = SceneDetector::kAdaptive;
    o.scene.adaptive_threshold = p.scene_threshold();
  } else {
    return Bad(
        absl::StrCat("scene detector must be adaptive or content, not '", p.scene_detector(), "'"));
  }
  o.scene.min_scene_len = p.min_scene_len();
  o.scene.max_jump = p.max_jump();
  if (p.overlap() == "disjoint") {
    o.sample.overlap = OverlapPolicy::kDisjoint;
  } else if (p.overlap() == "allow") {
    o.sample.overlap = OverlapPolicy::kAllow;
  } else {
    return Bad(absl::StrCat("overlap must be allow or disjoint, not '", p.overlap(), "'"));
  }
  o.sample.min_motion = p.min_motion();
  o.gzip = p.gzip();
  o.ingest.dedup.hi = p.dedup_hi();
  o.ingest.dedup.lo = p.dedup_lo();
  o.ingest.dedup.frac = p.dedup_frac();
  o.ingest.thumb_width = p.thumb_width();
  o.ingest.dedup_enabled = !p.no_dedup();
  o.name_template = p.name_template();
  o.sample.val_windows = p.val_windows();
  o.sample.val_fraction = p.val_fraction();
  for (const framepair::v1::PixelRect& r : p.ignore_regions()) {
    o.ignore_regions.push_back({r.x(), r.y(), r.width(), r.height()});
  }
  return o;
}

absl::Status NormalizeRunOptions(RunOptions* options) {
  RunOptions& o = *options;
  o.sample.shards = o.shards;
  o.pack.scale = o.scale;
  o.pack.window = o.sample.window;
  o.pack.gzip = o.gzip;
  o.pack.threads = o.threads;
  // --threads bounds the decoders too (FFmpeg's default is every core per decoder).
  o.pack.decoder.threads = o.threads;
  o.ingest.decoder.threads = o.threads;
  o.pack.decoder.max_frame_pixels = o.ingest.decoder.max_frame_pixels;
  if (o.scale < 1 || o.scale > 16) return Bad(absl::StrCat("--scale ", o.scale, " must be 1..16"));
  if (o.sample.window < 1 || o.sample.window > 1000) {
    return Bad(absl::StrCat("--window ", o.sample.window, " must be 1..1000"));
  }
  // 4096: one task, one file and one manifest entry per shard; at typical shard sizes (a few
  // hundred MB) that is a terabyte dataset per job, and it bounds a job's task count.
  if (o.shards < 1 || o.shards > 4096) {
    return Bad(absl::StrCat("--shards ", o.shards, " must be 1..4096"));
  }
  if (o.pack.png.compression_level < 0 || o.pack.png.compression_level > kMaxPngLevel) {
    return Bad(
        absl::StrCat("--png-level ", o.pack.png.compression_level, " must be 0..", kMaxPngLevel));
  }
  // 10 000 000 windows of 2..1000 frames: far beyond any recording, and the sampling plan
  // (one entry per window) stays within memory and message limits.
  if (o.sample.windows < 0 || o.sample.windows > 10'000'000) {
    return Bad(absl::StrCat("--windows ", o.sample.windows, " must be 0..10000000"));
  }
  if (o.sample.val_windows < 0 || o.sample.val_windows > 1'000'000) {
    return Bad(absl::StrCat("--val-windows ", o.sample.val_windows, " must be 0..1000000"));
  }
  if (!(o.sample.val_fraction >= 0 && o.sample.val_fraction < 1)) {
    return Bad(absl::StrCat("--val-fraction ", o.sample.val_fraction, " must be in [0, 1)"));
  }
  if (o.sample.val_windows > 0 && o.sample.val_fraction > 0) {
    return Bad("--val-windows and --val-fraction both give the validation size; use one");
  }
  // {job} or not is the caller's rule (RunPipeline refuses it, a submitted job needs it).
  if (absl::Status s =
          CheckNameTemplate(o.name_template, o.name_template.find("{job}") != std::string::npos);
      !s.ok()) {
    return s;
  }
  if (o.align.max_offset < 0 || o.align.max_offset > 100000) {
    return Bad(absl::StrCat("--max-offset ", o.align.max_offset, " must be 0..100000"));
  }
  if (o.align.band_half_width < 4 || o.align.band_half_width > 2000) {
    return Bad(absl::StrCat("--band ", o.align.band_half_width, " must be 4..2000"));
  }
  if (o.scene.max_jump < -1 || o.scene.max_jump > 100000) {
    return Bad(absl::StrCat("--max-jump ", o.scene.max_jump, " must be -1 (auto) or 0..100000"));
  }
  if (absl::Status s = ValidateColourOverride(o.lr_colour, "--lr"); !s.ok()) return s;
  if (absl::Status s = ValidateColourOverride(o.hr_colour, "--hr"); !s.ok()) return s;
  o.pack.lr_colour = o.lr_colour;
  o.pack.hr_colour = o.hr_colour;
  if (o.ingest.decoder.max_frame_pixels < 1) {
    return Bad(
        absl::StrCat("--max-frame-pixels ", o.ingest.decoder.max_frame_pixels, " must be >= 1"));
  }
  if (o.ingest.thumb_width < 8 || o.ingest.thumb_width > 1024) {
    return Bad(absl::StrCat("thumbnail width ", o.ingest.thumb_width, " must be 8..1024"));
  }
  // Whether a region lies inside the frame is checked by ingest, once the size is known; the
  // bound here only keeps r * scale far from overflow (no frame is that large).
  constexpr int kMaxCoordinate = 1 << 16;
  for (const PixelRect& r : o.ignore_regions) {
    if (r.x < 0 || r.y < 0 || r.width <= 0 || r.height <= 0 || r.x > kMaxCoordinate - r.width ||
        r.y > kMaxCoordinate - r.height) {
      return Bad(absl::StrCat("--ignore-region ", r.x, ",", r.y, ",", r.width, ",", r.height,
                              ": X,Y must be >= 0 and W,H > 0, within ", kMaxCoordinate,
                              " pixels"));
    }
  }
  return absl::OkStatus();
}

IngestOptions IngestOptionsFor(const RunOptions& o, const std::string& role) {
  IngestOptions ingest = o.ingest;
  ingest.ignore_regions = o.ignore_regions;
  ingest.decoder.colour = role == "lr" ? o.lr_colour : o.hr_colour;
  // Scene detection reads LR, or HR when there is no LR.
  ingest.scene_scores = role == "lr" || o.pack.hr_only;
  if (role == "hr") {
    for (PixelRect& r : ingest.ignore_regions) {
      r = {r.x * o.scale, r.y * o.scale, r.width * o.scale, r.height * o.scale};
    }
  }
  return ingest;
}

absl::StatusOr<RunOptions> OptionsFor(const framepair::v1::RunParameters& parameters) {
  FP_ASSIGN_OR_RETURN(RunOptions options, OptionsFromParameters(parameters));
  FP_RETURN_IF_ERROR(NormalizeRunOptions(&options));
  return options;
}

}  // namespace framepair
