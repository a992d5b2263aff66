// framepair-footage: writes a synthetic LR/HR footage pair and its ground truth.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "support/footage.h"

namespace {

using framepair::footage::Codec;
using framepair::footage::CodecSpec;

constexpr char kUsage[] = R"(Usage: framepair-footage (--out DIR | --cached) [options]

Writes a synthetic game-footage pair with exact ground truth:
  DIR/lr.mp4 (or lr.mkv)  the low-resolution recording
  DIR/hr.mkv (or hr.mp4)  the same gameplay at scale x the size
  DIR/truth.json          which world frame every decoded frame shows, scene starts,
                          injected duplicates, offsets and trims
Both recordings are edits of one rendered "world" (ffmpeg lavfi scenes): different start
offsets, dropped runs and single frames, duplicated frames and different ends. Worlds are
cached under --cache (default /tmp/framepair-footage-cache).

Options:
  --out DIR            output directory (created if missing)
  --cached             instead of --out: write into the cache, or reuse what an earlier
                       run wrote there for the same parameters (shared; do not modify).
                       The lines printed name the files
  --preset NAME        default (6 scenes, ~540 world frames, modest offsets and drops),
                       hard (12 scenes, LR starts 300 frames late, drop runs up to 40,
                       different ends), hr-only (HR video only), or one of the realistic
                       presets (both sides lossy; see --list-presets). Default: default
  --list-presets       the realistic presets and what each stresses
  --seed N             seed of the edit lists (default 1); same seed => same truth
  --lr-codec C         x264 | x264:CRF | ffv1 (default x264:18)
  --hr-codec C         x264 | x264:CRF | ffv1 (default ffv1)
  --lr-size WxH        LR size (default 160x96); odd sizes are allowed
  --scale S            HR size = S x LR size (default 4)
  --cache DIR          world cache directory
  --jobs N             ffmpeg processes at once (default 2)
  --help               this text
)";

bool ParseCodec(const std::string& text, CodecSpec* codec) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts[0] == "ffv1" && parts.size() == 1) {
    codec->codec = Codec::kFfv1;
    return true;
  }
  if ((parts[0] == "x264" || parts[0] == "libx264") && parts.size() <= 2) {
    codec->codec = Codec::kX264;
    return parts.size() == 1 || absl::SimpleAtoi(parts[1], &codec->crf);
  }
  return false;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "framepair-footage: %s\nTry --help.\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fp = framepair::footage;
  std::string out, preset = "default", lr_codec, hr_codec, lr_size, scale, seed, jobs, cache;
  bool cached = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--cached") {
      cached = true;
      continue;
    }
    if (arg == "--list-presets") {
      for (const fp::NamedSpec& named : fp::RealisticSpecs()) {
        std::printf("%-18s %s\n", named.name.c_str(), named.description.c_str());
      }
      return 0;
    }
    std::string* target = arg == "--out"        ? &out
                          : arg == "--preset"   ? &preset
                          : arg == "--seed"     ? &seed
                          : arg == "--lr-codec" ? &lr_codec
                          : arg == "--hr-codec" ? &hr_codec
                          : arg == "--lr-size"  ? &lr_size
                          : arg == "--scale"    ? &scale
                          : arg == "--cache"    ? &cache
                          : arg == "--jobs"     ? &jobs
                                                : nullptr;
    if (target == nullptr) return Fail("unknown argument '" + arg + "'");
    if (i + 1 >= argc) return Fail(arg + " needs a value");
    *target = argv[++i];
  }
  if (out.empty() == !cached) return Fail("give one of --out DIR and --cached");

  fp::FootageSpec spec;
  if (preset == "default") {
    spec = fp::DefaultSpec();
  } else if (preset == "hard") {
    spec = fp::HardSpec();
  } else if (preset == "hr-only") {
    spec = fp::HrOnlySpec();
  } else if (absl::StatusOr<fp::FootageSpec> realistic = fp::RealisticSpec(preset);
             realistic.ok()) {
    spec = *std::move(realistic);
  } else {
    return Fail("unknown preset '" + preset +
                "' (default, hard, hr-only or a realistic one: --list-presets)");
  }
  if (!seed.empty() && !absl::SimpleAtoi(seed, &spec.seed)) return Fail("bad --seed " + seed);
  if (!lr_codec.empty() && !ParseCodec(lr_codec, &spec.lr.codec)) {
    return Fail("bad --lr-codec " + lr_codec);
  }
  if (!hr_codec.empty() && !ParseCodec(hr_codec, &spec.hr.codec)) {
    return Fail("bad --hr-codec " + hr_codec);
  }
  if (!lr_size.empty()) {
    std::vector<std::string> wh = absl::StrSplit(lr_size, 'x');
    if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &spec.world.lr_size.width) ||
        !absl::SimpleAtoi(wh[1], &spec.world.lr_size.height)) {
      return Fail("bad --lr-size " + lr_size + " (want WxH)");
    }
  }
  if (!scale.empty() && !absl::SimpleAtoi(scale, &spec.world.scale)) {
    return Fail("bad --scale " + scale);
  }
  fp::GenerateOptions options;
  options.out_dir = out;
  if (!cache.empty()) options.cache_dir = cache;
  if (!jobs.empty() && !absl::SimpleAtoi(jobs, &options.jobs)) return Fail("bad --jobs " + jobs);

  absl::StatusOr<fp::Footage> footage =
      cached ? fp::CachedFootage(spec, options.cache_dir, options.jobs)
             : fp::GenerateFootage(spec, options);
  if (!footage.ok()) {
    std::fprintf(stderr, "framepair-footage: %s\n", footage.status().ToString().c_str());
    return 1;
  }
  const fp::Truth& truth = footage->truth;
  if (!footage->lr_path.empty()) {
    std::printf("lr: %s (%zu frames)\n", footage->lr_path.c_str(), truth.lr.world_ids.size());
  }
  std::printf("hr: %s (%zu frames)\n", footage->hr_path.c_str(), truth.hr.world_ids.size());
  std::printf("truth: %s (%d world frames, %zu scenes, %zu matchable)\n",
              footage->truth_path.c_str(), truth.world.frames, truth.world.scene_starts.size(),
              fp::MatchablePairs(truth).size());
  return 0;
}
