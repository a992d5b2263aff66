#include "pipeline/pack.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dataset/shard_writer.h"
#include "media/decode_plan.h"
#include "media/ffmpeg_compat.h"
#include "media/video.h"
#include "pipeline/memory_model.h"
#include "tfrecord/example.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

using PngBytes = std::shared_ptr<const std::string>;

// PNGs of the frames that the current and later windows still need, keyed by frame index.
// Windows arrive sorted by start and frame indexes increase along the aligned pairs, so
// everything below the current window's first frame can be dropped: memory stays bounded by
// one window's worth of frames however many windows overlap.
class PngCache {
 public:
  void EvictBelow(int64_t frame) { cache_.erase(cache_.begin(), cache_.lower_bound(frame)); }
  std::shared_future<PngBytes>* Find(int64_t frame) {
    auto it = cache_.find(frame);
    return it == cache_.end() ? nullptr : &it->second;
  }
  void Put(int64_t frame, std::shared_future<PngBytes> png) { cache_.emplace(frame, png); }

 private:
  std::map<int64_t, std::shared_future<PngBytes>> cache_;
};

// One source video decoded on its own thread along its plan: LR and HR decode concurrently
// (their plans are independent) and ahead of the windows, so the encoders never wait for one
// decoder while the other idles. Frames come out in plan order whatever the timing, so the
// shard bytes do not depend on it.
class FrameFeed {
 public:
  static absl::StatusOr<std::unique_ptr<FrameFeed>> Open(const std::string& path,
                                                         const FrameTable& table,
                                                         const DecoderOptions& options) {
    FP_ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder, VideoDecoder::Open(path, options));
    return std::unique_ptr<FrameFeed>(new FrameFeed(std::move(decoder), table.positions()));
  }
  ~FrameFeed() { Stop(); }
  FrameFeed(const FrameFeed&) = delete;
  FrameFeed& operator=(const FrameFeed&) = delete;

  DecodePlan Plan(std::vector<int64_t> needed) const {
    return PlanDecode(std::move(needed), positions_);
  }

  // Starts decoding `frames` (a plan's, sorted and distinct).
  void Start(std::vector<int64_t> frames) {
    thread_ = std::thread([this, frames = std::move(frames)] { Decode(frames); });
  }

  // The decoded frame, still in the decoder's pixel format: RGB conversion happens on the
  // encoder threads. `index` must follow the plan: the next frame of it that is wanted, or
  // the last one again; frames in between are dropped.
  absl::StatusOr<SharedFrame> Read(int64_t index) {
    if (last_ != nullptr && last_index_ == index) return last_;
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queue_.empty(); });
      // An error stays queued: the decoding thread has ended and every later read fails too.
      if (!queue_.front().frame.ok()) return queue_.front().frame.status();
      Decoded next = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
      if (next.index > index) {
        return absl::InternalError(
            absl::StrCat(decoder_->info().path, ": frame ", index, " asked for out of plan order"));
      }
      if (next.index == index) {
        last_index_ = index;
        last_ = *std::move(next.frame);
        return last_;
      }
    }
  }

  // Once every frame was read (or to give up): ends the decoding thread.
  const DecodeCounters& Finish() {
    Stop();
    return decoder_->counters();
  }

 private:
  // Decoded frames waiting for the windows, per recording. A few keep the decoder ahead of
  // bursts of cache hits without holding many frames (3 MB each at 1080p) in memory.
  static constexpr size_t kDepth = kPackFeedDepth;
  struct Decoded {
    int64_t index = 0;
    absl::StatusOr<SharedFrame> frame;
  };

  FrameFeed(std::unique_ptr<VideoDecoder> decoder, std::vector<FramePosition> positions)
      : decoder_(std::move(decoder)), positions_(std::move(positions)) {}

  void Decode(const std::vector<int64_t>& frames) {
    for (int64_t index : frames) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return stop_ || queue_.size() < kDepth; });
        if (stop_) return;
      }
      absl::StatusOr<SharedFrame> frame = DecodeOne(index);
      const bool failed = !frame.ok();
      {
        std::lock_guard lock(mutex_);
        queue_.push_back(Decoded{index, std::move(frame)});
      }
      changed_.notify_all();
      if (failed) return;
    }
    // Past the plan: a read of a frame outside it must fail, not wait forever.
    std::lock_guard lock(mutex_);
    queue_.push_back(Decoded{
        std::numeric_limits<int64_t>::max(),
        absl::InternalError(absl::StrCat(decoder_->info().path, ": read past the decode plan"))});
    changed_.notify_all();
  }

  absl::StatusOr<SharedFrame> DecodeOne(int64_t index) {
    FP_ASSIGN_OR_RETURN(const DecodedFrame* frame, decoder_->DecodeAt(index, positions_));
    if (frame == nullptr) {
      return absl::DataLossError(absl::StrCat(decoder_->info().path, ": frame ", index,
                                              " could not be decoded again; the file changed "
                                              "since ingest or is damaged there"));
    }
    return ShareFrame(frame->frame);
  }

  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<VideoDecoder> decoder_;
  std::vector<FramePosition> positions_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;  // queue_ or stop_ changed
  std::deque<Decoded> queue_;
  bool stop_ = false;
  int64_t last_index_ = -1;  // reader side only
  SharedFrame last_;
};

