#include "support/footage.h"

#include <fcntl.h>
#include <sys/file.h>
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
#include <tuple>

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
#include "png/png.h"
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
    case SceneKind::kSmallMotion: {
      // Background: a smooth two-frequency texture computed once per frame at half LR
      // resolution (geq is slow; the texture does not depend on N, so it is static).
      static constexpr double kFreq[][2] = {{0.37, 0.23}, {0.29, 0.41}, {0.53, 0.19}, {0.21, 0.31}};
      static constexpr const char* kSprite[] = {"0xff3030", "0x30ff60", "0x3060ff", "0xffff40"};
      // Seeds 2k and 2k+1 share the texture's frequencies and the sprite's colour; only the
      // texture's phase and tint differ: a cut between them is a modest one.
      const auto& f = kFreq[(seed / 2) % 4];
      const double phase = (seed % 2) * 1.0;
      const int s = world.scale;
      const int lw = world.lr_size.width, lh = world.lr_size.height;
      const int base = 60 + static_cast<int>(seed % 3) * 8;
      const std::string bg = absl::StrFormat(
          "nullsrc=s=%dx%d:r=%d,format=rgb24,"
          "geq=r='%d+40*sin(X*%g+%g)*sin(Y*%g)':g='%d+40*sin(X*%g+1)*sin(Y*%g+2+%g)':"
          "b='%d+30*sin((X+Y)*%g+%g)',scale=%d:%d:flags=neighbor",
          std::max(1, lw / 2), std::max(1, lh / 2), r, base, f[0], phase, f[1], base + 10, f[1],
          f[0], phase, base + 30, (f[0] + f[1]) / 2, phase, w, h);
      // Sprite: 8x8 LR pixels, 1 LR pixel per frame along rows; the row steps by 3 LR pixels
      // after each pass so a position never repeats within a scene.
      const int span_x = std::max(1, lw - 8);
      const int span_y = std::max(1, lh - 8);
      // Status area: a 16-bit binary frame counter in 4x4 cells of 8x8 LR pixels.
      const int cell = 8 * s;
      const std::string bit = absl::StrFormat(
          "mod(floor((N+%d)/pow(2,floor(Y/%d)*4+floor(X/%d))),2)", seed * 4099 % 1000, cell, cell);
      return absl::StrFormat(
          "%s[bg];color=c=%s:s=%dx%d:r=%d[sp];"
          "nullsrc=s=%dx%d:r=%d,format=rgb24,geq=r='40+200*%s':g='40+160*%s':b='60+0*%s'[ctr];"
          "[bg][sp]overlay=x='%d*mod(n,%d)':y='%d*mod(floor(n/%d)*3+%d,%d)'[a];"
          "[a][ctr]overlay=x=W-w-%d:y=%d",
          bg, kSprite[(seed / 2) % 4], 8 * s, 8 * s, r, 4 * cell, 4 * cell, r, bit, bit, bit, s,
          span_x, s, span_x, static_cast<int>(seed * 7 % span_y), span_y, 4 * s, 4 * s);
    }
    case SceneKind::kSlowPan: {
      // A cellular-automaton texture with cells of 4 LR pixels, filled in full (full=1) on
      // the first frame and frozen (loop; setpts makes the timestamps regular again), then
      // scrolled. Two close colours per palette: a 1-pixel step changes only cell edges.
      static constexpr int kRules[] = {30, 110, 45, 105};
      static constexpr const char* kPalettes[][2] = {{"0x3a5a8a", "0x8aa0c8"},
                                                     {"0x6a8a3a", "0xb8c878"},
                                                     {"0x8a4a3a", "0xd09070"},
                                                     {"0x5a5a5a", "0xa8a8a8"}};
      const auto& pal = kPalettes[seed % 4];
      auto channel = [&](int shift) {
        const int lo = std::stoi(std::string(pal[0]).substr(2), nullptr, 16) >> shift & 0xff;
        const int hi = std::stoi(std::string(pal[1]).substr(2), nullptr, 16) >> shift & 0xff;
        return absl::StrFormat("if(val,%d,%d)", hi, lo);
      };
      const int s = world.scale;
      const int frames = std::min(scene.frames, 4096);
      const int gw = (world.lr_size.width + frames + 3) / 4 + 1;
      const int gh = std::max(3, (world.lr_size.height + 3) / 4);
      return absl::StrFormat(
          "cellauto=s=%dx%d:r=%d:rule=%d:seed=%d:full=1,loop=loop=-1:size=1,setpts=N/(%d*TB),"
          "scale=%d:%d:flags=neighbor,format=rgb24,lutrgb=r='%s':g='%s':b='%s',"
          "crop=%d:%d:x='%d*mod(n,%d)':y=0",
          gw, gh, r, kRules[(seed / 4) % 4], seed + 1, r, gw * 4 * s, gh * 4 * s, channel(16),
          channel(8), channel(0), w, h, s, frames);
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
bool SideTruth::HasHud(int frame) const {
  if (frame < 0 || frame >= static_cast<int>(world_ids.size())) return false;
  return world_ids[frame] >= hud_from && world_ids[frame] < hud_to;
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
  FP_ASSIGN_OR_RETURN(
      world.dir,
      CachedDirectory(cache_dir, "world", description, [&](const std::string& tmp) -> absl::Status {
        std::error_code ec;
        fs::create_directories(tmp + "/hr", ec);
        fs::create_directories(tmp + "/lr", ec);
        if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
        std::vector<std::function<absl::Status()>> tasks;
        for (size_t i = 0; i < spec.scenes.size(); ++i) {
          tasks.push_back([&, i] {
            return RenderScene(spec, world.sources[i], world.scene_starts[i], spec.scenes[i].frames,
                               tmp);
          });
        }
        FP_RETURN_IF_ERROR(RunAll(std::move(tasks), jobs));
        return CheckDistinct(tmp, world.frames, world);
      }));
  return world;
}

absl::StatusOr<std::string> CachedDirectory(
    const std::string& cache_dir, const std::string& name, const std::string& description,
    const std::function<absl::Status(const std::string& dir)>& fill) {
  FP_RETURN_IF_ERROR(EnsureWritableDirectory(cache_dir));
  const std::string dir = absl::StrCat(fs::absolute(cache_dir).lexically_normal().string(), "/",
                                       name, "-", Sha256Hex(description).substr(0, 16));
  const std::string marker = absl::StrCat("/", name, ".txt");
  std::error_code ec;
  // The directory only appears by an atomic rename of complete contents.
  if (fs::exists(dir + marker, ec)) return dir;

  const std::string tmp =
      absl::StrFormat("%s.tmp-%d-%x", dir, getpid(),
                      std::hash<std::thread::id>{}(std::this_thread::get_id()) & 0xffffff);
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  absl::Status status = fill(tmp);
  if (status.ok()) status = WriteFileAtomically(tmp + marker, description);
  if (!status.ok()) {
    fs::remove_all(tmp, ec);
    return status;
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    // Another process finished the same directory first; theirs is identical.
    fs::remove_all(tmp, ec);
    if (!fs::exists(dir + marker, ec)) {
      return absl::InternalError(absl::StrCat("cannot publish ", dir));
    }
  }
  return dir;
}

absl::StatusOr<std::string> CachedFfmpegOutputs(
    const std::string& name, const std::vector<std::vector<std::string>>& commands,
    const std::string& cache_dir) {
  std::string description;
  for (const std::vector<std::string>& command : commands) {
    absl::StrAppend(&description, "ffmpeg ", absl::StrJoin(command, " "), "\n");
  }
  return CachedDirectory(cache_dir, name, description, [&](const std::string& dir) {
    for (const std::vector<std::string>& command : commands) {
      std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-y", "-loglevel", "error"};
      for (const std::string& arg : command) {
        argv.push_back(absl::StrReplaceAll(arg, {{"{dir}", dir}}));
      }
      std::error_code ec;
      fs::create_directories(fs::path(argv.back()).parent_path(), ec);
      FP_RETURN_IF_ERROR(RunCommand(argv).status());
    }
    return absl::OkStatus();
  });
}

EditList MakeEditList(const EditSpec& edits, int world_frames, uint64_t seed, uint64_t stream) {
  std::mt19937_64 rng(SplitMix64(seed ^ SplitMix64(stream + 0x5eed)));
  EditList list;
  list.start_offset = UniformInt(rng, edits.start_offset_min, edits.start_offset_max);
  list.end_trim = UniformInt(rng, edits.end_trim_min, edits.end_trim_max);
  const int end = world_frames - list.end_trim;
  // Holds draw from their own stream: turning them on leaves the drops where they were.
  std::mt19937_64 hold_rng(SplitMix64(seed ^ SplitMix64(stream + 0x401d)));
  const int render = std::max(1, edits.render_divisor);
  const int capture = std::max(1, edits.capture_divisor);
  const bool gap = edits.gap_at >= 0 && edits.gap_len > 0;
  const int gap_end = gap ? edits.gap_at + edits.gap_len : -1;
  // The frame the game has on screen at world tick t (render divisor anchored to the world).
  auto rendered = [&](int t) { return t - t % render; };
  int held_id = -1;  // frame frozen by a hold, shown until tick held_until
  int held_until = -1;
  // Capture ticks are world ticks start, start + capture, ...; a drop run skips captures.
  for (int w = list.start_offset; w < end;) {
    if (gap && w >= edits.gap_at && w < gap_end && !edits.gap_hold) {
      // A missing stall: the recording resumes at the first capture tick after the gap.
      w += (gap_end - w + capture - 1) / capture * capture;
      continue;
    }
    if (Chance(rng, edits.drop_run_rate)) {
      w += capture * UniformInt(rng, edits.drop_run_min, edits.drop_run_max);
      continue;
    }
    if (Chance(rng, edits.drop_rate)) {
      w += capture;
      continue;
    }
    int shown = rendered(w);
    if (gap && w >= edits.gap_at && w < gap_end) {
      shown = rendered(std::max(0, edits.gap_at - 1));  // frozen on the last frame before
    } else if (w < held_until) {
      shown = held_id;
    } else if (edits.hold_rate > 0 && Chance(hold_rng, edits.hold_rate)) {
      held_id = shown;
      held_until = w + capture * UniformInt(hold_rng, edits.hold_min, edits.hold_max);
    }
    list.world_ids.push_back(shown);
    if (Chance(rng, edits.dup_rate)) {
      const int n = UniformInt(rng, edits.dup_min, edits.dup_max);
      for (int k = 0; k < n; ++k) list.world_ids.push_back(shown);
    }
    w += capture;
  }
  // Every repeat of the previous frame, whatever made it (injected, held, rendered at a
  // lower rate, frozen): what a perfect duplicate remover drops. Without the realism options
  // these are exactly the injected repeats.
  for (size_t i = 1; i < list.world_ids.size(); ++i) {
    if (list.world_ids[i] == list.world_ids[i - 1]) {
      list.duplicates.push_back(static_cast<int>(i));
    }
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

// The decoded frames [first, last] that carry the side's HUD; first > last when none do.
std::pair<int, int> HudFrames(const SideTruth& side) {
  int first = -1, last = -2;
  if (side.hud_to <= side.hud_from) return {first, last};
  for (int i = 0; i < static_cast<int>(side.world_ids.size()); ++i) {
    if (side.HasHud(i)) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? std::pair{0, -1} : std::pair{first, last};
}

absl::Status EncodeSide(const World& world, const SideTruth& side, bool hr, const CodecSpec& codec,
                        const std::string& out_path) {
  const std::vector<int>& world_ids = side.world_ids;
  const std::string& pix_fmt = side.pix_fmt;
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
                                   side.capture_divisor > 1
                                       ? absl::StrCat(world.fps, "/", side.capture_divisor)
                                       : absl::StrCat(world.fps),
                                   "-start_number",
                                   "0",
                                   "-i",
                                   seq + "/%06d.png"};
  const bool yuv = !IsRgb(pix_fmt);
  // The HUD is drawn on the RGB input, so its colour is exact before the codec's error.
  std::string hud;
  if (const auto [first, last] = HudFrames(side); first <= last) {
    const Rect& r = side.hud_rect;
    hud = absl::StrFormat(
        "format=rgb24,drawbox=x=%d:y=%d:w=%d:h=%d:color=%s:t=fill:"
        "enable='between(n,%d,%d)',",
        r.x, r.y, r.width, r.height, side.hud_color, first, last);
  }
  // The tag lies about the content: the pixels stay limited range (out_range=tv).
  const bool full_tag = side.tagged_full_range;
  if (yuv && codec.bt709) {
    argv.insert(
        argv.end(),
        {"-vf", absl::StrCat(hud, "scale=out_color_matrix=bt709:out_range=tv,format=", pix_fmt),
         "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range",
         full_tag ? "pc" : "tv"});
  } else {
    if (!hud.empty()) argv.insert(argv.end(), {"-vf", absl::StrCat(hud, "format=", pix_fmt)});
    argv.insert(argv.end(), {"-pix_fmt", pix_fmt});
    if (full_tag) argv.insert(argv.end(), {"-color_range", "pc"});
  }
  if (codec.codec == Codec::kX264) {
    argv.insert(argv.end(), {"-c:v", "libx264", "-preset", "fast", "-crf", absl::StrCat(codec.crf),
                             "-threads", "1"});
    if (codec.gop > 0) argv.insert(argv.end(), {"-g", absl::StrCat(codec.gop)});
    // The container tag follows -color_range; the bitstream's VUI is rewritten so that
    // both say full range whatever the encoder wrapper decided.
    if (full_tag) argv.insert(argv.end(), {"-bsf:v", "h264_metadata=video_full_range_flag=1"});
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
    // Realism options join the key only when set, so older specs keep their keys (and
    // reuse_existing keeps finding their output).
    const HudSpec& h = side->hud;
    if (e.render_divisor != 1 || e.capture_divisor != 1 || e.hold_rate != 0 || e.gap_at >= 0 ||
        c.gop != 0 || c.tag_full_range || h.to > h.from) {
      absl::StrAppendFormat(&text,
                            "|r%d c%d h%.17g %d %d g%d %d %d|gop%d fr%d|hud%d %d %d %d %d %d %s",
                            e.render_divisor, e.capture_divisor, e.hold_rate, e.hold_min,
                            e.hold_max, e.gap_at, e.gap_len, e.gap_hold, c.gop, c.tag_full_range,
                            h.from, h.to, h.rect.x, h.rect.y, h.rect.width, h.rect.height, h.color);
    }
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
  // Two test processes may ask for the same footage at once (ctest runs the CI tier and the
  // full fidelity tier side by side): one generates, the other waits and reuses its output.
  // The kernel drops the lock if this process dies.
  const int lock_fd =
      open((out_dir + "/.generate.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
    if (lock_fd >= 0) close(lock_fd);
    return absl::InternalError(absl::StrCat("cannot lock ", out_dir, "/.generate.lock"));
  }
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{lock_fd};
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
    const EditSpec& e = job.spec->edits;
    const CodecSpec& c = job.spec->codec;
    side.render_divisor = std::max(1, e.render_divisor);
    side.capture_divisor = std::max(1, e.capture_divisor);
    if (e.gap_at >= 0 && e.gap_len > 0) {
      side.gap_at = e.gap_at;
      side.gap_len = e.gap_len;
      side.gap_hold = e.gap_hold;
    }
    side.gop = c.codec == Codec::kX264 ? c.gop : 0;
    if (c.tag_full_range) {
      if (c.codec != Codec::kX264 || IsRgb(side.pix_fmt)) {
        return absl::InvalidArgumentError(
            "tag_full_range needs a libx264 YUV stream: it mislabels limited-range YUV");
      }
      side.tagged_full_range = true;
    }
    const HudSpec& hud = job.spec->hud;
    if (hud.to > hud.from) {
      const int s = job.hr ? spec.world.scale : 1;
      const Rect& r = hud.rect;
      if (r.width <= 0 || r.height <= 0 || r.x < 0 || r.y < 0 ||
          r.x + r.width > world.lr_size.width || r.y + r.height > world.lr_size.height) {
        return absl::InvalidArgumentError(
            absl::StrFormat("HUD rect %d,%d %dx%d is not inside the %dx%d LR frame", r.x, r.y,
                            r.width, r.height, world.lr_size.width, world.lr_size.height));
      }
      side.hud_from = hud.from;
      side.hud_to = hud.to;
      side.hud_rect = {r.x * s, r.y * s, r.width * s, r.height * s};
      side.hud_color = hud.color;
    }
    tasks.push_back([&world, &side, job] {
      return EncodeSide(world, side, job.hr, job.spec->codec, side.path);
    });
  }
  FP_RETURN_IF_ERROR(RunAll(std::move(tasks), options.jobs));
  footage.lr_path = truth.lr.path;
  footage.hr_path = truth.hr.path;
  footage.truth_path = out_dir + "/truth.json";
  FP_RETURN_IF_ERROR(WriteFileAtomically(footage.truth_path, TruthToJson(truth)));
  return footage;
}

absl::StatusOr<Footage> CachedFootage(const FootageSpec& spec, const std::string& cache_dir,
                                      int jobs) {
  FP_ASSIGN_OR_RETURN(World world, RenderWorld(spec.world, cache_dir, jobs));
  GenerateOptions options;
  options.out_dir =
      absl::StrCat(world.dir.substr(0, world.dir.rfind('/')), "/footage-", OutputKey(spec, world));
  options.cache_dir = cache_dir;
  options.jobs = jobs;
  options.reuse_existing = true;
  return GenerateFootage(spec, options);
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

// --- Realistic presets ---

namespace {

// 930 world frames. Cuts 1|2 and 3|4 are the hard ones: 1|2 is small-motion to
// small-motion (same layout, sprite and counter; the background texture and tint change a
// little: the near-threshold cut) and 3|4 is slow pan to slow pan with the same two colours
// and another automaton rule (the same-palette cut). footage_test prints their content
// scores. The rest are the ordinary kinds, for contrast.
std::vector<SceneSpec> RealisticScenes(int extra_sets = 0) {
  std::vector<SceneSpec> scenes = {
      {SceneKind::kSmallMotion, 150, 0}, {SceneKind::kSmallMotion, 120, 1},
      {SceneKind::kSlowPan, 150, 0},     {SceneKind::kSlowPan, 120, 4},
      {SceneKind::kTestsrc2, 90, 2},     {SceneKind::kLife, 100, 3},
      {SceneKind::kSlowPan, 120, 1},     {SceneKind::kMandelbrot, 80, 1},
  };
  // Longer worlds: more of the same kinds with other seeds (290 frames a set).
  for (int i = 0; i < extra_sets; ++i) {
    const uint32_t k = static_cast<uint32_t>(i) * 4 + 5;
    scenes.push_back({SceneKind::kSmallMotion, 100, k});
    scenes.push_back({SceneKind::kCellauto, 90, k});
    scenes.push_back({SceneKind::kSlowPan, 100, k + 1});
  }
  return scenes;
}

EditSpec NaturalEdits(int offset_max, int trim_max) {
  EditSpec e;
  e.start_offset_min = 0;
  e.start_offset_max = offset_max;
  e.end_trim_min = 0;
  e.end_trim_max = trim_max;
  e.drop_run_rate = 0.004;
  e.drop_run_min = 2;
  e.drop_run_max = 6;
  e.drop_rate = 0.015;
  e.dup_rate = 0.02;
  e.dup_min = 1;
  e.dup_max = 2;
  return e;
}

FootageSpec RealisticBase(int fps) {
  FootageSpec spec;
  spec.world.lr_size = {160, 96};
  spec.world.scale = 4;
  spec.world.fps = fps;
  spec.world.scenes = RealisticScenes();
  spec.lr.edits = NaturalEdits(30, 20);
  spec.hr.edits = NaturalEdits(10, 30);
  // Independent lossy encodes: different quality and keyframe spacing on each side.
  spec.lr.codec = {Codec::kX264, 30};
  spec.lr.codec.gop = 2 * fps;
  spec.hr.codec = {Codec::kX264, 24};
  spec.hr.codec.gop = 5 * fps;
  spec.seed = 11;
  return spec;
}

}  // namespace

std::vector<NamedSpec> RealisticSpecs() {
  std::vector<NamedSpec> out;
  {
    FootageSpec spec = RealisticBase(30);
    spec.lr.codec.crf = 35;
    spec.lr.codec.gop = 30;
    spec.hr.codec.crf = 23;
    spec.hr.codec.gop = 250;
    out.push_back({"independent_lossy",
                   "30 fps; LR crf 35 gop 30, HR crf 23 gop 250; drops and repeats on both "
                   "sides; small-motion, slow-pan, near-threshold and same-palette cuts",
                   spec});
  }
  {
    FootageSpec spec = RealisticBase(60);
    spec.lr.edits.render_divisor = 2;
    out.push_back({"half_rate_lr",
                   "60 fps streams; LR game rendered at 30 (each moment twice), HR every frame: "
                   "odd moments exist on HR only",
                   spec});
  }
  {
    FootageSpec spec = RealisticBase(60);
    spec.hr.edits.render_divisor = 2;
    out.push_back(
        {"half_rate_hr", "the converse of half_rate_lr: HR rendered at 30 in 60 fps", spec});
  }
  {
    FootageSpec spec = RealisticBase(60);
    spec.lr.edits.capture_divisor = 2;
    out.push_back({"capture_30_vs_60",
                   "world at 60; LR captured at 30 fps (every other world frame, stream 30 "
                   "fps, no repeats), HR at 60",
                   spec});
  }
  {
    FootageSpec spec = RealisticBase(60);
    for (SideSpec* side : {&spec.lr, &spec.hr}) {
      side->edits.render_divisor = 5;
      side->edits.hold_rate = 0.01;
      side->edits.hold_min = 6;
      side->edits.hold_max = 15;
      side->edits.drop_run_rate = 0.006;
      side->edits.drop_run_min = 3;
      side->edits.drop_run_max = 12;
    }
    out.push_back({"held_frames",
                   "a 12 fps game captured at 60 on both sides (every moment 5 times), hitches "
                   "holding a frame 6-15 frames, drop runs",
                   spec});
  }
  {
    FootageSpec spec = RealisticBase(30);
    spec.world.scenes = RealisticScenes(3);  // 1800 frames
    spec.lr.edits.gap_at = 150;
    spec.lr.edits.gap_len = 600;
    spec.lr.edits.gap_hold = true;
    spec.hr.edits.gap_at = 1000;
    spec.hr.edits.gap_len = 600;
    spec.hr.edits.gap_hold = false;
    out.push_back({"long_gaps",
                   "1800 world frames; LR frozen on one frame for world 150-749, HR missing "
                   "world 1000-1599; pairable: ~0-149, 750-999, 1600-1799",
                   spec});
  }
  {
    FootageSpec spec = RealisticBase(30);
    spec.hr.hud = {300, 330, {8, 72, 40, 16}, "0xf0f0f0"};
    out.push_back(
        {"hud_on_hr", "HR only has a filled 40x16-LR box over world frames 300-329 (1 s)", spec});
  }
  {
    FootageSpec spec = RealisticBase(30);
    spec.hr.codec.tag_full_range = true;
    out.push_back({"range_mismatch",
                   "HR is limited-range content tagged full range (container and VUI)", spec});
  }
  return out;
}

absl::StatusOr<FootageSpec> RealisticSpec(const std::string& name) {
  std::vector<std::string> names;
  for (NamedSpec& named : RealisticSpecs()) {
    if (named.name == name) return std::move(named.spec);
    names.push_back(named.name);
  }
  return absl::NotFoundError(
      absl::StrCat("no realistic preset '", name, "'; there are: ", absl::StrJoin(names, ", ")));
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

// Realism fields, only those that are set: footage without them keeps its exact JSON.
std::string SideRealismJson(const SideTruth& side) {
  std::string out;
  if (side.render_divisor != 1)
    absl::StrAppend(&out, ",\n    \"render_divisor\": ", side.render_divisor);
  if (side.capture_divisor != 1) {
    absl::StrAppend(&out, ",\n    \"capture_divisor\": ", side.capture_divisor);
  }
  if (side.gap_len > 0) {
    absl::StrAppend(&out, ",\n    \"gap\": [", side.gap_at, ",", side.gap_len, ",",
                    side.gap_hold ? 1 : 0, "]");
  }
  if (side.gop != 0) absl::StrAppend(&out, ",\n    \"gop\": ", side.gop);
  if (side.hud_to > side.hud_from) {
    const Rect& r = side.hud_rect;
    absl::StrAppend(&out, ",\n    \"hud\": [", side.hud_from, ",", side.hud_to, ",", r.x, ",", r.y,
                    ",", r.width, ",", r.height,
                    "],\n    \"hud_color\": ", JsonString(side.hud_color));
  }
  if (side.tagged_full_range) absl::StrAppend(&out, ",\n    \"tagged_full_range\": true");
  return out;
}

std::string SideJson(const SideTruth& side) {
  return absl::StrCat(
      "{\n    \"path\": ", JsonString(side.path), ",\n    \"codec\": ", JsonString(side.codec),
      ",\n    \"pix_fmt\": ", JsonString(side.pix_fmt), ",\n    \"size\": ", JsonSize(side.size),
      ",\n    \"frames\": ", side.world_ids.size(), ",\n    \"start_offset\": ", side.start_offset,
      ",\n    \"end_trim\": ", side.end_trim, SideRealismJson(side),
      ",\n    \"duplicates\": ", JsonInts(side.duplicates),
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
  // Realism fields are optional: absent = not used.
  if (s.fields().contains("render_divisor")) {
    FP_ASSIGN_OR_RETURN(side.render_divisor, IntField(s, "render_divisor"));
  }
  if (s.fields().contains("capture_divisor")) {
    FP_ASSIGN_OR_RETURN(side.capture_divisor, IntField(s, "capture_divisor"));
  }
  if (s.fields().contains("gap")) {
    FP_ASSIGN_OR_RETURN(std::vector<int> gap, IntsField(s, "gap"));
    if (gap.size() != 3) return absl::InvalidArgumentError("truth.json: bad gap");
    side.gap_at = gap[0];
    side.gap_len = gap[1];
    side.gap_hold = gap[2] != 0;
  }
  if (s.fields().contains("gop")) {
    FP_ASSIGN_OR_RETURN(side.gop, IntField(s, "gop"));
  }
  if (s.fields().contains("hud")) {
    FP_ASSIGN_OR_RETURN(std::vector<int> hud, IntsField(s, "hud"));
    if (hud.size() != 6) return absl::InvalidArgumentError("truth.json: bad hud");
    side.hud_from = hud[0];
    side.hud_to = hud[1];
    side.hud_rect = {hud[2], hud[3], hud[4], hud[5]};
    FP_ASSIGN_OR_RETURN(side.hud_color, StringField(s, "hud_color"));
  }
  if (s.fields().contains("tagged_full_range")) {
    side.tagged_full_range = s.fields().at("tagged_full_range").bool_value();
  }
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

std::vector<int> PairableMoments(const Truth& truth) { return MatchablePairs(truth); }

WindowFaults EvaluateWindows(const Truth& truth,
                             const std::vector<std::vector<std::pair<int, int>>>& windows) {
  const std::vector<int>& lr = truth.lr.world_ids;
  const std::vector<int>& hr = truth.hr.world_ids;
  const std::vector<int> shared = MatchablePairs(truth);
  WindowFaults faults;
  faults.windows = static_cast<int>(windows.size());
  auto valid = [](const std::vector<int>& ids, int i) {
    return i >= 0 && i < static_cast<int>(ids.size());
  };
  for (int w = 0; w < static_cast<int>(windows.size()); ++w) {
    const std::vector<std::pair<int, int>>& window = windows[w];
    bool wrong = false, repeat = false, skip = false, cut = false;
    auto note = [&](bool* flag, std::vector<int>* list, int* count, const std::string& what) {
      if (!*flag) {
        *flag = true;
        list->push_back(w);
        ++*count;
      }
      faults.messages.push_back(absl::StrFormat("window %d: %s", w, what));
    };
    for (size_t i = 0; i < window.size(); ++i) {
      const auto [l, h] = window[i];
      if (!valid(lr, l) || !valid(hr, h)) {
        note(&wrong, &faults.wrong_pair_windows, &faults.wrong_pair,
             absl::StrFormat("pair %d (lr %d, hr %d) is out of range", i, l, h));
        continue;
      }
      if (lr[l] != hr[h]) {
        note(&wrong, &faults.wrong_pair_windows, &faults.wrong_pair,
             absl::StrFormat("pair %d: lr %d shows world %d, hr %d shows world %d", i, l, lr[l], h,
                             hr[h]));
      }
      if (i == 0) continue;
      const auto [pl, ph] = window[i - 1];
      if (!valid(lr, pl) || !valid(hr, ph)) continue;
      // Each side on its own: a wrong pair must not hide a repeat or a skip on the other.
      for (const auto& [name, ids, a_index, b_index] :
           {std::tuple{"lr", &lr, pl, l}, std::tuple{"hr", &hr, ph, h}}) {
        const int a = (*ids)[a_index];
        const int b = (*ids)[b_index];
        // Correct pairs step alike on both sides: report the step once.
        if (ids == &hr && a == lr[pl] && b == lr[l]) continue;
        if (b <= a) {
          note(&repeat, &faults.repeat_windows, &faults.repeats_moment,
               absl::StrFormat("pairs %d-%d: %s %d then %d show worlds %d then %d", i - 1, i, name,
                               a_index, b_index, a, b));
          continue;
        }
        auto it = std::upper_bound(shared.begin(), shared.end(), a);
        if (it != shared.end() && *it < b) {
          note(&skip, &faults.skip_windows, &faults.skips_shared_moment,
               absl::StrFormat("pairs %d-%d: %s steps from world %d to %d over world %d, which "
                               "both recordings show",
                               i - 1, i, name, a, b, *it));
        }
        if (truth.world.SceneOf(a) != truth.world.SceneOf(b)) {
          note(&cut, &faults.cut_windows, &faults.crosses_cut,
               absl::StrFormat("pairs %d-%d: %s crosses the cut between worlds %d and %d", i - 1, i,
                               name, a, b));
        }
      }
    }
  }
  return faults;
}

PrecisionRecall EvaluateDuplicates(const SideTruth& side, const std::vector<bool>& removed) {
  const std::vector<int>& ids = side.world_ids;
  PrecisionRecall pr;
  for (size_t k = 0; k < ids.size(); ++k) {
    const bool duplicate = k > 0 && ids[k] == ids[k - 1];
    const bool gone = k < removed.size() && removed[k];
    pr.relevant += duplicate;
    pr.predicted += gone;
    pr.correct += duplicate && gone;
  }
  // Removals past the end of the video are wrong by definition.
  for (size_t k = ids.size(); k < removed.size(); ++k) pr.predicted += removed[k];
  pr.found = pr.correct;
  pr.precision = Ratio(pr.correct, pr.predicted);
  pr.recall = Ratio(pr.found, pr.relevant);
  return pr;
}

std::string TruthFramePath(const Truth& truth, bool hr, int frame) {
  const SideTruth& side = hr ? truth.hr : truth.lr;
  if (frame < 0 || frame >= static_cast<int>(side.world_ids.size())) return "";
  const int id = side.world_ids[frame];
  return hr ? truth.world.HrFramePath(id) : truth.world.LrFramePath(id);
}

absl::StatusOr<RgbImage> TruthFrameRgb(const Truth& truth, bool hr, int frame) {
  const SideTruth& side = hr ? truth.hr : truth.lr;
  const std::string path = TruthFramePath(truth, hr, frame);
  if (path.empty()) {
    return absl::OutOfRangeError(
        absl::StrFormat("%s frame %d of %d", hr ? "HR" : "LR", frame, side.world_ids.size()));
  }
  FP_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  FP_ASSIGN_OR_RETURN(RgbImage image, DecodePng(bytes));
  if (side.HasHud(frame)) {
    uint32_t rgb = 0;
    if (!absl::SimpleHexAtoi(side.hud_color, &rgb)) {
      return absl::InvalidArgumentError(absl::StrCat("bad HUD colour ", side.hud_color));
    }
    const Rect& r = side.hud_rect;
    for (int y = r.y; y < std::min(image.height, r.y + r.height); ++y) {
      for (int x = r.x; x < std::min(image.width, r.x + r.width); ++x) {
        uint8_t* p = image.row(y) + 3 * x;
        p[0] = static_cast<uint8_t>(rgb >> 16);
        p[1] = static_cast<uint8_t>(rgb >> 8);
        p[2] = static_cast<uint8_t>(rgb);
      }
    }
  }
  return image;
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
