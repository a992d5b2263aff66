#include "support/footage.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "support/process.h"
#include "util/file.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace framepair::footage {
namespace {

namespace fs = std::filesystem;

// Bump when rendering changes in a way the parameters do not capture, so stale caches are
// not reused.
constexpr int kWorldFormatVersion = 2;

// --- Deterministic randomness. std::uniform_*_distribution differ between standard
// libraries, so the draws are our own and the truth is the same everywhere. ---

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int UniformInt(std::mt19937_64& rng, int lo, int hi) {
  if (hi <= lo) return lo;
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  // Modulo bias is below 2^-40 for the ranges used here.
  return lo + static_cast<int>(rng() % range);
}

bool Chance(std::mt19937_64& rng, double p) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return u < p;
}

// --- Processes ---

absl::Status RunAll(std::vector<std::function<absl::Status()>> tasks, int jobs) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status first_error;
  auto worker = [&] {
    for (size_t i = next++; i < tasks.size(); i = next++) {
      absl::Status s = tasks[i]();
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok() && first_error.ok()) first_error = s;
    }
  };
  std::vector<std::thread> threads;
  const int n = std::max(1, std::min<int>(jobs, static_cast<int>(tasks.size())));
  for (int i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return first_error;
}

std::string Ffmpeg() { return "ffmpeg"; }

// --- Scenes ---

std::string Mover(const WorldSpec& world, uint32_t seed, int hr_w, int hr_h) {
  // A sprite moving a couple of LR pixels per frame on a path that does not repeat within a
  // scene: sources that can stall (Life settling, slow gradients, static bars) still change
  // visibly on every frame, like a player moving over a still background.
  static constexpr const char* kColors[] = {"0xff2020", "0x20c0ff", "0xffe000", "0xff40ff"};
  const int bw = std::max(2, hr_w / 10);
  const int bh = std::max(2, hr_h / 8);
  const int dx = std::max(1, world.scale * 2);
  const int dy = std::max(1, world.scale * 3 / 4);
  return absl::StrFormat(
      "[bg];color=c=%s:s=%dx%d:r=%d[fg];[bg][fg]overlay=x='mod(n*%d+%d,W-w)':y='mod(n*%d+%d,H-h)'",
      kColors[seed % 4], bw, bh, world.fps, dx, (seed * 37) % std::max(1, hr_w - bw), dy,
      (seed * 17) % std::max(1, hr_h - bh));
}

}  // namespace

std::string SceneSource(const SceneSpec& scene, const WorldSpec& world) {
  const int w = world.lr_size.width * world.scale;
  const int h = world.lr_size.height * world.scale;
  const int r = world.fps;
  const uint32_t seed = scene.seed;
  switch (scene.kind) {
    case SceneKind::kTestsrc2:
      return absl::StrFormat("testsrc2=s=%dx%d:r=%d,hue=h=%d", w, h, r, (seed * 67) % 360);
    case SceneKind::kMandelbrot: {
      // Points where a deep zoom stays detailed; maxiter is kept low for render speed.
      static constexpr double kPoints[][2] = {{-0.743644, -0.131826},
                                              {-0.7453, 0.1127},
                                              {0.001643721971153, -0.822467633298876},
                                              {-1.25066, 0.02012}};
      const auto& p = kPoints[seed % 4];
      // The zoom is exponential in time; 4% per frame keeps every frame visibly new without
      // the frame-to-frame change reaching a scene detector's cut threshold.
      return absl::StrFormat(
          "mandelbrot=s=%dx%d:r=%d:maxiter=96:start_x=%.15g:start_y=%.15g:start_scale=3:"
          "end_scale=%.9g:end_pts=%d",
          w, h, r, p[0], p[1], 3 * std::pow(0.96, scene.frames), std::max(1, scene.frames));
    }
    case SceneKind::kLife: {
      // Cells of 4x4 LR pixels, so a cell flip survives downscaling and codec noise. One hue
      // for live, dying and mouldy cells: the soup churning is not a scene cut.
      const int gw = std::max(3, (world.lr_size.width + 3) / 4);
      const int gh = std::max(3, (world.lr_size.height + 3) / 4);
      return absl::StrFormat(
          "life=s=%dx%d:r=%d:mold=10:ratio=0.2:seed=%d:life_color=0xf0e040:"
          "death_color=0x706020:mold_color=0x302810,scale=%d:%d:flags=neighbor%s",
          gw, gh, r, seed + 1, w, h, Mover(world, seed, w, h));
    }
    case SceneKind::kCellauto: {
      static constexpr int kRules[] = {30, 110, 45, 105};
      const int gw = std::max(3, (world.lr_size.width + 1) / 2);
      const int gh = std::max(3, (world.lr_size.height + 1) / 2);
      // scroll=0 writes one new row per frame instead of shifting the whole image, so the
      // per-frame change is small (not a scene cut) yet always visible.
      return absl::StrFormat(
          "cellauto=s=%dx%d:r=%d:rule=%d:scroll=0:seed=%d,scale=%d:%d:flags=neighbor,"
          "colorchannelmixer=rr=0.9:rb=0.3:gg=0.6:bb=1.0%s",
          gw, gh, r, kRules[seed % 4], seed + 1, w, h, Mover(world, seed, w, h));
    }
    case SceneKind::kGradients: {
      // Colours and end points are explicit: left "random", gradients draws them from an
      // unseeded generator even when given a seed, and the world would differ per render.
      static constexpr const char* kPalettes[][3] = {{"0x203080", "0xe08020", "0x20a040"},
                                                     {"0x802040", "0x40c0e0", "0xf0f060"},
                                                     {"0x105010", "0xd040d0", "0x4060ff"}};
      const auto& c = kPalettes[seed % 3];
      return absl::StrFormat(
          "gradients=s=%dx%d:r=%d:speed=0.1:type=%d:nb_colors=3:c0=%s:c1=%s:c2=%s:x0=0:y0=0:"
          "x1=%d:y1=%d:seed=%d%s",
          w, h, r, seed % 4, c[0], c[1], c[2], w - 1, h - 1, seed + 1, Mover(world, seed, w, h));
    }
    case SceneKind::kBars: {
      static constexpr const char* kBars[] = {"smptebars", "smptehdbars", "rgbtestsrc"};
      return absl::StrFormat("%s=s=%dx%d:r=%d%s", kBars[seed % 3], w, h, r,
                             Mover(world, seed, w, h));
    }
    case SceneKind::kCustom:
      return absl::StrReplaceAll(
          scene.custom_source,
          {{"{W}", absl::StrCat(w)}, {"{H}", absl::StrCat(h)}, {"{R}", absl::StrCat(r)}});
  }
  return "";
}

