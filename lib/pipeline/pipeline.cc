#include "pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "dataset/dataset.h"
#include "dataset/publish.h"
#include "pipeline/source_hash.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

class StageTimer {
 public:
  StageTimer(std::string stage, ProgressSink* progress, std::vector<StageTime>* times)
      : stage_(std::move(stage)), progress_(progress), times_(times) {
    if (progress_) progress_->StageStarted(stage_);
  }
  ~StageTimer() {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    times_->push_back({stage_, seconds});
    if (progress_) progress_->StageFinished(stage_, seconds);
  }

 private:
  std::string stage_;
  ProgressSink* progress_;
  std::vector<StageTime>* times_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

absl::Status ValidateOptions(const RunOptions& o) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (o.hr_path.empty()) return bad("--hr is required");
  if (o.lr_path.empty() && !o.pack.hr_only) return bad("--lr is required (or use --hr-only)");
  if (o.out_dir.empty()) return bad("--out is required");
  if (o.scale < 1 || o.scale > 16) return bad(absl::StrCat("--scale ", o.scale, " must be 1..16"));
  if (o.sample.window < 1 || o.sample.window > 1000) {
    return bad(absl::StrCat("--window ", o.sample.window, " must be 1..1000"));
  }
  if (o.shards < 1 || o.shards > 99999) {
    return bad(absl::StrCat("--shards ", o.shards, " must be 1..99999"));
  }
  if (o.pack.png.compression_level < 0 || o.pack.png.compression_level > 9) {
    return bad(absl::StrCat("--png-level ", o.pack.png.compression_level, " must be 0..9"));
  }
  if (o.sample.windows < 0) return bad("--windows must be >= 0");
  return absl::OkStatus();
}

struct IngestedSource {
  FrameTable table;
  SourceHash hash;
};

absl::StatusOr<IngestedSource> IngestSource(const std::string& role, const std::string& path,
                                            const IngestOptions& options, ProgressSink* progress,
                                            const std::atomic<bool>* cancel) {
  std::string stage = "ingest " + role;
  IngestedSource out;
  ProgressFn report = [&](int64_t done, int64_t total) {
    if (progress) progress->StageProgress(stage, done, total);
  };
  FP_ASSIGN_OR_RETURN(out.table, IngestVideo(path, options, report, cancel));
  FP_ASSIGN_OR_RETURN(out.hash, HashSource(path));
  return out;
}

absl::Status CheckDimensions(const RunOptions& o, const FrameTable* lr, const FrameTable& hr) {
  const VideoInfo& h = hr.video;
  if (lr == nullptr) {
    if (h.width % o.scale != 0 || h.height % o.scale != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          o.hr_path, " is ", h.width, "x", h.height, ", which is not divisible by --scale ",
          o.scale, "; crop the recording or choose another --scale"));
    }
    return absl::OkStatus();
  }
  const VideoInfo& l = lr->video;
  if (h.width != l.width * o.scale || h.height != l.height * o.scale) {
    return absl::InvalidArgumentError(absl::StrCat(
        o.hr_path, " is ", h.width, "x", h.height, " but ", o.lr_path, " is ", l.width, "x",
        l.height, "; with --scale ", o.scale, " HR must be exactly ", l.width * o.scale, "x",
        l.height * o.scale, " (check that --lr and --hr are not swapped, or set --scale)"));
  }
  return absl::OkStatus();
}

ThumbSequence KeptThumbs(const FrameTable& t) {
  return ThumbSequence{t.thumb_width, t.thumb_height, t.kept.data(), t.thumbs.data(),
                       t.kept.size()};
}

