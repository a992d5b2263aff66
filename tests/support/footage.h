// Synthetic LR/HR game-footage pairs with exact ground truth, for end-to-end tests and demos.
//
// A "world" is the true sequence of distinct frames: scenes of ffmpeg lavfi sources rendered at
// HR size (LR size * scale) to PNG, and LR frames area-downscaled from each HR frame. Worlds
// are cached by a key of their parameters, so repeated tests render once. Each side (LR, HR)
// is then an edit of the world (start offset, runs of drops, single drops, injected duplicate
// frames, end trim) drawn from a seeded RNG and encoded with a real codec by the ffmpeg CLI.
// The Truth says which world frame every decoded frame shows.
//
// Realism options (all off by default, leaving older specs' output byte-identical): a game
// rendering below the capture rate, a lower capture rate, hitches, long stalls, a HUD on one
// side, mislabelled colour range, keyframe spacing; RealisticSpecs() combines them into
// presets, and EvaluateWindows / EvaluateDuplicates score a product against the truth.
//
// Requires the `ffmpeg` executable (and `ffprobe` for the probing helpers) on PATH.
// All functions are thread-safe; concurrent processes may share one cache directory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "util/image.h"

namespace framepair::footage {

struct Size {
  int width = 0;
  int height = 0;
  bool operator==(const Size&) const = default;
};

// What a scene shows. Every kind changes visibly on every frame (at LR size, in the sense of
// ffmpeg's mpdecimate) and never repeats a frame within a scene; footage_test checks this.
enum class SceneKind {
  kTestsrc2,    // testsrc2, hue-rotated by seed
  kMandelbrot,  // fast zoom; seed picks the point
  kLife,        // Game of Life with mould, big cells
  kCellauto,    // elementary cellular automaton, big cells, rule and seed from seed
  kGradients,   // moving gradients
  kBars,        // colour bars with a moving box (bars alone are static)
  kCustom,      // SceneSpec::custom_source
  // Realistic kinds: most of the picture is still and only a little changes per frame.
  // A static texture (a cellular automaton, seed picks rule and colours) with an 8x8-LR-pixel
  // sprite moving 1 LR pixel per frame and a 32x32-LR status area in a corner showing a
  // binary frame counter (4x4 cells of 8x8 LR pixels; the lowest cell flips every frame).
  kSmallMotion,
  // A texture wider than the frame, scrolled by 1 LR pixel per frame (crop x = n * scale).
  // The texture has cells of 4 LR pixels and a smooth palette, so a step changes little.
  // At most 4096 frames per scene.
  kSlowPan,
};

struct SceneSpec {
  SceneKind kind = SceneKind::kTestsrc2;
  int frames = 90;
  uint32_t seed = 0;  // varies the content between scenes of the same kind
  // For kCustom: a lavfi filtergraph with one unlabelled video output. "{W}", "{H}" are
  // replaced by the HR width and height, "{R}" by the frame rate. It must not repeat frames.
  std::string custom_source;
};

struct WorldSpec {
  Size lr_size = {160, 96};  // odd sizes are allowed (bad-input tests)
  int scale = 4;             // HR size = scale * LR size
  int fps = 30;
  std::vector<SceneSpec> scenes;
};

// How one side is cut from the world. Probabilities are per world frame.
struct EditSpec {
  int start_offset_min = 0;  // world frames skipped at the start, drawn from [min, max]
  int start_offset_max = 0;
  int end_trim_min = 0;  // world frames cut at the end, drawn from [min, max]
  int end_trim_max = 0;
  double drop_run_rate = 0;  // chance that a run of drops starts at a frame
  int drop_run_min = 2;
  int drop_run_max = 8;
  double drop_rate = 0;  // chance of a single dropped frame
  double dup_rate = 0;   // chance that a kept frame is repeated
  int dup_min = 1;       // number of repeats, drawn from [min, max]
  int dup_max = 3;

  // --- Capture realism. The defaults (1, 0, -1, false) leave the edit list exactly as the
  // fields above make it; each option draws from its own random stream, so turning one on
  // does not move the drops and duplicates of the others. ---