std::string World::HrFramePath(int world_id) const {
  return absl::StrFormat("%s/hr/%06d.png", dir, world_id);
}
std::string World::LrFramePath(int world_id) const {
  return absl::StrFormat("%s/lr/%06d.png", dir, world_id);
}
int World::SceneOf(int world_id) const {
  auto it = std::upper_bound(scene_starts.begin(), scene_starts.end(), world_id);
  return std::max(0, static_cast<int>(it - scene_starts.begin()) - 1);
}

namespace {

absl::Status RenderScene(const WorldSpec& spec, const std::string& source, int start, int frames,
                         const std::string& dir) {
  const std::string n = absl::StrCat(frames);
  const std::string lr_scale = absl::StrFormat(
      "[0:v]format=rgb24,split[h][l0];[l0]format=gbrp,scale=%d:%d:flags=area,"
      "format=rgb24[l]",
      spec.lr_size.width, spec.lr_size.height);
  // Every output needs its own frame limit: the lavfi sources are endless.
  std::vector<std::string> argv = {
      Ffmpeg(), "-nostdin", "-v", "error", "-y", "-threads", "1", "-f", "lavfi", "-i", source,
      "-filter_complex", lr_scale, "-filter_complex_threads", "1",
      // HR: PNG level 1 is several times faster than the default and the files are a cache.
      "-map", "[h]", "-frames:v", n, "-c:v", "png", "-compression_level", "1", "-pix_fmt", "rgb24",
      "-start_number", absl::StrCat(start), dir + "/hr/%06d.png",
      // LR
      "-map", "[l]", "-frames:v", n, "-c:v", "png", "-pix_fmt", "rgb24", "-start_number",
      absl::StrCat(start), dir + "/lr/%06d.png"};
  absl::StatusOr<std::string> out = RunCommand(argv);
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("rendering scene '", source, "': ", out.status().message()));
  }
  return absl::OkStatus();
}