// The LR thumbnail of every aligned pair, contiguous, for scene detection and motion.
std::vector<uint8_t> PairThumbs(const FrameTable& t, const std::vector<AlignedPair>& pairs,
                                bool use_hr_index) {
  const size_t bytes = static_cast<size_t>(t.thumb_width) * t.thumb_height * 3;
  std::vector<uint8_t> out(pairs.size() * bytes);
  for (size_t i = 0; i < pairs.size(); ++i) {
    int64_t frame = use_hr_index ? pairs[i].hr_frame : pairs[i].lr_frame;
    size_t pos = std::lower_bound(t.kept.begin(), t.kept.end(), frame) - t.kept.begin();
    std::copy_n(t.thumb(pos), bytes, out.begin() + i * bytes);
  }
  return out;
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

std::vector<double> Motion(const std::vector<uint8_t>& thumbs, size_t count, size_t bytes) {
  std::vector<double> motion;
  for (size_t i = 0; i + 1 < count; ++i) {
    motion.push_back(ThumbDistance(&thumbs[i * bytes], &thumbs[(i + 1) * bytes], bytes));
  }
  return motion;
}

const char* AlignModeName(AlignMode m) { return m == AlignMode::kGreedy ? "greedy" : "sequence"; }

framepair::v1::SourceEntry SourceEntryFor(const std::string& role, const std::string& path,
                                          const IngestedSource& s) {
  framepair::v1::SourceEntry e;
  e.set_role(role);
  e.set_path(path);
  e.set_sha256(s.hash.sha256);
  e.set_bytes(s.hash.bytes);
  e.set_codec(s.table.video.codec);
  e.set_width(s.table.video.width);
  e.set_height(s.table.video.height);
  e.set_color_matrix(s.table.video.color_matrix);
  e.set_full_range(s.table.video.full_range);
  e.set_frames_decoded(static_cast<int64_t>(s.table.frames.size()));
  e.set_exact_duplicates(s.table.exact_duplicates());
  e.set_noise_duplicates(s.table.noise_duplicates());
  int64_t corrupt = 0;
  for (const DamagedRange& d : s.table.damaged) {
    corrupt += d.corrupt_frames;
    e.add_damaged_ranges(absl::StrCat(d.first_index, ":", d.corrupt_frames));
  }
  e.set_corrupt_frames(corrupt);
  return e;
}

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
  p.set_align_mode(AlignModeName(o.align.mode));
  p.set_spike_ratio(o.align.spike_ratio);
  p.set_max_residual(o.align.max_residual);
  p.set_scene_detector(o.scene.detector == SceneDetector::kContent ? "content" : "adaptive");
  p.set_scene_threshold(o.scene.detector == SceneDetector::kContent ? o.scene.content_threshold
                                                                    : o.scene.adaptive_threshold);
  p.set_min_scene_len(o.scene.min_scene_len);
  p.set_max_jump(o.scene.max_jump);
  p.set_overlap(o.sample.overlap == OverlapPolicy::kDisjoint ? "disjoint" : "allow");
  p.set_min_motion(o.sample.min_motion);
  p.set_gzip(o.gzip);
  p.set_dedup_hi(o.ingest.dedup.hi);
  p.set_dedup_lo(o.ingest.dedup.lo);
  p.set_dedup_frac(o.ingest.dedup.frac);
  p.set_thumb_width(o.ingest.thumb_width);
  return p;
}

}  // namespace

