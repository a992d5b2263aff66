// Reading video with FFmpeg: probe, straight (threaded) decode, exact random access by decode
// index, RGB24 conversion with the stream's colour matrix and range, area thumbnails.
//
// Frame index = 0-based position of a frame in a straight decode of the file. Every other
// component names frames this way.
//
// Inputs come from users (uploads to the worker services), so only what a recording can be is
// opened: a regular file in one of the video containers of kAcceptedContainers (mp4/mov,
// mkv/webm, avi, flv, mpegts, nut, y4m) with any codec FFmpeg decodes (H.264, HEVC, VP9, FFV1,
// UTVideo, ...), or a numbered image sequence given as a printf pattern ("dir/frame%05d.png",
// the number in the file name only) or a directory holding *.png files. Playlists and lists
// (HLS, DASH, concat, ...), network protocols and anything else that makes FFmpeg open further
// files or wait are refused with INVALID_ARGUMENT.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "util/image.h"

struct AVFrame;

namespace framepair {

struct VideoInfo {
  std::string path;
  std::string container;     // e.g. "mov,mp4,m4a,3gp,3g2,mj2", "image2"
  std::string codec;         // e.g. "h264"
  std::string pixel_format;  // e.g. "yuv420p"
  std::string color_matrix;  // "bt601", "bt709", "bt2020", "rgb" (as used for conversion)
  bool full_range = false;   // JPEG/full range vs MPEG/limited range (as used for conversion)
  int width = 0;
  int height = 0;
  int time_base_num = 1;  // pts unit, in seconds = num/den
  int time_base_den = 1;
  double fps = 0;                    // average frame rate if known, else 0
  int64_t frame_count_estimate = 0;  // from the container; 0 if unknown. Not authoritative.
};

// FFmpeg demuxer names (as in `ffmpeg -formats`) a video file may be read with. None of them
// opens other files or waits for data that is not there yet.
inline constexpr char kAcceptedContainers[] = "mov,matroska,avi,flv,mpegts,nut,yuv4mpegpipe";

// Largest frame (width x height) accepted by default: 4K UHD HR recordings with 10% to spare.
inline constexpr int64_t kDefaultMaxFramePixels = 3840 * 2160 * 11 / 10;

// FFmpeg logs its own findings about streams to stderr. Quiet (the CLI default) keeps only
// errors, such as damaged data, and drops warnings that seeking and probing routinely cause.
void SetFfmpegLogQuiet(bool quiet);

// For recordings whose colour tags are wrong (`framepair run --lr-range`, `--hr-matrix`, ...):
// decoded frames carry these instead of the stream's tags, so every conversion (thumbnails,
// PNGs) and VideoInfo follow them. Empty fields: as tagged.
struct ColourOverride {
  std::string matrix;  // "bt601", "bt709" or "bt2020"
  std::string range;   // "full" or "limited"
  bool empty() const { return matrix.empty() && range.empty(); }
};

// INVALID_ARGUMENT naming `flag_prefix` + "-matrix" / "-range" (e.g. "--lr") for other values.
absl::Status ValidateColourOverride(const ColourOverride& colour, const std::string& flag_prefix);

struct DecoderOptions {
  int threads = 0;  // decoder threads; 0 = FFmpeg's automatic choice
  ColourOverride colour;
  // Frames with more pixels are refused (INVALID_ARGUMENT naming --max-frame-pixels), from the
  // stream header and again for every frame before the decoder allocates it: a few KB of file
  // must not make the decoder allocate gigabytes.
  int64_t max_frame_pixels = kDefaultMaxFramePixels;
  // When *cancel becomes true, FFmpeg's reads are interrupted and calls return CANCELLED. Must
  // outlive the decoder; null = not cancellable.
  const std::atomic<bool>* cancel = nullptr;
  // Past it, FFmpeg's reads are interrupted and calls return DEADLINE_EXCEEDED.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// Bytes of one decoded frame of `info`'s size in its pixel format (FFmpeg's buffer size,
// without the decoder's padding); a format FFmpeg does not name counts as 8 bytes a pixel.
int64_t DecodedFrameBytes(const VideoInfo& info);

// Opens the file and reads its stream parameters. INVALID_ARGUMENT (with the path and the
// reason) if it is not a video FFmpeg can decode or not an accepted input; NOT_FOUND if it
// does not exist.
absl::StatusOr<VideoInfo> ProbeVideo(const std::string& path, const DecoderOptions& options = {});

// What the decoder has done; tests and benchmarks assert efficiency on these.
struct DecodeCounters {
  int64_t packets_read = 0;
  int64_t frames_decoded = 0;  // every frame the codec produced, including discarded ones
  int64_t seeks = 0;
  int64_t corrupt_frames = 0;  // frames flagged corrupt / decode errors skipped
  int64_t read_errors = 0;     // packets the demuxer could not read (damaged container data)
  int64_t reopens = 0;         // DecodeAt fell back to reopening the file (should stay 0)
};

class LumaScratch;

// One decoded frame. Owned by the decoder; valid until the next call on it.
struct DecodedFrame {
  int64_t index = 0;  // decode index (0-based position in a straight decode)
  int64_t pts = 0;    // best-effort timestamp in stream time base (index if unknown)
  bool keyframe = false;
  const AVFrame* frame = nullptr;
  // Full-resolution 8-bit luma (the native Y plane for 8-bit YUV, otherwise converted with
  // swscale into a buffer owned by the decoder, or by the calling thread if `scratch` is
  // null). Valid as long as `frame`.
  PlaneView Luma() const;
  // The frame's 8-bit planes for duplicate detection: the native Y, U, V planes for 8-bit
  // planar YUV (or Y alone for grey), otherwise a conversion to 8-bit planar YUV that keeps
  // the chroma subsampling (RGB: 4:4:4) into buffers owned like Luma()'s. Valid as long as
  // `frame` and until the next Luma() or Planes() call on a converted frame.
  YuvView Planes() const;
  // Exact-content hash: CRC32C of plane 0's visible bytes (high 32 bits) and of the other
  // planes plus format and size (low 32 bits). Padding is excluded, so equal pictures hash
  // equal whatever the decoder's line sizes.
  uint64_t ContentHash() const;
  LumaScratch* scratch = nullptr;  // set by the decoder
};

// A reference to a decoded frame's buffers (av_frame_clone) that stays valid after the decoder
// moves on, so another thread can convert it. Freed with the last copy.
using SharedFrame = std::shared_ptr<const AVFrame>;
absl::StatusOr<SharedFrame> ShareFrame(const AVFrame* frame);

// Where each frame sits in the stream, recorded by a straight decode (ingest) and used for
// random access.
struct FramePosition {
  int64_t pts = 0;
  bool keyframe = false;
};

// Decodes one video stream. Not thread-safe; use one decoder per thread.
class VideoDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<VideoDecoder>> Open(const std::string& path,
                                                            const DecoderOptions& options = {});
  virtual ~VideoDecoder() = default;