// Distinct world frames are the premise of the truth: a repeated frame would make two world
// ids indistinguishable. Identical PNG bytes <=> identical pixels (the encoder is
// deterministic), so hashing the LR files is enough.
absl::Status CheckDistinct(const std::string& dir, int frames, const World& world) {
  std::map<std::string, int> seen;
  for (int i = 0; i < frames; ++i) {
    FP_ASSIGN_OR_RETURN(std::string digest, Sha256File(absl::StrFormat("%s/lr/%06d.png", dir, i)));
    auto [it, inserted] = seen.emplace(digest, i);
    if (!inserted) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "world frames %d and %d are identical at LR size (scenes %d and %d: '%s'); change "
          "the scene source so that it never repeats a frame",
          it->second, i, world.SceneOf(it->second), world.SceneOf(i),
          world.sources[world.SceneOf(i)]));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<World> RenderWorld(const WorldSpec& spec, const std::string& cache_dir, int jobs) {
  if (spec.scenes.empty()) return absl::InvalidArgumentError("world has no scenes");
  if (spec.lr_size.width < 8 || spec.lr_size.height < 8 || spec.scale < 1 || spec.fps < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad world size %dx%d scale %d fps %d: need at least 8x8 LR, scale >= 1, fps >= 1",
        spec.lr_size.width, spec.lr_size.height, spec.scale, spec.fps));
  }
  World world;
  world.lr_size = spec.lr_size;
  world.hr_size = {spec.lr_size.width * spec.scale, spec.lr_size.height * spec.scale};
  world.fps = spec.fps;
  std::string description =
      absl::StrFormat("v%d %dx%d x%d %dfps\n", kWorldFormatVersion, spec.lr_size.width,
                      spec.lr_size.height, spec.scale, spec.fps);
  for (const SceneSpec& scene : spec.scenes) {
    if (scene.frames < 1) return absl::InvalidArgumentError("a scene has no frames");
    world.scene_starts.push_back(world.frames);
    world.sources.push_back(SceneSource(scene, spec));
    world.frames += scene.frames;
    absl::StrAppend(&description, scene.frames, " ", world.sources.back(), "\n");
  }
  FP_RETURN_IF_ERROR(EnsureWritableDirectory(cache_dir));
  world.dir = absl::StrCat(fs::absolute(cache_dir).lexically_normal().string(), "/world-",
                           Sha256Hex(description).substr(0, 16));
  std::error_code ec;
  // The directory only appears by an atomic rename of a complete render.
  if (fs::exists(world.dir + "/world.txt", ec)) return world;

  const std::string tmp =
      absl::StrFormat("%s.tmp-%d-%x", world.dir, getpid(),
                      std::hash<std::thread::id>{}(std::this_thread::get_id()) & 0xffffff);
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp + "/hr", ec);
  fs::create_directories(tmp + "/lr", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  std::vector<std::function<absl::Status()>> tasks;
  for (size_t i = 0; i < spec.scenes.size(); ++i) {
    tasks.push_back([&, i] {
      return RenderScene(spec, world.sources[i], world.scene_starts[i], spec.scenes[i].frames, tmp);
    });
  }
  absl::Status status = RunAll(std::move(tasks), jobs);
  if (status.ok()) status = CheckDistinct(tmp, world.frames, world);
  if (status.ok()) status = WriteFileAtomically(tmp + "/world.txt", description);
  if (!status.ok()) {
    fs::remove_all(tmp, ec);
    return status;
  }
  fs::rename(tmp, world.dir, ec);
  if (ec) {
    // Another process finished the same world first; theirs is identical.
    fs::remove_all(tmp, ec);
    if (!fs::exists(world.dir + "/world.txt", ec)) {
      return absl::InternalError(absl::StrCat("cannot publish world ", world.dir));
    }
  }
  return world;
}

EditList MakeEditList(const EditSpec& edits, int world_frames, uint64_t seed, uint64_t stream) {
  std::mt19937_64 rng(SplitMix64(seed ^ SplitMix64(stream + 0x5eed)));
  EditList list;
  list.start_offset = UniformInt(rng, edits.start_offset_min, edits.start_offset_max);
  list.end_trim = UniformInt(rng, edits.end_trim_min, edits.end_trim_max);
  const int end = world_frames - list.end_trim;
  for (int w = list.start_offset; w < end;) {
    if (Chance(rng, edits.drop_run_rate)) {
      w += UniformInt(rng, edits.drop_run_min, edits.drop_run_max);
      continue;
    }
    if (Chance(rng, edits.drop_rate)) {
      ++w;
      continue;
    }
    list.world_ids.push_back(w);
    if (Chance(rng, edits.dup_rate)) {
      const int n = UniformInt(rng, edits.dup_min, edits.dup_max);
      for (int k = 0; k < n; ++k) {
        list.duplicates.push_back(static_cast<int>(list.world_ids.size()));
        list.world_ids.push_back(w);
      }
    }
    ++w;
  }
  return list;
}

