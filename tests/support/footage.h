// Synthetic LR/HR game-footage pairs with exact ground truth, for end-to-end tests and demos.
//
// A "world" is the true sequence of distinct frames: scenes of ffmpeg lavfi sources rendered at
// HR size (LR size * scale) to PNG, and LR frames area-downscaled from each HR frame. Worlds
// are cached by a key of their parameters, so repeated tests render once. Each side (LR, HR)
// is then an edit of the world (start offset, runs of drops, single drops, injected duplicate
// frames, end trim) drawn from a seeded RNG and encoded with a real codec by the ffmpeg CLI.
// The Truth says which world frame every decoded frame shows.
//
// Requires the `ffmpeg` executable (and `ffprobe` for the probing helpers) on PATH.
// All functions are thread-safe; concurrent processes may share one cache directory.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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
};

struct SideSpec {
  EditSpec edits;
  CodecSpec codec;
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

struct GenerateOptions {
  std::string out_dir;  // required; created if missing; lr.*, hr.mkv, truth.json go here
  // Where worlds are cached, shared by tests and processes. Default: a fixed /tmp path.
  std::string cache_dir = "/tmp/framepair-footage-cache";
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
  std::vector<int> world_ids;   // world id shown by each frame, in decode order
  std::vector<int> duplicates;  // frame indexes that are injected repeats of the previous one
  int start_offset = 0;
  int end_trim = 0;
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

// Renders the world into the cache (or finds it there), `jobs` scenes at a time.
absl::StatusOr<World> RenderWorld(const WorldSpec& spec, const std::string& cache_dir,
                                  int jobs = 2);

// The lavfi graph for a scene at the given sizes (exposed for tests and debugging).
std::string SceneSource(const SceneSpec& scene, const WorldSpec& world);

// The edit list of one side: world id of each output frame, and which are injected repeats.
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