// RgbConverters for the encoder threads (a converter caches a swscale context and is not
// thread-safe): each task borrows one.
class ConverterPool {
 public:
  std::unique_ptr<RgbConverter> Take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return std::make_unique<RgbConverter>();
    std::unique_ptr<RgbConverter> c = std::move(free_.back());
    free_.pop_back();
    return c;
  }
  void Give(std::unique_ptr<RgbConverter> c) {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(c));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<RgbConverter>> free_;
};

// The calling thread's RGB buffer for frames of this size, reused by every such frame it
// converts: no allocation, zero-filling or page faults per frame. One per size, because
// one thread converts LR and HR frames in turn and resizing one buffer between them would
// zero-fill megabytes each time. Freed when the pool's threads end with the shard.
RgbImage& RgbBuffer(int width, int height) {
  thread_local std::vector<std::unique_ptr<RgbImage>> buffers;
  for (const auto& buffer : buffers) {
    if (buffer->width == width && buffer->height == height) return *buffer;
  }
  // A stream that changes size keeps only the latest sizes.
  constexpr size_t kSizes = 2;
  if (buffers.size() == kSizes) buffers.erase(buffers.begin());
  buffers.push_back(std::make_unique<RgbImage>());
  buffers.back()->width = width;
  buffers.back()->height = height;
  return *buffers.back();
}