  // The game renders only world frames that are multiples of k (anchored to the world, so
  // both sides with the same k show the same moments), each held for k capture frames: at
  // k=2 a 60 fps stream shows 30 distinct moments a second, every one twice.
  int render_divisor = 1;
  // The capture keeps every k-th world tick (counted from its start offset) and the stream
  // rate is fps/k: no repeats, just a lower rate (LR captured at 30 fps of a 60 fps world).
  // Drops, holds and runs then count in captured frames.
  int capture_divisor = 1;
  // Chance per captured frame that the shown frame freezes for n captured frames in total,
  // n in [hold_min, hold_max] (a renderer hitching); the world frames behind the hold are
  // never shown on this side.
  double hold_rate = 0;
  int hold_min = 2;
  int hold_max = 5;
  // A stall: world frames [gap_at, gap_at + gap_len) are not captured. gap_hold = true
  // repeats the last frame before the gap for the gap's duration (a frozen capture); false
  // leaves them out (the recording jumps). gap_at < 0: no gap.
  int gap_at = -1;
  int gap_len = 0;
  bool gap_hold = false;
};

enum class Codec {
  kX264,  // libx264 in .mp4, lossy (crf)
  kFfv1,  // ffv1 in .mkv, lossless
};

struct CodecSpec {
  Codec codec = Codec::kX264;
  int crf = 18;  // libx264 only
  // Empty = default: libx264 yuv420p (yuv444p when a dimension is odd, which 4:2:0 cannot
  // hold); ffv1 bgr0, so decoded RGB is byte-identical to the world PNGs.
  std::string pix_fmt;
  // YUV streams are converted with the BT.709 matrix (limited range) and tagged so; a
  // decoder that ignores the tags and assumes BT.601 shows visibly shifted colours.
  bool bt709 = true;
  // Keyframe interval (-g) for libx264; 0 = the encoder's default (250).
  int gop = 0;
  // libx264 only: the content stays limited range (16..235) but the stream and container
  // are tagged full range (VUI video_full_range_flag=1, like a capture tool that mislabels),
  // so a decoder honouring the tag stretches the levels wrongly.
  bool tag_full_range = false;
};

// A rectangle in LR pixels; scaled by WorldSpec::scale on the HR side.
struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  bool operator==(const Rect&) const = default;
};

// An overlay drawn on one side only (a HUD, a webcam box, a capture tool's watermark): a
// filled box on the decoded frames whose world id is in [from, to). Not part of the world:
// the other side and the world PNGs do not have it. Static, so held frames stay duplicates.
struct HudSpec {
  int from = 0;  // world ids [from, to); empty range = no HUD
  int to = 0;
  Rect rect;                       // LR pixels
  std::string color = "0xf0f0f0";  // 0xRRGGBB
};

struct SideSpec {
  EditSpec edits;
  CodecSpec codec;
  HudSpec hud;
};

struct FootageSpec {
  WorldSpec world;
  SideSpec lr;
  SideSpec hr;
  bool hr_only = false;  // no LR video: the HR-only variant of the pipeline
  uint64_t seed = 1;     // edit lists only; the world does not depend on it
};

// ~6 scenes of 60-120 frames (540 world frames); offsets of tens of frames, short drop runs,
// single drops and duplicates on both sides; LR libx264 crf 18, HR ffv1.
FootageSpec DefaultSpec();
// 1220 world frames in 13 scenes; LR starts 300 frames in, drop runs of up to 40 frames on
// both sides, the HR side ends ~100 frames earlier than LR.
FootageSpec HardSpec();
// DefaultSpec's world as HR only (ffv1), with duplicates and drops.
FootageSpec HrOnlySpec();