namespace {

std::string DefaultPixFmt(const CodecSpec& codec, Size size) {
  if (!codec.pix_fmt.empty()) return codec.pix_fmt;
  if (codec.codec == Codec::kFfv1) return "bgr0";
  const bool odd = size.width % 2 != 0 || size.height % 2 != 0;
  return odd ? "yuv444p" : "yuv420p";
}

bool IsRgb(const std::string& pix_fmt) {
  return absl::StrContains(pix_fmt, "rgb") || absl::StrContains(pix_fmt, "bgr") ||
         absl::StartsWith(pix_fmt, "gbr");
}

absl::Status EncodeSide(const World& world, const std::vector<int>& world_ids, bool hr,
                        const CodecSpec& codec, const std::string& pix_fmt,
                        const std::string& out_path) {
  const std::string seq = absl::StrFormat("%s.seq-%d", out_path, getpid());
  std::error_code ec;
  fs::remove_all(seq, ec);
  fs::create_directories(seq, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", seq, ": ", ec.message()));
  for (size_t i = 0; i < world_ids.size(); ++i) {
    const std::string target =
        hr ? world.HrFramePath(world_ids[i]) : world.LrFramePath(world_ids[i]);
    fs::create_symlink(target, absl::StrFormat("%s/%06d.png", seq, i), ec);
    if (ec) {
      fs::remove_all(seq);
      return absl::InternalError(absl::StrCat("cannot link into ", seq, ": ", ec.message()));
    }
  }
  std::vector<std::string> argv = {Ffmpeg(),
                                   "-nostdin",
                                   "-v",
                                   "error",
                                   "-y",
                                   "-threads",
                                   "1",
                                   "-framerate",
                                   absl::StrCat(world.fps),
                                   "-start_number",
                                   "0",
                                   "-i",
                                   seq + "/%06d.png"};
  const bool yuv = !IsRgb(pix_fmt);
  if (yuv && codec.bt709) {
    argv.insert(argv.end(),
                {"-vf", absl::StrCat("scale=out_color_matrix=bt709:out_range=tv,format=", pix_fmt),
                 "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
                 "-color_range", "tv"});
  } else {
    argv.insert(argv.end(), {"-pix_fmt", pix_fmt});
  }
  if (codec.codec == Codec::kX264) {
    argv.insert(argv.end(), {"-c:v", "libx264", "-preset", "fast", "-crf", absl::StrCat(codec.crf),
                             "-threads", "1"});
  } else {
    argv.insert(argv.end(), {"-c:v", "ffv1", "-level", "3", "-coder", "0", "-threads", "1"});
  }
  // No version strings or creation times: same inputs give the same bytes.
  // Written under a temporary name (keeping the extension, which picks the muxer) and
  // renamed: a concurrent reuse of the same output directory never sees a partial file.
  const fs::path final_path(out_path);
  const std::string tmp_path =
      (final_path.parent_path() / absl::StrFormat(".%s.%s-%d%s", final_path.stem().string(), "tmp",
                                                  getpid(), final_path.extension().string()))
          .string();
  argv.insert(argv.end(),
              {"-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", tmp_path});
  absl::StatusOr<std::string> out = RunCommand(argv);
  fs::remove_all(seq, ec);
  if (out.ok()) fs::rename(tmp_path, final_path, ec);
  if (!out.ok() || ec) {
    fs::remove(tmp_path, ec);
    return absl::Status(
        out.ok() ? absl::StatusCode::kInternal : out.status().code(),
        absl::StrCat("encoding ", out_path, ": ",
                     out.ok() ? "cannot rename the output" : out.status().message()));
  }
  return absl::OkStatus();
}

const char* CodecName(Codec codec) { return codec == Codec::kX264 ? "libx264" : "ffv1"; }
const char* Extension(Codec codec) { return codec == Codec::kX264 ? ".mp4" : ".mkv"; }

}  // namespace

namespace {

// Everything the encoded output depends on besides the world (whose directory name is
// already a key of its parameters).
std::string OutputKey(const FootageSpec& spec, const World& world) {
  std::string text = absl::StrCat(world.dir, " seed=", spec.seed, " hr_only=", spec.hr_only);
  for (const SideSpec* side : {&spec.lr, &spec.hr}) {
    const EditSpec& e = side->edits;
    const CodecSpec& c = side->codec;
    absl::StrAppendFormat(&text, "|%d %d %d %d %.17g %d %d %.17g %.17g %d %d|%d %d %s %d",
                          e.start_offset_min, e.start_offset_max, e.end_trim_min, e.end_trim_max,
                          e.drop_run_rate, e.drop_run_min, e.drop_run_max, e.drop_rate, e.dup_rate,
                          e.dup_min, e.dup_max, static_cast<int>(c.codec), c.crf, c.pix_fmt,
                          c.bt709);
  }
  return Sha256Hex(text).substr(0, 16);
}

absl::StatusOr<Footage> ReuseFootage(const std::string& out_dir, const std::string& key) {
  const std::string truth_path = out_dir + "/truth.json";
  std::error_code ec;
  if (!fs::exists(truth_path, ec)) return absl::NotFoundError("no previous output");
  absl::StatusOr<std::string> json = ReadFile(truth_path);
  if (!json.ok() || !absl::StrContains(*json, absl::StrCat("\"key\": \"", key, "\""))) {
    return absl::NotFoundError("previous output is for other parameters");
  }
  FP_ASSIGN_OR_RETURN(Truth truth, TruthFromJson(*json));
  Footage footage;
  footage.lr_path = truth.lr.path;
  footage.hr_path = truth.hr.path;
  footage.truth_path = truth_path;
  footage.truth = std::move(truth);
  for (const std::string& path : {footage.lr_path, footage.hr_path}) {
    if (!path.empty() && !fs::exists(path, ec)) return absl::NotFoundError("output missing");
  }
  return footage;
}

}  // namespace

absl::StatusOr<Footage> GenerateFootage(const FootageSpec& spec, const GenerateOptions& options) {
  if (options.out_dir.empty()) return absl::InvalidArgumentError("GenerateOptions.out_dir unset");
  FP_RETURN_IF_ERROR(EnsureWritableDirectory(options.out_dir));
  FP_ASSIGN_OR_RETURN(World world, RenderWorld(spec.world, options.cache_dir, options.jobs));
  const std::string out_dir = fs::absolute(options.out_dir).lexically_normal().string();
  const std::string key = OutputKey(spec, world);
  if (options.reuse_existing) {
    absl::StatusOr<Footage> previous = ReuseFootage(out_dir, key);
    if (previous.ok()) return previous;
  }

  Footage footage;
  Truth& truth = footage.truth;
  truth.seed = spec.seed;
  truth.key = key;
  truth.world = world;

  struct Job {
    SideTruth* side;
    const SideSpec* spec;
    bool hr;
  };
  std::vector<Job> jobs;
  if (!spec.hr_only) jobs.push_back({&truth.lr, &spec.lr, false});
  jobs.push_back({&truth.hr, &spec.hr, true});
  std::vector<std::function<absl::Status()>> tasks;
  for (const Job& job : jobs) {
    EditList list = MakeEditList(job.spec->edits, world.frames, spec.seed, job.hr ? 2 : 1);
    if (list.world_ids.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("the %s edit list removes all %d world frames; reduce offsets and "
                          "trims",
                          job.hr ? "HR" : "LR", world.frames));
    }
    SideTruth& side = *job.side;
    side.size = job.hr ? world.hr_size : world.lr_size;
    side.codec = CodecName(job.spec->codec.codec);
    side.pix_fmt = DefaultPixFmt(job.spec->codec, side.size);
    side.path = absl::StrCat(out_dir, job.hr ? "/hr" : "/lr", Extension(job.spec->codec.codec));
    side.world_ids = std::move(list.world_ids);
    side.duplicates = std::move(list.duplicates);
    side.start_offset = list.start_offset;
    side.end_trim = list.end_trim;
    tasks.push_back([&world, &side, job] {
      return EncodeSide(world, side.world_ids, job.hr, job.spec->codec, side.pix_fmt, side.path);
    });
  }
  FP_RETURN_IF_ERROR(RunAll(std::move(tasks), options.jobs));
  footage.lr_path = truth.lr.path;
  footage.hr_path = truth.hr.path;
  footage.truth_path = out_dir + "/truth.json";
  FP_RETURN_IF_ERROR(WriteFileAtomically(footage.truth_path, TruthToJson(truth)));
  return footage;
}