// Converts decoded frames to RGB and encodes PNGs on a thread pool; results are futures so
// that a window's record is written only when all of its images are ready, in window order.
class PngEncoderPool {
 public:
  PngEncoderPool(int threads, PngOptions options)
      : threads_(threads > 0 ? threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
        pool_(threads_),
        options_(options) {}
  ~PngEncoderPool() { pool_.join(); }

  // Blocks while more images than keep every encoder thread busy are waiting: decoded RGB
  // frames (2.7 MB each at 720p) must not pile up when decoding outruns encoding.
  void WaitForRoom() {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] {
      return in_flight_ < kPackInFlightPerThread * threads_ + kPackInFlightPerThread;
    });
  }

  // One PNG of `frame` per entry of `downscales`: 1 = full size, s = nearest-neighbour
  // downscale by s (--hr-only's LR). The frame is converted to RGB once.
  std::vector<std::shared_future<PngBytes>> Encode(SharedFrame frame, std::vector<int> downscales) {
    std::vector<std::shared_ptr<std::promise<PngBytes>>> promises;
    std::vector<std::shared_future<PngBytes>> futures;
    for (size_t k = 0; k < downscales.size(); ++k) {
      promises.push_back(std::make_shared<std::promise<PngBytes>>());
      futures.push_back(promises.back()->get_future().share());
    }
    {
      std::lock_guard lock(mutex_);
      ++in_flight_;
    }
    boost::asio::post(pool_, [this, promises, downscales, frame = std::move(frame)]() mutable {
      RgbImage& rgb = RgbBuffer(frame->width, frame->height);
      std::unique_ptr<RgbConverter> converter = converters_.Take();
      absl::Status converted = converter->ToRgb(frame.get(), &rgb);
      converters_.Give(std::move(converter));
      frame.reset();
      for (size_t k = 0; k < promises.size(); ++k) {
        absl::StatusOr<std::string> png =
            !converted.ok()      ? absl::StatusOr<std::string>(converted)
            : downscales[k] == 1 ? EncodePng(rgb, options_)
                                 : EncodePng(DownscaleNearest(rgb, downscales[k]), options_);
        if (png.ok()) {
          png_bytes_ += static_cast<int64_t>(png->size());
          promises[k]->set_value(std::make_shared<const std::string>(*std::move(png)));
        } else {
          promises[k]->set_exception(
              std::make_exception_ptr(std::runtime_error(png.status().ToString())));
        }
      }
      {
        std::lock_guard lock(mutex_);
        --in_flight_;
      }
      room_.notify_one();
    });
    encoded_ += static_cast<int64_t>(downscales.size());
    return futures;
  }
  int64_t encoded() const { return encoded_; }
  // Complete once every future Encode() returned is ready.
  int64_t png_bytes() const { return png_bytes_.load(); }

 private:
  const int threads_;
  ConverterPool converters_;  // before pool_: tasks use it until pool_ has joined
  boost::asio::thread_pool pool_;
  PngOptions options_;
  int64_t encoded_ = 0;
  std::atomic<int64_t> png_bytes_{0};
  std::mutex mutex_;
  std::condition_variable room_;
  int in_flight_ = 0;
};

absl::Status CheckScale(const AVFrame& lr, const AVFrame& hr, int scale, int64_t lr_frame,
                        int64_t hr_frame, const PackInput& input) {
  if (hr.width == lr.width * scale && hr.height == lr.height * scale) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      input.hr_path, " frame ", hr_frame, " is ", hr.width, "x", hr.height, " but ", input.lr_path,
      " frame ", lr_frame, " is ", lr.width, "x", lr.height, "; with --scale ", scale,
      " the HR frame must be exactly ", scale, "x the LR frame"));
}

absl::StatusOr<std::vector<PngBytes>> Collect(
    const std::vector<std::shared_future<PngBytes>>& futures) {
  std::vector<PngBytes> out;
  out.reserve(futures.size());
  for (const auto& future : futures) {
    try {
      out.push_back(future.get());
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("PNG encoding failed: ", e.what()));
    }
  }
  return out;
}

std::string BuildExample(const std::vector<PngBytes>& lr_png, const std::vector<PngBytes>& hr_png,
                         const std::vector<int64_t>& lr_frames,
                         const std::vector<int64_t>& hr_frames, const PackOptions& options) {
  framepair::v1::tf::Example example;
  auto pointers = [](const std::vector<PngBytes>& v) {
    std::vector<const std::string*> p;
    for (const auto& s : v) p.push_back(s.get());
    return p;
  };
  if (options.format == ExampleFormat::kSingle) {
    AddBytesFeature(&example, "images", pointers(hr_png));
    if (options.provenance) AddInt64Feature(&example, "images_frame", hr_frames);
  } else {
    AddBytesFeature(&example, "input", pointers(lr_png));
    AddBytesFeature(&example, "target", pointers(hr_png));
    if (options.provenance) {
      AddInt64Feature(&example, "input_frame", lr_frames);
      AddInt64Feature(&example, "target_frame", hr_frames);
    }
  }
  return SerializeExampleDeterministic(example);
}

