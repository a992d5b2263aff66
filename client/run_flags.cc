#include "client/run_flags.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace framepair::cli {
namespace po = boost::program_options;
namespace {

// "X,Y,W,H": four non-negative decimal integers, W and H > 0. Whether the region lies inside
// the frame is checked by ingest, which knows the frame size.
absl::Status ParseIgnoreRegion(const std::string& text, PixelRect* out) {
  const std::vector<std::string> parts = absl::StrSplit(text, ',');
  int v[4] = {};
  bool ok = parts.size() == 4;
  for (size_t k = 0; ok && k < 4; ++k) {
    ok = !parts[k].empty() && parts[k].find_first_not_of("0123456789") == std::string::npos &&
         absl::SimpleAtoi(parts[k], &v[k]);
  }
  if (!ok || v[2] <= 0 || v[3] <= 0) {
    return absl::InvalidArgumentError(
        "--ignore-region must be X,Y,W,H: four non-negative integers (LR pixels) with W and H "
        "> 0, not '" +
        text + "'");
  }
  *out = {v[0], v[1], v[2], v[3]};
  return absl::OkStatus();
}

}  // namespace

void AddDatasetFlags(po::options_description& desc, RunFlags* f) {
  RunOptions& o = f->options;
  // clang-format off
  desc.add_options()
    ("windows", po::value(&o.sample.windows)->default_value(0), "number of windows (examples) to draw; 0 = use --density")
    ("density", po::value(&o.sample.density)->default_value(0.1), "windows per eligible start frame when --windows is 0")
    ("seed", po::value(&o.sample.seed)->default_value(0), "random seed for window sampling; same inputs + options + seed = identical bytes")
    ("scale", po::value(&o.scale)->default_value(4), "HR size / LR size")
    ("window", po::value(&o.sample.window)->default_value(10), "consecutive frames per example")
    ("shards", po::value(&o.shards)->default_value(1), "number of TFRecord shards")
    ("name-template", po::value(&o.name_template), "shard names: {shard} and {shards} (5 digits), {job} (submit only), then .tfrecord[.gz]; must start with train_ or train- (default train_{shard}-of-{shards}, submit: train_{job}_{shard}-of-{shards}: what JoshUpscale's train_*.tfrecord glob finds)")
    ("val-windows", po::value(&o.sample.val_windows)->default_value(0), "also write validate.tfrecord with this many windows, drawn from whole scenes that no training window touches (held out by scene, seeded)")
    ("val-fraction", po::value(&o.sample.val_fraction)->default_value(0), "like --val-windows, with round(F x the training windows) windows")
    ("png-level", po::value(&o.pack.png.compression_level)->default_value(1), "PNG deflate level 0-12 (libdeflate; 1: fastest with good size, 12: smallest; see docs/benchmarks.md)")
    ("hr-only", po::bool_switch(&f->hr_only), "only --hr is given: LR is made by nearest-neighbour downscale (pixel (s*x, s*y))")
    ("format", po::value(&f->format)->default_value("pair"), "pair: features input+target; single: feature images (HR only, training downscales)")
    ("no-provenance", po::bool_switch(&f->no_provenance), "omit the input_frame/target_frame source frame indexes")
    ("gzip", po::bool_switch(&o.gzip), "GZIP-compress the shards (TFRecordDataset(compression_type='GZIP'))")
    ("align", po::value(&f->align)->default_value("sequence"), "alignment: sequence (default) or greedy (the seed's FrameSync)")
    ("max-residual", po::value(&o.align.max_residual)->default_value(o.align.max_residual), "reject pairs whose thumbnail distance exceeds this (0-255; 0 disables)")
    ("spike-ratio", po::value(&o.align.spike_ratio)->default_value(o.align.spike_ratio), "clean_sync filter: reject pairs with residual / trailing mean above this (0 disables)")
    ("scene", po::value(&f->scene)->default_value("adaptive"), "scene detector: adaptive or content")
    ("scene-threshold", po::value(&f->scene_threshold), "detector threshold (content default 27, adaptive default 3.0)")
    ("min-scene-len", po::value(&o.scene.min_scene_len)->default_value(o.scene.min_scene_len), "minimum frames between scene cuts")
    ("max-jump", po::value(&o.scene.max_jump)->default_value(o.scene.max_jump), "longest run of moments (distinct frames) that only one recording shows which a window may step over; -1 = from the recordings' rate ratio (1 for equal rates). Moments both recordings lose always end a window's segment")
    ("max-offset", po::value(&o.align.max_offset)->default_value(o.align.max_offset), "largest start offset between the recordings, and longest gap on either side, that alignment searches (in distinct frames)")
    ("band", po::value(&o.align.band_half_width)->default_value(o.align.band_half_width), "alignment band half-width (distinct frames): drop runs shorter than this are followed directly, longer gaps by a new search")
    ("overlap", po::value(&f->overlap)->default_value("allow"), "windows may overlap (allow) or not (disjoint)")
    ("min-motion", po::value(&o.sample.min_motion)->default_value(0), "skip near-static windows: minimum mean thumbnail change per frame (0 disables)")
    ("no-dedup", po::bool_switch(&f->no_dedup), "keep duplicate frames")
    ("lr-range", po::value(&o.lr_colour.range), "treat the LR recording as full or limited range, whatever it is tagged (for mis-tagged streams; see the colour check)")
    ("hr-range", po::value(&o.hr_colour.range), "the same for the HR recording")
    ("lr-matrix", po::value(&o.lr_colour.matrix), "convert the LR recording with bt601, bt709 or bt2020, whatever it is tagged")
    ("hr-matrix", po::value(&o.hr_colour.matrix), "the same for the HR recording")
    ("ignore-region", po::value(&f->ignore_regions)->composing(), "X,Y,W,H in LR pixels (repeatable; HR uses them times --scale): an area such as a clock or counter left out of duplicate detection and alignment thumbnails (not out of the PNGs)");
  // clang-format on
}