// --- Presets ---

namespace {

std::vector<SceneSpec> Scenes(int count) {
  // Neighbouring scenes differ in kind, so every boundary is an unmistakable cut.
  static constexpr SceneKind kOrder[] = {SceneKind::kTestsrc2, SceneKind::kMandelbrot,
                                         SceneKind::kLife,     SceneKind::kBars,
                                         SceneKind::kCellauto, SceneKind::kGradients};
  static constexpr int kFrames[] = {90, 60, 120, 90, 100, 80, 110, 70, 130, 100};
  std::vector<SceneSpec> scenes;
  for (int i = 0; i < count; ++i) {
    SceneSpec scene;
    scene.kind = kOrder[i % 6];
    scene.frames = kFrames[i % 10];
    scene.seed = static_cast<uint32_t>(i / 6 + i);
    scenes.push_back(scene);
  }
  return scenes;
}

}  // namespace

FootageSpec DefaultSpec() {
  FootageSpec spec;
  spec.world.scenes = Scenes(6);
  spec.lr.codec = {Codec::kX264, 18};
  spec.hr.codec = {Codec::kFfv1};
  EditSpec& lr = spec.lr.edits;
  lr.start_offset_min = 10;
  lr.start_offset_max = 40;
  lr.end_trim_min = 0;
  lr.end_trim_max = 20;
  lr.drop_run_rate = 0.008;
  lr.drop_run_min = 2;
  lr.drop_run_max = 8;
  lr.drop_rate = 0.02;
  lr.dup_rate = 0.03;
  EditSpec& hr = spec.hr.edits;
  hr = lr;
  hr.start_offset_min = 0;
  hr.start_offset_max = 15;
  hr.end_trim_min = 10;
  hr.end_trim_max = 40;
  return spec;
}