// Windows come from a plan file another worker wrote: each must lie inside the aligned pairs.
// Checked without `start + window`, which a crafted start overflows.
absl::Status CheckWindows(const std::vector<Window>& windows, int window, size_t pairs) {
  const int64_t count = static_cast<int64_t>(pairs);
  if (window < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("window of ", window, " pairs; it must be >= 1"));
  }
  for (const Window& w : windows) {
    if (w.start < 0 || w.start > count || window > count - w.start) {
      return absl::InvalidArgumentError(absl::StrCat("window at pair ", w.start, " of ", window,
                                                     " pairs does not fit in the ", count,
                                                     " aligned pairs; the window plan does not "
                                                     "belong to these pairs"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void PackCounters::Add(const PackCounters& other) {
  frames_decoded += other.frames_decoded;
  seeks += other.seeks;
  frames_needed += other.frames_needed;
  frames_decoded_minimum += other.frames_decoded_minimum;
  distinct_lr_frames += other.distinct_lr_frames;
  distinct_hr_frames += other.distinct_hr_frames;
  pngs_encoded += other.pngs_encoded;
  png_bytes += other.png_bytes;
  examples += other.examples;
  bytes += other.bytes;
}

absl::StatusOr<PackedShard> PackShard(const PackInput& input, const std::vector<Window>& windows,
                                      const PackOptions& options, const std::string& dir,
                                      const std::string& file_name, const PackProgressFn& progress,
                                      const std::atomic<bool>* cancel) {
  const std::vector<AlignedPair>& pairs = *input.pairs;
  FP_RETURN_IF_ERROR(CheckWindows(windows, options.window, pairs.size()));
  DecoderOptions decoder = options.decoder;
  // Also interrupts FFmpeg inside a read, not only between windows.
  if (decoder.cancel == nullptr) decoder.cancel = cancel;
  decoder.colour = options.hr_colour;
  FP_ASSIGN_OR_RETURN(std::unique_ptr<FrameFeed> hr_reader,
                      FrameFeed::Open(input.hr_path, *input.hr, decoder));
  decoder.colour = options.lr_colour;
  std::unique_ptr<FrameFeed> lr_reader;
  if (!options.hr_only) {
    FP_ASSIGN_OR_RETURN(lr_reader, FrameFeed::Open(input.lr_path, *input.lr, decoder));
  }
  FP_ASSIGN_OR_RETURN(ShardWriter writer, ShardWriter::Create(dir, file_name, options.gzip));

  PngEncoderPool encoder(options.threads, options.png);
  PngCache lr_cache, hr_cache;
  PackCounters counters;
  {
    // The reads below follow the pairs, whose frame indexes never decrease, so each decoder
    // walks its plan: the needed frames in order, seeking only past a keyframe.
    std::vector<int64_t> lr_needed, hr_needed;
    for (const Window& window : windows) {
      for (int64_t p = window.start; p < window.start + options.window; ++p) {
        lr_needed.push_back(pairs[p].lr_frame);
        hr_needed.push_back(pairs[p].hr_frame);
      }
    }
    for (FrameFeed* feed : {hr_reader.get(), lr_reader.get()}) {
      if (feed == nullptr) continue;
      DecodePlan plan =
          feed->Plan(feed == hr_reader.get() ? std::move(hr_needed) : std::move(lr_needed));
      counters.frames_needed += static_cast<int64_t>(plan.frames.size());
      counters.frames_decoded_minimum += plan.minimum_decodes;
      feed->Start(std::move(plan.frames));
    }
  }
  bool need_lr_png = options.format == ExampleFormat::kPair;

  // Windows whose PNGs are being encoded, oldest first. Encoding runs ahead of the shard
  // writer by kLookahead windows so the decoders and every encoder thread stay busy; records
  // are still written strictly in window order.
  constexpr size_t kLookahead = kPackLookaheadWindows;
  struct PendingWindow {
    std::vector<std::shared_future<PngBytes>> lr_png, hr_png;
    std::vector<int64_t> lr_frames, hr_frames;
  };
  std::deque<PendingWindow> pending;
  int64_t written = 0;
  auto write_oldest = [&]() -> absl::Status {
    PendingWindow& oldest = pending.front();
    FP_ASSIGN_OR_RETURN(std::vector<PngBytes> lr_bytes, Collect(oldest.lr_png));
    FP_ASSIGN_OR_RETURN(std::vector<PngBytes> hr_bytes, Collect(oldest.hr_png));
    FP_RETURN_IF_ERROR(writer.Write(
        BuildExample(lr_bytes, hr_bytes, oldest.lr_frames, oldest.hr_frames, options)));
    pending.pop_front();
    ++counters.examples;
    if (progress) progress(++written);
    return absl::OkStatus();
  };

  for (const Window& window : windows) {
    if (cancel != nullptr && cancel->load()) {
      return absl::CancelledError(absl::StrCat("packing ", file_name, " cancelled"));
    }
    const int64_t start = window.start;  // CheckWindows(): start + options.window <= size
    lr_cache.EvictBelow(pairs[start].lr_frame);
    hr_cache.EvictBelow(pairs[start].hr_frame);

    PendingWindow& next = pending.emplace_back();
    for (int64_t p = start; p < start + options.window; ++p) {
      const AlignedPair& pair = pairs[p];
      next.lr_frames.push_back(pair.lr_frame);
      next.hr_frames.push_back(pair.hr_frame);
      std::shared_future<PngBytes>* lr_cached = lr_cache.Find(pair.lr_frame);
      std::shared_future<PngBytes>* hr_cached = hr_cache.Find(pair.hr_frame);
      if (hr_cached == nullptr || (need_lr_png && lr_cached == nullptr)) {
        encoder.WaitForRoom();
        // Decode both sides of a pair together so the size check sees both.
        FP_ASSIGN_OR_RETURN(SharedFrame hr_frame, hr_reader->Read(pair.hr_frame));
        if (hr_frame->width % options.scale != 0 || hr_frame->height % options.scale != 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(input.hr_path, " is ", hr_frame->width, "x", hr_frame->height,
                           ", not divisible by --scale ", options.scale));
        }
        const bool new_hr = hr_cached == nullptr;
        const bool new_lr = need_lr_png && lr_cached == nullptr;
        std::shared_future<PngBytes> hr_png, lr_png;
        if (options.hr_only) {
          // LR is HR downscaled: one conversion serves both PNGs.
          std::vector<int> downscales;
          if (new_hr) downscales.push_back(1);
          if (new_lr) downscales.push_back(options.scale);
          std::vector<std::shared_future<PngBytes>> pngs =
              encoder.Encode(std::move(hr_frame), downscales);
          if (new_hr) hr_png = pngs.front();
          if (new_lr) lr_png = pngs.back();
        } else {
          FP_ASSIGN_OR_RETURN(SharedFrame lr_frame, lr_reader->Read(pair.lr_frame));
          FP_RETURN_IF_ERROR(
              CheckScale(*lr_frame, *hr_frame, options.scale, pair.lr_frame, pair.hr_frame, input));
          if (new_hr) hr_png = encoder.Encode(std::move(hr_frame), {1}).front();
          if (new_lr) lr_png = encoder.Encode(std::move(lr_frame), {1}).front();
        }
        if (new_hr) {
          hr_cache.Put(pair.hr_frame, hr_png);
          ++counters.distinct_hr_frames;
          hr_cached = hr_cache.Find(pair.hr_frame);
        }
        if (new_lr) {
          lr_cache.Put(pair.lr_frame, lr_png);
          ++counters.distinct_lr_frames;
          lr_cached = lr_cache.Find(pair.lr_frame);
        }
      }
      next.hr_png.push_back(*hr_cached);
      if (need_lr_png) next.lr_png.push_back(*lr_cached);
    }
    if (pending.size() > kLookahead) FP_RETURN_IF_ERROR(write_oldest());
  }
  while (!pending.empty()) FP_RETURN_IF_ERROR(write_oldest());

  PackedShard shard;
  FP_ASSIGN_OR_RETURN(shard.entry, writer.Commit(counters.examples));
  counters.bytes = shard.entry.bytes();
  counters.pngs_encoded = encoder.encoded();
  counters.png_bytes = encoder.png_bytes();
  for (FrameFeed* feed : {hr_reader.get(), lr_reader.get()}) {
    if (feed == nullptr) continue;
    const DecodeCounters& decoded = feed->Finish();
    counters.frames_decoded += decoded.frames_decoded;
    counters.seeks += decoded.seeks;
  }
  shard.counters = counters;
  return shard;
}

}  // namespace framepair
