// Worst-case memory of one worker task, from the size of the frames it decodes: what a worker
// reserves from its --memory-budget before it decodes (TaskContext::ReserveMemory), so that
// --max-tasks tasks of --max-frame-pixels frames cannot take a pod past its memory limit.
//
// The model counts the buffers each stage holds at most at once, per frame size:
//   ingest: the decoder's frames (references + one per decoder thread + the one returned)
//           + per-pixel scratch (8-bit planes for duplicate detection, the last kept frame's
//           planes, luma, the scene scorer's RGB frame);
//   pack:   per recording, the decoder's frames + the FrameFeed queue (kPackFeedDepth) and
//           the frame it hands out; the decoded frames waiting for an encoder thread; per
//           encoder thread its RGB frame and PNG filter and deflate buffers; and the PNGs of
//           the windows in flight (kPackLookaheadWindows + the one being built) plus the
//           example being serialized (two more copies of one window), every PNG counted at
//           its incompressible size.
// bench/memory.sh measures the real peak against it. tests/deploy/validate.mjs reads the
// constants below (the `inline constexpr int64_t kName = value;` lines) to check that the
// manifests' --memory-budget, --max-tasks and --max-frame-pixels fit the pods' limits: keep
// that form, and the two formulas there in step with the .cc.
#pragma once

#include <cstdint>
#include <string>

#include "media/video.h"

namespace framepair {

// H.264/HEVC keep up to 16 reference frames.
inline constexpr int64_t kDecoderReferenceFrames = 16;
// FFmpeg's automatic thread count (decoder threads 0) is the core count + 1, at most 16.
inline constexpr int64_t kMaxAutoDecoderThreads = 16;
// Decoded frames a pack FrameFeed queues ahead of the windows (pack.cc).
inline constexpr int64_t kPackFeedDepth = 4;
// Windows whose PNGs pack encodes ahead of the shard writer (pack.cc).
inline constexpr int64_t kPackLookaheadWindows = 4;
// Decoded frames waiting for pack's encoder threads: this many per thread, plus as many again.
inline constexpr int64_t kPackInFlightPerThread = 2;
// Windows of PNGs beyond the lookahead: the one being built and the example's two copies
// (its proto and the serialized record).
inline constexpr int64_t kPackExtraPngWindows = 3;
// A PNG of incompressible RGB24 (3 bytes a pixel; deflate's stored blocks add < 0.1%).
inline constexpr int64_t kPngBytesPerPixel = 3;
// Per pack encoder thread: its RGB frame, the filtered rows and the deflate output (3 each).
inline constexpr int64_t kEncoderBytesPerPixel = 9;
// Per ingest task: 8-bit planes (3), the last kept frame's planes (3), luma (1), RGB (3).
inline constexpr int64_t kIngestScratchBytesPerPixel = 10;
// Per task, whatever the frame size: the frame tables, codec contexts, thread stacks.
inline constexpr int64_t kTaskFixedBytes = int64_t{32} << 20;
// A worker process with no task (gRPC, libraries, allocator arenas): reserved from the budget.
inline constexpr int64_t kWorkerBaseBytes = int64_t{96} << 20;
// Decoders pad frames (alignment, edges): each decoded frame counts this many percent more.
inline constexpr int64_t kDecodedFramePaddingPercent = 10;
// The manifests are sized for pack tasks with the default --window (10) of 8-bit 4:2:0 frames
// at --max-frame-pixels, with LR 1/4 of HR on each side; any other task is admitted by its own
// estimate.
inline constexpr int64_t kSizingWindow = 10;

// Decoder threads of DecoderOptions::threads = `requested` (0: FFmpeg's automatic count).
int EffectiveDecoderThreads(int requested);
// Encoder threads of PackOptions::threads = `requested` (0: the core count).
int EffectivePackThreads(int requested);

// One ingest task decoding `video` (VideoInfo from ProbeVideo) with `decoder_threads`.
int64_t IngestTaskBytes(const VideoInfo& video, int decoder_threads);

// One pack task: `hr` and `lr` as their frame tables recorded them (`lr` null for --hr-only,
// whose LR PNGs are HR downscaled by `scale`), `threads` encoder threads (effective),
// `decoder_threads` per decoder, windows of `window` pairs.
int64_t PackTaskBytes(const VideoInfo& hr, const VideoInfo* lr, int scale, int threads,
                      int decoder_threads, int window);

// "3840x2160 yuv420p" for messages.
std::string FrameSizeText(const VideoInfo& video);

}  // namespace framepair