FootageSpec HardSpec() {
  FootageSpec spec = DefaultSpec();
  spec.world.scenes = Scenes(13);
  EditSpec& lr = spec.lr.edits;
  lr.start_offset_min = lr.start_offset_max = 300;
  lr.end_trim_min = 0;
  lr.end_trim_max = 10;
  lr.drop_run_rate = 0.01;
  lr.drop_run_min = 5;
  lr.drop_run_max = 40;
  lr.drop_rate = 0.03;
  lr.dup_rate = 0.04;
  EditSpec& hr = spec.hr.edits;
  hr = lr;
  hr.start_offset_min = 0;
  hr.start_offset_max = 5;
  hr.end_trim_min = 90;
  hr.end_trim_max = 120;
  return spec;
}

FootageSpec HrOnlySpec() {
  FootageSpec spec = DefaultSpec();
  spec.hr_only = true;
  spec.lr = {};
  return spec;
}

// --- Truth JSON ---

namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonInts(const std::vector<int>& v) { return "[" + absl::StrJoin(v, ",") + "]"; }
std::string JsonSize(Size s) { return absl::StrFormat("[%d,%d]", s.width, s.height); }

std::string SideJson(const SideTruth& side) {
  return absl::StrCat(
      "{\n    \"path\": ", JsonString(side.path), ",\n    \"codec\": ", JsonString(side.codec),
      ",\n    \"pix_fmt\": ", JsonString(side.pix_fmt), ",\n    \"size\": ", JsonSize(side.size),
      ",\n    \"frames\": ", side.world_ids.size(), ",\n    \"start_offset\": ", side.start_offset,
      ",\n    \"end_trim\": ", side.end_trim, ",\n    \"duplicates\": ", JsonInts(side.duplicates),
      ",\n    \"world_ids\": ", JsonInts(side.world_ids), "\n  }");
}

}  // namespace

std::string TruthToJson(const Truth& truth) {
  const World& w = truth.world;
  std::vector<std::string> sources;
  for (const std::string& s : w.sources) sources.push_back(JsonString(s));
  std::string json = absl::StrCat(
      "{\n  \"version\": 1,\n  \"key\": ", JsonString(truth.key), ",\n  \"seed\": ", truth.seed,
      ",\n  \"world\": {\n    \"dir\": ", JsonString(w.dir), ",\n    \"frames\": ", w.frames,
      ",\n    \"fps\": ", w.fps, ",\n    \"lr_size\": ", JsonSize(w.lr_size),
      ",\n    \"hr_size\": ", JsonSize(w.hr_size),
      ",\n    \"scene_starts\": ", JsonInts(w.scene_starts), ",\n    \"sources\": [\n      ",
      absl::StrJoin(sources, ",\n      "),
      "\n    ]\n  },\n  \"matchable\": ", MatchablePairs(truth).size());
  if (!truth.lr.path.empty()) absl::StrAppend(&json, ",\n  \"lr\": ", SideJson(truth.lr));
  absl::StrAppend(&json, ",\n  \"hr\": ", SideJson(truth.hr), "\n}\n");
  return json;
}

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<const Value*> Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  if (it == s.fields().end()) {
    return absl::InvalidArgumentError(absl::StrCat("truth.json: missing field '", name, "'"));
  }
  return &it->second;
}

absl::StatusOr<int> IntField(const Struct& s, const std::string& name) {
  FP_ASSIGN_OR_RETURN(const Value* v, Field(s, name));
  return static_cast<int>(v->number_value());
}

absl::StatusOr<std::string> StringField(const Struct& s, const std::string& name) {
  FP_ASSIGN_OR_RETURN(const Value* v, Field(s, name));
  return v->string_value();
}