absl::StatusOr<RunSummary> RunPipeline(const RunOptions& options_in, ProgressSink* progress,
                                       const std::atomic<bool>* cancel) {
  RunOptions o = options_in;
  o.sample.shards = o.shards;
  o.pack.scale = o.scale;
  o.pack.window = o.sample.window;
  o.pack.gzip = o.gzip;
  o.pack.threads = o.threads;
  FP_RETURN_IF_ERROR(ValidateOptions(o));
  const bool hr_only = o.pack.hr_only;

  // Fail fast on an unusable output directory, before minutes of decoding.
  FP_ASSIGN_OR_RETURN(std::string staging, CreateStagingDir(o.out_dir));
  struct StagingGuard {
    std::string dir;
    bool published = false;
    ~StagingGuard() {
      if (!published) RemoveStagingDir(dir);
    }
  } guard{staging};

  RunSummary summary;

  // 1. Ingest both sources in parallel.
  std::optional<IngestedSource> lr;
  IngestedSource hr;
  {
    StageTimer timer("ingest", progress, &summary.stages);
    std::future<absl::StatusOr<IngestedSource>> lr_future;
    if (!hr_only) {
      lr_future =
          std::async(std::launch::async, IngestSource, "lr", o.lr_path, o.ingest, progress, cancel);
    }
    absl::StatusOr<IngestedSource> hr_result =
        IngestSource("hr", o.hr_path, o.ingest, progress, cancel);
    if (!hr_only) {
      absl::StatusOr<IngestedSource> lr_result = lr_future.get();
      if (!lr_result.ok()) return lr_result.status();
      lr = *std::move(lr_result);
    }
    if (!hr_result.ok()) return hr_result.status();
    hr = *std::move(hr_result);
  }
  const FrameTable* lr_table = lr ? &lr->table : nullptr;
  FP_RETURN_IF_ERROR(CheckDimensions(o, lr_table, hr.table));
  for (const FrameTable* t : std::initializer_list<const FrameTable*>{lr_table, &hr.table}) {
    if (t != nullptr && static_cast<int64_t>(t->kept.size()) < o.sample.window) {
      return absl::InvalidArgumentError(absl::StrCat(
          t->video.path, " has only ", t->kept.size(), " distinct frames; a window needs ",
          o.sample.window, " (use longer footage or a smaller --window)"));
    }
  }
  summary.hr_frames_decoded = static_cast<int64_t>(hr.table.frames.size());
  summary.hr_duplicates = hr.table.exact_duplicates() + hr.table.noise_duplicates();
  if (lr) {
    summary.lr_frames_decoded = static_cast<int64_t>(lr->table.frames.size());
    summary.lr_duplicates = lr->table.exact_duplicates() + lr->table.noise_duplicates();
  }
  for (const FrameTable* t : std::initializer_list<const FrameTable*>{lr_table, &hr.table}) {
    if (t == nullptr) continue;
    for (const DamagedRange& d : t->damaged) {
      summary.corrupt_frames += d.corrupt_frames;
      summary.damaged.push_back(absl::StrCat(t->video.path, ": ", d.corrupt_frames,
                                             " damaged frame(s) skipped before frame ",
                                             d.first_index));
    }
  }

  // 2. Align.
  std::vector<AlignedPair> pairs;
  AlignStats align_stats;
  {
    StageTimer timer("align", progress, &summary.stages);
    if (hr_only) {
      for (int64_t f : hr.table.kept) pairs.push_back({f, f, 0.0});
      align_stats.pairs = align_stats.matched = static_cast<int64_t>(pairs.size());
    } else {
      absl::StatusOr<AlignResult> aligned =
          Align(KeptThumbs(lr->table), KeptThumbs(hr.table), o.align);
      if (!aligned.ok()) {
        return absl::Status(
            aligned.status().code(),
            absl::StrCat(o.lr_path, " and ", o.hr_path, ": ", aligned.status().message()));
      }
      pairs = std::move(aligned->pairs);
      align_stats = aligned->stats;
    }
  }
  summary.pairs_aligned = static_cast<int64_t>(pairs.size());
  summary.pairs_rejected = align_stats.rejected_spike + align_stats.rejected_residual;

  // 3. Scenes (on the LR side: that is what training sees as input).
  // Thumbnails are the bulk of the analysis memory (~7 KB per frame and side): keep only the
  // per-pair copy that scene detection and sampling read, so peak memory stays at what
  // alignment needed.
  FrameTable& scene_table = hr_only ? hr.table : lr->table;
  const int thumb_width = scene_table.thumb_width;
  const int thumb_height = scene_table.thumb_height;
  const size_t thumb_bytes = static_cast<size_t>(thumb_width) * thumb_height * 3;
  if (!hr_only) std::vector<uint8_t>().swap(hr.table.thumbs);
  std::vector<uint8_t> pair_thumbs = PairThumbs(scene_table, pairs, hr_only);
  std::vector<uint8_t>().swap(scene_table.thumbs);
  ThumbSequence scene_input{thumb_width, thumb_height, nullptr, pair_thumbs.data(), pairs.size()};
  SceneResult scenes;
  {
    StageTimer timer("scene", progress, &summary.stages);
    FP_ASSIGN_OR_RETURN(scenes, DetectScenes(scene_input, pairs, o.scene));
    scenes.segments = SplitAtDamage(scenes.segments, pairs, lr_table, hr.table);
  }
  summary.scenes = static_cast<int64_t>(scenes.cut_positions.size()) + (pairs.empty() ? 0 : 1);

  // 4a. Sample windows.
  SampleResult sampled;
  {
    StageTimer timer("sample", progress, &summary.stages);
    std::vector<double> motion;
    if (o.sample.min_motion > 0) motion = Motion(pair_thumbs, pairs.size(), thumb_bytes);
    absl::StatusOr<SampleResult> result = SampleWindows(scenes.segments, motion, o.sample);
    if (!result.ok()) {
      return absl::Status(result.status().code(),
                          absl::StrCat(hr_only ? o.hr_path : o.lr_path + " and " + o.hr_path, ": ",
                                       result.status().message()));
    }
    sampled = *std::move(result);
  }
  summary.windows = static_cast<int64_t>(sampled.windows.size());

  // 4b. Pack shards.
  std::map<int, std::vector<Window>> by_shard;
  for (const Window& w : sampled.windows) by_shard[w.shard].push_back(w);
  framepair::v1::Manifest manifest;
  {
    StageTimer timer("pack", progress, &summary.stages);
    PackInput input{o.lr_path, o.hr_path, lr_table, &hr.table, &pairs};
    int64_t done_before = 0;
    for (int shard = 0; shard < o.shards; ++shard) {
      const std::vector<Window>& windows = by_shard[shard];
      PackProgressFn report = [&](int64_t done) {
        if (progress) progress->StageProgress("pack", done_before + done, summary.windows);
      };
      std::string name = ShardFileName("train", shard, o.shards, o.gzip);
      FP_ASSIGN_OR_RETURN(PackedShard packed,
                          PackShard(input, windows, o.pack, staging, name, report, cancel));
      done_before += static_cast<int64_t>(windows.size());
      summary.pack.Add(packed.counters);
      *manifest.add_shards() = packed.entry;
    }
  }
  summary.shards = o.shards;
  summary.bytes = summary.pack.bytes;

  // 5. Manifest, published last.
  manifest.set_version(kFramepairVersion);
  manifest.set_split("train");
  manifest.set_total_examples(summary.pack.examples);
  if (lr) *manifest.add_sources() = SourceEntryFor("lr", o.lr_path, *lr);
  *manifest.add_sources() = SourceEntryFor("hr", o.hr_path, hr);
  *manifest.mutable_parameters() = ParametersFor(o);
  auto* stats = manifest.mutable_stats();
  stats->set_pairs_aligned(summary.pairs_aligned);
  stats->set_pairs_rejected(summary.pairs_rejected);
  stats->set_scenes(summary.scenes);
  stats->set_windows(summary.windows);
  stats->set_distinct_lr_frames(summary.pack.distinct_lr_frames);
  stats->set_distinct_hr_frames(summary.pack.distinct_hr_frames);
  stats->set_pngs_encoded(summary.pack.pngs_encoded);
  stats->set_mean_residual(align_stats.mean_residual);
  if (o.pack.format == ExampleFormat::kSingle) {
    manifest.add_features("images");
    if (o.pack.provenance) manifest.add_features("images_frame");
  } else {
    manifest.add_features("input");
    manifest.add_features("target");
    if (o.pack.provenance) {
      manifest.add_features("input_frame");
      manifest.add_features("target_frame");
    }
  }
  const VideoInfo& hv = hr.table.video;
  manifest.set_hr_width(hv.width);
  manifest.set_hr_height(hv.height);
  manifest.set_lr_width(hv.width / o.scale);
  manifest.set_lr_height(hv.height / o.scale);
  FP_RETURN_IF_ERROR(PublishDataset(staging, o.out_dir, manifest));
  guard.published = true;
  summary.manifest_path = o.out_dir + "/manifest.json";
  return summary;
}

}  // namespace framepair