// Presets modelled on real captures: LR 160x96, HR 640x384, both sides libx264 with
// independent quality and keyframe spacing (LR crf 30 gop 2 s, HR crf 24 gop 5 s unless
// said), natural drops (single and runs of 2-6) and repeats on both sides, seed 11. The
// world (930 frames unless said) has small-motion and slow-pan scenes, a near-threshold
// cut (content score ~29) and a same-palette cut (~21) besides ordinary scenes.
//   independent_lossy  30 fps; LR crf 35 gop 30, HR crf 23 gop 250
//   half_rate_lr       60 fps; LR render_divisor 2 (30 distinct/s, each shown twice)
//   half_rate_hr       60 fps; HR render_divisor 2
//   capture_30_vs_60   60 fps world; LR capture_divisor 2 (a 30 fps stream), HR 60
//   held_frames        60 fps; render_divisor 5 on both (a 12 fps game), holds of 6-15
//                      frames (1%), drop runs of 3-12
//   long_gaps          30 fps, 1800 frames; LR frozen on world 149 for worlds 150-749, HR
//                      missing worlds 1000-1599
//   hud_on_hr          30 fps; HR has a filled box (LR rect 8,72 40x16) over worlds 300-329
//   range_mismatch     30 fps; HR limited-range content tagged full range
struct NamedSpec {
  std::string name;
  std::string description;  // what it stresses, one line
  FootageSpec spec;
};
// In order: independent_lossy, half_rate_lr, half_rate_hr, capture_30_vs_60, held_frames,
// long_gaps, hud_on_hr, range_mismatch.
std::vector<NamedSpec> RealisticSpecs();
// The realistic preset of that name; NOT_FOUND listing the names otherwise.
absl::StatusOr<FootageSpec> RealisticSpec(const std::string& name);

// Where worlds and cached footage live unless said otherwise, shared by tests and processes.
inline constexpr char kDefaultCacheDir[] = "/tmp/framepair-footage-cache";

struct GenerateOptions {
  std::string out_dir;  // required; created if missing; lr.*, hr.mkv, truth.json go here
  // Where worlds are cached, shared by tests and processes.
  std::string cache_dir = kDefaultCacheDir;
  int jobs = 2;  // ffmpeg processes run at once (each single-threaded)
  // When out_dir already holds footage generated from the same spec (truth.json's key
  // matches and the videos exist), return it without encoding. Lets every test process of
  // a suite share one encode.
  bool reuse_existing = false;
};

// A rendered world: frame ids 0..frames-1, PNGs at dir/hr/%06d.png and dir/lr/%06d.png.
struct World {
  std::string dir;
  Size lr_size;
  Size hr_size;
  int fps = 30;
  int frames = 0;
  std::vector<int> scene_starts;     // world id of each scene's first frame, ascending
  std::vector<std::string> sources;  // the lavfi graph of each scene

  std::string HrFramePath(int world_id) const;
  std::string LrFramePath(int world_id) const;
  // Index of the scene that world_id belongs to.
  int SceneOf(int world_id) const;
};

struct SideTruth {
  std::string path;   // the encoded video; empty when the side does not exist
  std::string codec;  // "libx264" or "ffv1"
  std::string pix_fmt;
  Size size;
  std::vector<int> world_ids;  // world id shown by each frame, in decode order
  // Frame indexes whose world id equals the previous frame's: injected repeats, and with the
  // realism options also holds, render-divisor repeats and frozen gaps.
  std::vector<int> duplicates;
  // World ticks skipped at the start. With a render divisor the first frame may show an
  // earlier world id (the frame the game still had on screen).
  int start_offset = 0;
  int end_trim = 0;

  // Realism, copied from the spec (defaults = none; written to truth.json only when set).
  // `duplicates` above then also lists held, render-divisor and frozen-gap repeats: it is
  // always every frame whose world id equals the previous frame's.
  int render_divisor = 1;
  int capture_divisor = 1;  // stream rate = world.fps / capture_divisor
  int gap_at = -1;          // world ids [gap_at, gap_at + gap_len) not captured
  int gap_len = 0;
  bool gap_hold = false;
  int gop = 0;
  // HUD on this side: frames whose world id is in [hud_from, hud_to) carry a filled box of
  // hud_color at hud_rect, in this side's pixels.
  int hud_from = 0;
  int hud_to = 0;
  Rect hud_rect;
  std::string hud_color;
  // The stream is tagged full range ("pc") while its content is limited range (16..235).
  bool tagged_full_range = false;