absl::StatusOr<std::vector<int>> IntsField(const Struct& s, const std::string& name) {
  FP_ASSIGN_OR_RETURN(const Value* v, Field(s, name));
  std::vector<int> out;
  for (const Value& e : v->list_value().values()) out.push_back(static_cast<int>(e.number_value()));
  return out;
}

absl::StatusOr<Size> SizeField(const Struct& s, const std::string& name) {
  FP_ASSIGN_OR_RETURN(std::vector<int> v, IntsField(s, name));
  if (v.size() != 2) return absl::InvalidArgumentError(absl::StrCat("truth.json: bad ", name));
  return Size{v[0], v[1]};
}

absl::StatusOr<SideTruth> SideFromStruct(const Struct& s) {
  SideTruth side;
  FP_ASSIGN_OR_RETURN(side.path, StringField(s, "path"));
  FP_ASSIGN_OR_RETURN(side.codec, StringField(s, "codec"));
  FP_ASSIGN_OR_RETURN(side.pix_fmt, StringField(s, "pix_fmt"));
  FP_ASSIGN_OR_RETURN(side.size, SizeField(s, "size"));
  FP_ASSIGN_OR_RETURN(side.start_offset, IntField(s, "start_offset"));
  FP_ASSIGN_OR_RETURN(side.end_trim, IntField(s, "end_trim"));
  FP_ASSIGN_OR_RETURN(side.duplicates, IntsField(s, "duplicates"));
  FP_ASSIGN_OR_RETURN(side.world_ids, IntsField(s, "world_ids"));
  return side;
}

}  // namespace

absl::StatusOr<Truth> TruthFromJson(const std::string& json) {
  Struct root;
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("truth.json: ", parsed.ToString()));
  }
  Truth truth;
  FP_ASSIGN_OR_RETURN(const Value* seed, Field(root, "seed"));
  truth.seed = static_cast<uint64_t>(seed->number_value());
  if (root.fields().contains("key")) truth.key = root.fields().at("key").string_value();
  FP_ASSIGN_OR_RETURN(const Value* world_value, Field(root, "world"));
  const Struct& w = world_value->struct_value();
  World& world = truth.world;
  FP_ASSIGN_OR_RETURN(world.dir, StringField(w, "dir"));
  FP_ASSIGN_OR_RETURN(world.frames, IntField(w, "frames"));
  FP_ASSIGN_OR_RETURN(world.fps, IntField(w, "fps"));
  FP_ASSIGN_OR_RETURN(world.lr_size, SizeField(w, "lr_size"));
  FP_ASSIGN_OR_RETURN(world.hr_size, SizeField(w, "hr_size"));
  FP_ASSIGN_OR_RETURN(world.scene_starts, IntsField(w, "scene_starts"));
  FP_ASSIGN_OR_RETURN(const Value* sources, Field(w, "sources"));
  for (const Value& s : sources->list_value().values()) world.sources.push_back(s.string_value());
  if (root.fields().contains("lr")) {
    FP_ASSIGN_OR_RETURN(truth.lr, SideFromStruct(root.fields().at("lr").struct_value()));
  }
  FP_ASSIGN_OR_RETURN(const Value* hr, Field(root, "hr"));
  FP_ASSIGN_OR_RETURN(truth.hr, SideFromStruct(hr->struct_value()));
  return truth;
}

absl::StatusOr<Truth> ReadTruth(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string json, ReadFile(path));
  absl::StatusOr<Truth> truth = TruthFromJson(json);
  if (!truth.ok()) {
    return absl::Status(truth.status().code(), absl::StrCat(path, ": ", truth.status().message()));
  }
  return truth;
}

// --- Scoring ---

std::vector<int> MatchablePairs(const Truth& truth) {
  std::set<int> lr(truth.lr.world_ids.begin(), truth.lr.world_ids.end());
  std::set<int> hr(truth.hr.world_ids.begin(), truth.hr.world_ids.end());
  std::vector<int> both;
  std::set_intersection(lr.begin(), lr.end(), hr.begin(), hr.end(), std::back_inserter(both));
  return both;
}