absl::Status ApplyDatasetFlags(RunFlags* f) {
  RunOptions& o = f->options;
  auto bad = [](const std::string& msg) { return absl::InvalidArgumentError(msg); };
  o.pack.hr_only = f->hr_only;
  o.pack.provenance = !f->no_provenance;
  o.ingest.dedup_enabled = !f->no_dedup;
  if (f->format == "pair") {
    o.pack.format = ExampleFormat::kPair;
  } else if (f->format == "single") {
    o.pack.format = ExampleFormat::kSingle;
  } else {
    return bad("--format must be pair or single, not '" + f->format + "'");
  }
  if (f->align == "sequence") {
    o.align.mode = AlignMode::kSequence;
  } else if (f->align == "greedy") {
    o.align.mode = AlignMode::kGreedy;
  } else {
    return bad("--align must be sequence or greedy, not '" + f->align + "'");
  }
  if (f->scene == "adaptive") {
    o.scene.detector = SceneDetector::kAdaptive;
    if (f->scene_threshold >= 0) o.scene.adaptive_threshold = f->scene_threshold;
  } else if (f->scene == "content") {
    o.scene.detector = SceneDetector::kContent;
    if (f->scene_threshold >= 0) o.scene.content_threshold = f->scene_threshold;
  } else {
    return bad("--scene must be adaptive or content, not '" + f->scene + "'");
  }
  if (f->overlap == "allow") {
    o.sample.overlap = OverlapPolicy::kAllow;
  } else if (f->overlap == "disjoint") {
    o.sample.overlap = OverlapPolicy::kDisjoint;
  } else {
    return bad("--overlap must be allow or disjoint, not '" + f->overlap + "'");
  }
  o.ignore_regions.clear();
  for (const std::string& text : f->ignore_regions) {
    PixelRect r;
    if (absl::Status s = ParseIgnoreRegion(text, &r); !s.ok()) return s;
    o.ignore_regions.push_back(r);
  }
  return absl::OkStatus();
}

}  // namespace framepair::cli