  bool HasHud(int frame) const;
};

struct Truth {
  std::string key;  // hash of the spec and world that produced this footage
  uint64_t seed = 0;
  World world;
  SideTruth lr;  // empty world_ids for HR-only footage
  SideTruth hr;
};

struct Footage {
  Truth truth;
  std::string lr_path;  // empty for HR-only footage
  std::string hr_path;
  std::string truth_path;
};

// Renders (or reuses) the world, cuts and encodes both sides, writes truth.json.
absl::StatusOr<Footage> GenerateFootage(const FootageSpec& spec, const GenerateOptions& options);

// GenerateFootage into the cache (cache_dir/footage-<key of the spec and its world>) with
// reuse_existing: the first process to ask encodes, later ones (and concurrent ones, which wait
// on the directory's lock) reuse its output. Every test process of a suite, and every suite
// asking for the same spec, shares one encode. The files are shared: read them, never change
// them in place.
absl::StatusOr<Footage> CachedFootage(const FootageSpec& spec,
                                      const std::string& cache_dir = kDefaultCacheDir,
                                      int jobs = 2);

// Renders the world into the cache (or finds it there), `jobs` scenes at a time.
absl::StatusOr<World> RenderWorld(const WorldSpec& spec, const std::string& cache_dir,
                                  int jobs = 2);

// A directory of the cache made once and shared by every process: cache_dir/NAME-<hash of
// description>, where `description` states everything the contents depend on (the generating
// commands and their parameters). The first caller runs fill(dir) on a private temporary
// directory, writes `description` to NAME.txt in it last, and publishes it by an atomic
// rename; concurrent callers each fill their own and the first rename wins (the contents are
// the same). Returns the absolute path of the published directory. Worlds are made this way;
// tests use it for fixed inputs that every process of a suite would otherwise regenerate.
// fill must not write the temporary path into the files (it is renamed).
absl::StatusOr<std::string> CachedDirectory(
    const std::string& cache_dir, const std::string& name, const std::string& description,
    const std::function<absl::Status(const std::string& dir)>& fill);

// A CachedDirectory made by ffmpeg CLI commands, keyed by the commands themselves. Each
// command is ffmpeg's arguments (after "ffmpeg -nostdin -y -loglevel error"), its output last;
// "{dir}" in an argument stands for the directory. Commands run in order, so later ones may
// read earlier outputs; an output's parent directory is created first.
absl::StatusOr<std::string> CachedFfmpegOutputs(
    const std::string& name, const std::vector<std::vector<std::string>>& commands,
    const std::string& cache_dir = kDefaultCacheDir);

// The lavfi graph for a scene at the given sizes (exposed for tests and debugging).
std::string SceneSource(const SceneSpec& scene, const WorldSpec& world);

// The edit list of one side: world id of each output frame, and which repeat the previous
// frame's world id.
// Deterministic in (edits, world_frames, seed, stream); stream separates LR from HR.
struct EditList {
  std::vector<int> world_ids;
  std::vector<int> duplicates;
  int start_offset = 0;
  int end_trim = 0;
};
EditList MakeEditList(const EditSpec& edits, int world_frames, uint64_t seed, uint64_t stream);

std::string TruthToJson(const Truth& truth);
absl::StatusOr<Truth> TruthFromJson(const std::string& json);
absl::StatusOr<Truth> ReadTruth(const std::string& path);

// --- Scoring against the truth ---

struct PrecisionRecall {
  double precision = 0;  // 1 when nothing was predicted
  double recall = 0;     // 1 when there was nothing to find
  int correct = 0;       // correct predictions
  int predicted = 0;
  int found = 0;  // relevant items covered by a correct prediction
  int relevant = 0;
};

// World ids shown on both sides (ascending): what a perfect alignment pairs up.
std::vector<int> MatchablePairs(const Truth& truth);

// pairs = (lr frame index, hr frame index). A pair is correct when both frames show the same
// world id; recall counts distinct matchable world ids covered by a correct pair.
PrecisionRecall EvaluateAlignment(const Truth& truth,
                                  const std::vector<std::pair<int, int>>& pairs);