namespace {

double Ratio(int num, int den) { return den == 0 ? 1.0 : static_cast<double>(num) / den; }

// One-to-one matching of sorted positions within a tolerance. Greedy earliest-first is
// optimal for intervals on a line.
PrecisionRecall MatchPositions(std::vector<int> predicted, const std::vector<int>& truth,
                               int tolerance) {
  std::sort(predicted.begin(), predicted.end());
  PrecisionRecall pr;
  pr.predicted = static_cast<int>(predicted.size());
  pr.relevant = static_cast<int>(truth.size());
  size_t t = 0;
  for (int p : predicted) {
    while (t < truth.size() && truth[t] < p - tolerance) ++t;
    if (t < truth.size() && truth[t] <= p + tolerance) {
      ++pr.correct;
      ++t;
    }
  }
  pr.found = pr.correct;
  pr.precision = Ratio(pr.correct, pr.predicted);
  pr.recall = Ratio(pr.found, pr.relevant);
  return pr;
}

std::vector<int> CutPositions(const World& world, const std::vector<int>& sequence) {
  std::vector<int> cuts;
  for (size_t i = 1; i < sequence.size(); ++i) {
    if (world.SceneOf(sequence[i]) != world.SceneOf(sequence[i - 1])) {
      cuts.push_back(static_cast<int>(i));
    }
  }
  return cuts;
}

}  // namespace

PrecisionRecall EvaluateAlignment(const Truth& truth,
                                  const std::vector<std::pair<int, int>>& pairs) {
  const std::vector<int>& lr = truth.lr.world_ids;
  const std::vector<int>& hr = truth.hr.world_ids;
  PrecisionRecall pr;
  pr.predicted = static_cast<int>(pairs.size());
  pr.relevant = static_cast<int>(MatchablePairs(truth).size());
  std::set<int> covered;
  for (auto [l, h] : pairs) {
    if (l < 0 || h < 0 || l >= static_cast<int>(lr.size()) || h >= static_cast<int>(hr.size())) {
      continue;
    }
    if (lr[l] == hr[h]) {
      ++pr.correct;
      covered.insert(lr[l]);
    }
  }
  pr.found = static_cast<int>(covered.size());
  pr.precision = Ratio(pr.correct, pr.predicted);
  pr.recall = Ratio(pr.found, pr.relevant);
  return pr;
}

PrecisionRecall EvaluateCutsByWorldId(const Truth& truth, const std::vector<int>& cut_world_ids,
                                      int tolerance) {
  const std::vector<int> matchable = MatchablePairs(truth);
  std::vector<int> predicted;
  for (int id : cut_world_ids) {
    predicted.push_back(static_cast<int>(std::lower_bound(matchable.begin(), matchable.end(), id) -
                                         matchable.begin()));
  }
  return MatchPositions(std::move(predicted), CutPositions(truth.world, matchable), tolerance);
}

PrecisionRecall EvaluateCutsByLrFrame(const Truth& truth, const std::vector<int>& cut_lr_frames,
                                      int tolerance) {
  return MatchPositions(cut_lr_frames, CutPositions(truth.world, truth.lr.world_ids), tolerance);
}

// --- Running tools ---

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv, int timeout_seconds) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: empty argv");
  testing::ProcessResult result = testing::RunProcess(argv, timeout_seconds);
  if (result.exit_code == 0) return std::move(result.out);
  if (result.exit_code < 0 && result.signal == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run '", argv[0], "'; is it installed and on PATH?"));
  }
  const std::string how = result.exit_code >= 0
                              ? absl::StrCat("exited with status ", result.exit_code)
                              : absl::StrCat("killed by signal ", result.signal,
                                             result.signal == 9 ? " (timeout?)" : "");
  std::string err = result.err;
  if (err.size() > 2000) err = "..." + err.substr(err.size() - 2000);
  return absl::InternalError(absl::StrCat("'", absl::StrJoin(argv, " "), "' ", how, ": ",
                                          absl::StripAsciiWhitespace(err)));
}

absl::StatusOr<std::vector<std::string>> FrameMd5s(const std::string& path,
                                                   const std::string& pix_fmt) {
  FP_ASSIGN_OR_RETURN(
      std::string out,
      RunCommand({Ffmpeg(), "-nostdin", "-v", "error", "-threads", "1", "-i", path, "-map", "0:v:0",
                  "-fps_mode", "passthrough", "-pix_fmt", pix_fmt, "-f", "framemd5", "-"}));
  std::vector<std::string> md5s;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    md5s.emplace_back(absl::StripAsciiWhitespace(fields.back()));
  }
  return md5s;
}

absl::StatusOr<int> CountFrames(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string out,
                      RunCommand({"ffprobe", "-v", "error", "-threads", "1", "-select_streams",
                                  "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames",
                                  "-of", "csv=p=0", path}));
  int frames = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &frames)) {
    return absl::InternalError(
        absl::StrCat("ffprobe gave '", out, "' as the frame count of ", path));
  }
  return frames;
}

}  // namespace framepair::footage