  const VideoInfo& info() const;

  // Straight decode: the next frame, or nullptr at the end of the stream. A damaged packet
  // is skipped and counted (counters().corrupt_frames); a fatal read error is an error
  // status naming the file. A stream that goes on far beyond the frame count its duration
  // and frame rate promise (timestamps or index built to make it decode forever) is stopped
  // with INVALID_ARGUMENT.
  virtual absl::StatusOr<const DecodedFrame*> Next() = 0;

  // Random access: returns exactly frame `index` as a straight decode would have produced it.
  // `positions` is the table recorded by a straight decode of the same file. Seeks to the
  // keyframe at or before the target (only when that is cheaper than decoding forward from
  // the current position), decodes forward and identifies frames by pts. Calls with
  // increasing indexes decode each frame at most once. If seeking cannot land before the
  // target (broken index, timestamps that differ after a seek), it reopens the file and
  // decodes straight (counters().reopens). OUT_OF_RANGE for an index outside `positions`;
  // DATA_LOSS naming the file if the stream ends before the frame (file changed or damaged).
  virtual absl::StatusOr<const DecodedFrame*> DecodeAt(
      int64_t index, const std::vector<FramePosition>& positions) = 0;

  virtual const DecodeCounters& counters() const = 0;

 protected:
  VideoDecoder() = default;
  VideoInfo info_;
};

// Converts decoded frames to RGB24 with the stream's colour matrix and range (BT.601/709/
// 2020, limited/full; an untagged stream is BT.601 at every size, as ffmpeg writes it, so both
// recordings of a pair always get the same conversion). Caches the swscale context. Not
// thread-safe.
class RgbConverter {
 public:
  RgbConverter();
  ~RgbConverter();
  RgbConverter(const RgbConverter&) = delete;
  RgbConverter& operator=(const RgbConverter&) = delete;

  // Full-size RGB24 copy of the frame.
  absl::Status ToRgb(const AVFrame* frame, RgbImage* out);
  // Area-averaged RGB24 thumbnail of exactly width x height.
  absl::Status Thumbnail(const AVFrame* frame, int width, int height, RgbImage* out);
  // ToRgb calls served by YuvToRgb (media/yuv_rgb.h) rather than swscale; same bytes either way.
  int64_t fast_conversions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace framepair