// Cuts as world ids where a new scene starts, on the aligned (matchable) sequence. A true cut
// is a matchable frame whose scene differs from the previous matchable frame's. Prediction
// and truth match one-to-one when at most `tolerance` matchable frames apart.
PrecisionRecall EvaluateCutsByWorldId(const Truth& truth, const std::vector<int>& cut_world_ids,
                                      int tolerance);
// Cuts as LR frame indexes (decode order, duplicates included); tolerance in LR frames.
PrecisionRecall EvaluateCutsByLrFrame(const Truth& truth, const std::vector<int>& cut_lr_frames,
                                      int tolerance);

// World ids shown on both sides (ascending); the moments a perfect product pairs up. The
// same as MatchablePairs, under the name the fidelity tests use.
std::vector<int> PairableMoments(const Truth& truth);

// What is wrong with a set of training windows. A window is its (lr frame, hr frame) pairs
// in order, as decode indexes (the shards' provenance features). Each fault counts a window
// once however often it occurs in it; the *_windows lists hold the offending window indexes
// and `messages` one line per fault found, naming the frames and world ids, for test output.
struct WindowFaults {
  int windows = 0;
  // Some pair shows different world ids on its two sides (or an index is out of range).
  int wrong_pair = 0;
  // The world id does not strictly increase along the window on the LR or the HR side: a
  // moment appears twice (an undetected duplicate) or time runs backwards.
  int repeats_moment = 0;
  // Between consecutive pairs with world ids a < b (on either side), some c in (a, b) is
  // shown by BOTH recordings: the window skipped a pairable moment. A moment only one side
  // shows may be stepped over (it cannot be paired).
  int skips_shared_moment = 0;
  // Consecutive pairs lie in different scenes (on either side).
  int crosses_cut = 0;
  std::vector<int> wrong_pair_windows;
  std::vector<int> repeat_windows;
  std::vector<int> skip_windows;
  std::vector<int> cut_windows;
  std::vector<std::string> messages;
  // True when no window has any fault.
  bool clean() const {
    return wrong_pair == 0 && repeats_moment == 0 && skips_shared_moment == 0 && crosses_cut == 0;
  }
};
WindowFaults EvaluateWindows(const Truth& truth,
                             const std::vector<std::vector<std::pair<int, int>>>& windows);

// Duplicate removal on one side. removed[k] = the product dropped decoded frame k as a
// duplicate (missing entries count as kept). Truth: frame k is a duplicate iff its world id
// equals frame k-1's (injected repeats, holds, render-divisor repeats, frozen gaps).
// precision = removed true duplicates / removed; recall = removed true duplicates / true
// duplicates; correct = found = removed true duplicates.
PrecisionRecall EvaluateDuplicates(const SideTruth& side, const std::vector<bool>& removed);

// The world frame that decoded frame `frame` of the LR (hr = false) or HR side shows: its
// PNG path (no HUD), and its RGB pixels with this side's HUD box painted in, which is what
// the encoder was given. Compare shard pixels against the latter (allowing codec error).
std::string TruthFramePath(const Truth& truth, bool hr, int frame);
absl::StatusOr<RgbImage> TruthFrameRgb(const Truth& truth, bool hr, int frame);

// --- Running tools ---

// Runs argv[0] (looked up on PATH) without a shell and returns its stdout. A non-zero exit,
// a signal or the timeout (the child is killed) is an error carrying the command and the tail
// of its stderr; FAILED_PRECONDITION when the program cannot be started.
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       int timeout_seconds = 600);

// MD5 of every decoded frame of `path` (which may be an image pattern like dir/%06d.png)
// after conversion to pix_fmt, via ffmpeg's framemd5 muxer.
absl::StatusOr<std::vector<std::string>> FrameMd5s(const std::string& path,
                                                   const std::string& pix_fmt = "rgb24");
// Number of frames in the first video stream, counted by decoding (ffprobe -count_frames).
absl::StatusOr<int> CountFrames(const std::string& path);

}  // namespace framepair::footage
