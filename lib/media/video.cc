#include "media/video.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "media/decode_plan.h"
#include "media/ffmpeg_compat.h"
#include "media/yuv_rgb.h"
#include "util/crc32c.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

namespace ff = ::framepair::ffmpeg;

// Give up on a stream whose decoder or demuxer fails this many times in a row without
// producing anything: it is not going to recover, and looping forever is worse.
constexpr int kMaxConsecutiveErrors = 256;
// After a seek, frames whose pts is not in the table (leading pictures the decoder invents or
// drops differently) are skipped; this bounds how many before the seek counts as failed.
constexpr int kMaxUnidentifiedAfterSeek = 64;
// Attempts at seeking further back before reopening the file and decoding straight.
constexpr int kMaxSeekAttempts = 4;
// Frames a straight decode may deliver beyond 1.5x what the container promises (FillInfo).
constexpr int64_t kExtraFrames = 300;

// Swscale wants 16-byte aligned rows for its SIMD paths (and warns otherwise).
int AlignedStride(int bytes) { return (bytes + 31) & ~31; }

bool IsImagePattern(const std::string& path) {
  for (size_t i = path.find('%'); i != std::string::npos; i = path.find('%', i + 1)) {
    size_t j = i + 1;
    while (j < path.size() && std::isdigit(static_cast<unsigned char>(path[j]))) ++j;
    if (j < path.size() && path[j] == 'd') return true;
  }
  return false;
}

std::string EscapeGlob(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("*?[]{}\\", c) != nullptr) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// The decoder's pixel format, without the deprecated "J" aliases (same layout, full range),
// so swscale does not warn and the range travels through sws_setColorspaceDetails instead.
AVPixelFormat DejpegFormat(AVPixelFormat f, bool* full_range) {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      *full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      *full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      *full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      *full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      *full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return f;
  }
}

AVColorSpace OverrideSpace(AVColorSpace space, const ColourOverride& o) {
  if (o.matrix == "bt601") return AVCOL_SPC_SMPTE170M;
  if (o.matrix == "bt709") return AVCOL_SPC_BT709;
  if (o.matrix == "bt2020") return AVCOL_SPC_BT2020_NCL;
  return space;
}

AVColorRange OverrideRange(AVColorRange range, const ColourOverride& o) {
  if (o.range == "full") return AVCOL_RANGE_JPEG;
  if (o.range == "limited") return AVCOL_RANGE_MPEG;
  return range;
}

struct ColorChoice {
  AVPixelFormat format = AV_PIX_FMT_NONE;  // de-J'd source format
  int sws_matrix = SWS_CS_ITU601;
  const char* name = "bt601";
  bool full_range = false;
  bool yuv = true;  // false: RGB or gray input, no matrix applies
};

ColorChoice ChooseColor(AVPixelFormat format, AVColorSpace space, AVColorRange range) {
  ColorChoice c;
  bool jpeg = false;
  c.format = DejpegFormat(format, &jpeg);
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(c.format);
  if (d != nullptr && (d->flags & AV_PIX_FMT_FLAG_RGB) != 0) {
    c.yuv = false;
    c.name = "rgb";
    c.full_range = true;
    return c;
  }
  if (d != nullptr && d->nb_components <= 2) {
    // Grey images (PNG, ffv1 gray) are full range unless the stream says otherwise.
    c.yuv = false;
    c.name = "gray";
    c.full_range = range != AVCOL_RANGE_MPEG;
    return c;
  }
  // An explicit limited tag on a J format only comes from ColourOverride: it wins.
  c.full_range = range == AVCOL_RANGE_JPEG || (jpeg && range != AVCOL_RANGE_MPEG);
  switch (space) {
    case AVCOL_SPC_BT709:
      c.sws_matrix = SWS_CS_ITU709;
      c.name = "bt709";
      break;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
      c.sws_matrix = SWS_CS_ITU601;
      c.name = "bt601";
      break;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      c.sws_matrix = SWS_CS_BT2020;
      c.name = "bt2020";
      break;
    case AVCOL_SPC_SMPTE240M:
      c.sws_matrix = SWS_CS_SMPTE240M;
      c.name = "smpte240m";
      break;
    case AVCOL_SPC_FCC:
      c.sws_matrix = SWS_CS_FCC;
      c.name = "fcc";
      break;
    default:
      // Untagged: BT.601 at every size, which is what ffmpeg/libswscale use when they write
      // an untagged stream. Players guess BT.709 for HD, but a size-dependent guess would
      // convert the LR and HR recordings of one pair with different matrices: the colours of
      // input and target would disagree, and so would the thumbnails alignment compares.
      c.sws_matrix = SWS_CS_ITU601;
      c.name = "bt601";
      break;
  }
  return c;
}

// True when plane 0 already is the 8-bit luma, one byte per pixel.
bool HasNativeLuma(AVPixelFormat format) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (d == nullptr) return false;
  constexpr uint64_t kNotLuma = AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL |
                                AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL |
                                AV_PIX_FMT_FLAG_FLOAT | AV_PIX_FMT_FLAG_BE;
  if ((d->flags & kNotLuma) != 0) return false;
  const AVComponentDescriptor& y = d->comp[0];
  return y.plane == 0 && y.depth == 8 && y.step == 1 && y.shift == 0 && y.offset == 0;
}

// True when the frame's Y (and U, V) are 8-bit planes, one byte per sample: 8-bit planar YUV
// (any subsampling, J variants, alpha ignored) or grey.
bool HasNativePlanes(AVPixelFormat format) {
  if (!HasNativeLuma(format)) return false;
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (d->nb_components <= 2) return true;
  for (int k = 1; k < 3; ++k) {
    const AVComponentDescriptor& c = d->comp[k];
    if (c.plane != k || c.depth != 8 || c.step != 1 || c.shift != 0 || c.offset != 0) {
      return false;
    }
  }
  return true;
}

// The 8-bit planar format Planes() converts other formats to: grey stays grey, YUV keeps its
// subsampling (as ffmpeg's format negotiation would pick for mpdecimate), RGB becomes 4:4:4.
AVPixelFormat PlanarFormatFor(const AVPixFmtDescriptor* d) {
  if ((d->flags & AV_PIX_FMT_FLAG_RGB) != 0) return AV_PIX_FMT_YUV444P;
  if (d->nb_components <= 2) return AV_PIX_FMT_GRAY8;
  switch (d->log2_chroma_w * 4 + d->log2_chroma_h) {
    case 0:
      return AV_PIX_FMT_YUV444P;
    case 1:
      return AV_PIX_FMT_YUV440P;
    case 4:
      return AV_PIX_FMT_YUV422P;
    case 5:
      return AV_PIX_FMT_YUV420P;
    case 8:
      return AV_PIX_FMT_YUV411P;
    case 10:
      return AV_PIX_FMT_YUV410P;
    default:
      return AV_PIX_FMT_YUV444P;
  }
}

}  // namespace

// Converts frames without native 8-bit planes to 8-bit planes: GRAY8 for Luma(), an 8-bit
// planar YUV format for Planes(). One per decoder.
class LumaScratch {
 public:
  YuvView Convert(const AVFrame* f, AVPixelFormat dst_format) {
    const auto format = static_cast<AVPixelFormat>(f->format);
    if (!sws_ || format != format_ || dst_format != dst_format_ || f->width != width_ ||
        f->height != height_) {
      sws_.reset(sws_getContext(f->width, f->height, format, f->width, f->height, dst_format,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, nullptr, nullptr,
                                nullptr));
      format_ = format;
      dst_format_ = dst_format;
      width_ = f->width;
      height_ = f->height;
      view_ = {};
      const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(dst_format);
      view_.count = d->nb_components;
      view_.log2_chroma_w = d->log2_chroma_w;
      view_.log2_chroma_h = d->log2_chroma_h;
      for (int k = 0; k < view_.count; ++k) {
        const int w = k == 0 ? f->width : AV_CEIL_RSHIFT(f->width, d->log2_chroma_w);
        const int h = k == 0 ? f->height : AV_CEIL_RSHIFT(f->height, d->log2_chroma_h);
        buffers_[k].assign(static_cast<size_t>(AlignedStride(w)) * h, 0);
        view_.planes[k] = PlaneView{buffers_[k].data(), AlignedStride(w), w, h};
      }
    }
    if (!sws_) return {};
    uint8_t* dst[4] = {};
    int dst_stride[4] = {};
    for (int k = 0; k < view_.count; ++k) {
      dst[k] = buffers_[k].data();
      dst_stride[k] = view_.planes[k].stride;
    }
    sws_scale(sws_.get(), f->data, f->linesize, 0, f->height, dst, dst_stride);
    return view_;
  }

 private:
  ff::SwsContextPtr sws_;
  AVPixelFormat format_ = AV_PIX_FMT_NONE;
  AVPixelFormat dst_format_ = AV_PIX_FMT_NONE;
  int width_ = 0;
  int height_ = 0;
  YuvView view_;
  std::vector<uint8_t> buffers_[3];
};

PlaneView DecodedFrame::Luma() const {
  if (frame == nullptr) return {};
  if (HasNativeLuma(static_cast<AVPixelFormat>(frame->format))) {
    return PlaneView{frame->data[0], frame->linesize[0], frame->width, frame->height};
  }
  if (scratch != nullptr) return scratch->Convert(frame, AV_PIX_FMT_GRAY8).planes[0];
  thread_local LumaScratch fallback;
  return fallback.Convert(frame, AV_PIX_FMT_GRAY8).planes[0];
}

YuvView DecodedFrame::Planes() const {
  if (frame == nullptr) return {};
  const auto format = static_cast<AVPixelFormat>(frame->format);
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (d == nullptr) return {};
  if (HasNativePlanes(format)) {
    YuvView v;
    v.count = d->nb_components >= 3 ? 3 : 1;
    v.log2_chroma_w = d->log2_chroma_w;
    v.log2_chroma_h = d->log2_chroma_h;
    for (int k = 0; k < v.count; ++k) {
      const int w = k == 0 ? frame->width : AV_CEIL_RSHIFT(frame->width, d->log2_chroma_w);
      const int h = k == 0 ? frame->height : AV_CEIL_RSHIFT(frame->height, d->log2_chroma_h);
      v.planes[k] = PlaneView{frame->data[k], frame->linesize[k], w, h};
    }
    return v;
  }
  const AVPixelFormat dst = PlanarFormatFor(d);
  if (scratch != nullptr) return scratch->Convert(frame, dst);
  thread_local LumaScratch fallback;
  return fallback.Convert(frame, dst);
}

absl::StatusOr<SharedFrame> ShareFrame(const AVFrame* frame) {
  AVFrame* copy = frame != nullptr ? av_frame_clone(frame) : nullptr;
  if (copy == nullptr) return absl::ResourceExhaustedError("cannot reference a decoded frame");
  return SharedFrame(copy, [](const AVFrame* f) {
    auto* owned = const_cast<AVFrame*>(f);
    av_frame_free(&owned);
  });
}

uint64_t DecodedFrame::ContentHash() const {
  if (frame == nullptr) return 0;
  const auto format = static_cast<AVPixelFormat>(frame->format);
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  // Visible bytes per row and rows per plane, as if the planes were tightly packed.
  int linesizes[4] = {};
  if (desc == nullptr || av_image_fill_linesizes(linesizes, format, frame->width) < 0) return 0;
  const ptrdiff_t packed[4] = {linesizes[0], linesizes[1], linesizes[2], linesizes[3]};
  size_t sizes[4] = {};
  if (av_image_fill_plane_sizes(sizes, format, frame->height, packed) < 0) return 0;
  uint32_t rest = 0;
  const int32_t shape[3] = {frame->format, frame->width, frame->height};
  rest = Crc32cExtend(rest, shape, sizeof(shape));
  uint32_t luma = 0;
  for (int p = 0; p < 4 && frame->data[p] != nullptr; ++p) {
    if (p == 1 && (desc->flags & AV_PIX_FMT_FLAG_PAL) != 0) {
      rest = Crc32cExtend(rest, frame->data[1], 256 * 4);
      break;
    }
    if (linesizes[p] <= 0) break;
    const int rows = static_cast<int>(sizes[p] / static_cast<size_t>(linesizes[p]));
    uint32_t& crc = p == 0 ? luma : rest;
    if (frame->linesize[p] == linesizes[p]) {
      // No padding between rows: one call, so long planes take the CRC's three-lane path.
      crc = Crc32cExtend(crc, frame->data[p], sizes[p]);
      continue;
    }
    for (int y = 0; y < rows; ++y) {
      crc = Crc32cExtend(crc, frame->data[p] + static_cast<ptrdiff_t>(y) * frame->linesize[p],
                         linesizes[p]);
    }
  }
  return (uint64_t{luma} << 32) | rest;
}

namespace {

class FfmpegDecoder final : public VideoDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<FfmpegDecoder>> Create(const std::string& path,
                                                               const DecoderOptions& options) {
    if (options.max_frame_pixels < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_frame_pixels must be at least 1, not ", options.max_frame_pixels));
    }
    std::unique_ptr<FfmpegDecoder> d(new FfmpegDecoder(path, options));
    FP_RETURN_IF_ERROR(d->OpenInput());
    return d;
  }

  absl::StatusOr<const DecodedFrame*> Next() override {
    FP_RETURN_IF_ERROR(StopStatus());
    if (!index_known_) {
      return absl::FailedPreconditionError(
          absl::StrCat(path_, ": decoder position lost after a failed random access"));
    }
    FP_ASSIGN_OR_RETURN(bool got, ReceiveFrame());
    if (!got) {
      if (next_index_ == 0) return NoFramesError();
      return nullptr;
    }
    if (next_index_ >= frame_limit_) return TooManyFramesError();
    Publish(next_index_++);
    return &current_;
  }

  absl::StatusOr<const DecodedFrame*> DecodeAt(
      int64_t index, const std::vector<FramePosition>& positions) override {
    FP_RETURN_IF_ERROR(StopStatus());
    if (index < 0 || index >= static_cast<int64_t>(positions.size())) {
      return absl::OutOfRangeError(absl::StrCat(
          path_, ": frame ", index, " is outside the frame table (0..", positions.size(), ")"));
    }
    BuildPtsMap(positions);
    if (have_current_ && index_known_ && current_.index == index) return &current_;

    int64_t keyframe = KeyframeAtOrBefore(positions, index);
    if (index_known_ && next_index_ <= index && keyframe <= next_index_) {
      // No keyframe between here and the target: decoding forward is the cheapest way.
      FP_ASSIGN_OR_RETURN(bool ok, DecodeForwardTo(index, /*verify=*/true));
      if (ok) return &current_;
    }
    for (int attempt = 0; attempt < kMaxSeekAttempts; ++attempt) {
      FP_ASSIGN_OR_RETURN(int64_t first, SeekAndIdentify(keyframe, positions));
      if (first >= 0 && first <= index) {
        if (first == index) return &current_;
        FP_ASSIGN_OR_RETURN(bool ok, DecodeForwardTo(index, /*verify=*/true));
        if (ok) return &current_;
      }
      // Landed past the target (leading pictures of an open GOP, a coarse index) or could not
      // tell where: start from the keyframe before.
      if (keyframe == 0) break;
      keyframe = KeyframeAtOrBefore(positions, keyframe - 1);
    }
    return ReopenAndDecodeTo(index, positions);
  }

  const DecodeCounters& counters() const override { return counters_; }

 private:
  FfmpegDecoder(std::string path, DecoderOptions options)
      : path_(std::move(path)), options_(options) {}

  absl::Status NoFramesError() const {
    std::string damage;
    if (counters_.corrupt_frames + counters_.read_errors > 0) {
      damage = absl::StrCat(" (", counters_.corrupt_frames, " damaged frames/packets, ",
                            counters_.read_errors, " unreadable packets)");
    }
    return absl::InvalidArgumentError(absl::StrCat(path_, ": no decodable video frames", damage));
  }

  // What FFmpeg is asked to open for path_.
  struct Input {
    std::string url;
    const AVInputFormat* format = nullptr;
    const char* pattern_type = nullptr;  // image2 only: "sequence" or "glob"
  };

  absl::StatusOr<Input> ResolveInput() {
    Input in;
    // FFmpeg reads "name:rest" as protocol `name`; "./" keeps a relative path a file path.
    in.url = !path_.empty() && path_[0] == '/' ? path_ : "./" + path_;
    image2_ = false;
    struct stat st {};
    if (stat(path_.c_str(), &st) != 0) {
      if (!IsImagePattern(path_)) {
        return absl::NotFoundError(absl::StrCat(path_, ": no such file"));
      }
      // A number in a directory name would make the frames come from many directories, any
      // of them anywhere ("seq/%d/../../elsewhere/frame.png"); the sequence is one directory.
      const size_t slash = path_.rfind('/');
      if (slash != std::string::npos && IsImagePattern(path_.substr(0, slash))) {
        return absl::InvalidArgumentError(absl::StrCat(
            path_,
            ": the frame number pattern must be in the file name (dir/%05d.png), not in a "
            "directory name"));
      }
      image2_ = true;
      in.format = av_find_input_format("image2");
      in.pattern_type = "sequence";
      return in;
    }
    if (S_ISDIR(st.st_mode)) {
      bool any_png = false;
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(path_, ec)) {
        if (e.path().extension() == ".png") {
          any_png = true;
          break;
        }
      }
      if (!any_png) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_,
                         ": directory holds no *.png files; give a video file, a directory of PNG "
                         "frames or a printf pattern such as dir/%05d.png"));
      }
      image2_ = true;
      in.format = av_find_input_format("image2");
      // glob() sorts the names, which is the frame order.
      in.url = EscapeGlob(in.url) + "/*.png";
      in.pattern_type = "glob";
      return in;
    }
    // A FIFO, socket or device would block reads or never end.
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": not a regular file (a device, FIFO or socket), not a video"));
    }
    if (st.st_size == 0) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": empty file (0 bytes), not a video"));
    }
    FP_ASSIGN_OR_RETURN(in.format, ProbeContainer(in.url));
    return in;
  }

  // Identifies the container before any demuxer reads its header, so a refused one (a
  // playlist, a list of other files, ...) is named in the error and never opened.
  absl::StatusOr<const AVInputFormat*> ProbeContainer(const std::string& url) {
    AVIOContext* raw_pb = nullptr;
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    const AVIOInterruptCB interrupt{&Interrupt, this};
    int r = avio_open2(&raw_pb, url.c_str(), AVIO_FLAG_READ, &interrupt, &opts);
    av_dict_free(&opts);
    ff::IoContextPtr pb(raw_pb);
    FP_RETURN_IF_ERROR(StopStatus());
    if (r < 0) return OpenError(r);
    const AVInputFormat* format = nullptr;
    r = av_probe_input_buffer2(pb.get(), &format, url.c_str(), nullptr, 0, 0);
    FP_RETURN_IF_ERROR(StopStatus());
    if (r < 0 || format == nullptr) return OpenError(r);
    // The tty demuxer claims any *.txt as ANSI art; nobody means that by "video".
    if (std::strcmp(format->name, "tty") == 0) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": a text file, not a video"));
    }
    if (av_match_list(format->name, kAcceptedContainers, ',') <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": a '", format->name,
          "' file, which is not accepted: give a video file (mp4/mov, mkv/webm, avi, flv, "
          "mpegts, nut, y4m), a directory of PNGs or a pattern such as dir/%05d.png. Playlists, "
          "lists of other files, single images and raw streams are refused"));
    }
    return format;
  }

  absl::Status OpenError(int r) const {
    if (r == AVERROR(ENOENT)) return absl::NotFoundError(absl::StrCat(path_, ": no such file"));
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": not a video FFmpeg can read (", ff::ErrorString(r), ")"));
  }

  absl::Status OpenFormat(const Input& in) {
    AVFormatContext* raw_fmt = avformat_alloc_context();
    if (raw_fmt == nullptr) return absl::ResourceExhaustedError("avformat_alloc_context failed");
    // Every file the demuxer opens (image2 opens one per frame) inherits the callback and the
    // whitelists.
    raw_fmt->interrupt_callback = {&Interrupt, this};
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "format_whitelist", image2_ ? "image2" : kAcceptedContainers, 0);
    // mov: never follow data references to other files (off by default; kept off).
    av_dict_set(&opts, "enable_drefs", "0", 0);
    if (in.pattern_type != nullptr) av_dict_set(&opts, "pattern_type", in.pattern_type, 0);
    const int r = avformat_open_input(&raw_fmt, in.url.c_str(), in.format, &opts);
    av_dict_free(&opts);
    fmt_.reset(raw_fmt);  // null after a failure: avformat_open_input freed it
    FP_RETURN_IF_ERROR(StopStatus());
    return r < 0 ? OpenError(r) : absl::OkStatus();
  }

  bool ShouldStop() const {
    return (options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed)) ||
           std::chrono::steady_clock::now() > options_.deadline;
  }

  // FFmpeg polls this during every read; nonzero makes the read fail with AVERROR_EXIT.
  static int Interrupt(void* opaque) {
    return static_cast<const FfmpegDecoder*>(opaque)->ShouldStop() ? 1 : 0;
  }

  // CANCELLED or DEADLINE_EXCEEDED once the caller asked to stop: checked wherever FFmpeg
  // failed or ended, since an interrupted read looks like an error or the end of the file.
  absl::Status StopStatus() const {
    if (options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed)) {
      return absl::CancelledError(absl::StrCat(path_, ": decoding cancelled"));
    }
    if (std::chrono::steady_clock::now() > options_.deadline) {
      return absl::DeadlineExceededError(absl::StrCat(path_, ": decoding passed its deadline"));
    }
    return absl::OkStatus();
  }

  // The sizes the container's header declares, before find_stream_info decodes anything
  // (cover art is never decoded, whatever its size).
  absl::Status CheckDeclaredFrameSizes() const {
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      const AVStream* s = fmt_->streams[i];
      if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
          (s->disposition & AV_DISPOSITION_ATTACHED_PIC) == 0) {
        FP_RETURN_IF_ERROR(CheckFrameSize(s->codecpar->width, s->codecpar->height));
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckFrameSize(int64_t width, int64_t height) const {
    const int64_t pixels = std::max<int64_t>(width, 0) * std::max<int64_t>(height, 0);
    if (pixels <= options_.max_frame_pixels) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": a frame of ", width, "x", height, " (", pixels,
                     " pixels) is larger than --max-frame-pixels=", options_.max_frame_pixels,
                     "; raise the limit to accept such frames"));
  }

  // The decoder's buffer allocator: refuses oversized frames before their memory exists (a
  // stream can change size mid-way, after the header was checked). Called from the decoder's
  // threads.
  static int GetBuffer(AVCodecContext* c, AVFrame* frame, int flags) {
    auto* self = static_cast<FfmpegDecoder*>(c->opaque);
    const int width = c->width > 0 ? c->width : frame->width;
    const int height = c->height > 0 ? c->height : frame->height;
    if (int64_t{width} * height > self->options_.max_frame_pixels) {
      self->refused_size_.store((int64_t{width} << 32) | static_cast<uint32_t>(height));
      return AVERROR(EINVAL);
    }
    return avcodec_default_get_buffer2(c, frame, flags);
  }

  absl::Status RefusedFrameError() const {
    const int64_t size = refused_size_.load();
    if (size == 0) return absl::OkStatus();
    return CheckFrameSize(size >> 32, size & 0xffffffff);
  }

  absl::Status OpenInput() {
    fmt_.reset();
    codec_.reset();
    FP_ASSIGN_OR_RETURN(Input input, ResolveInput());
    FP_RETURN_IF_ERROR(OpenFormat(input));
    FP_RETURN_IF_ERROR(CheckDeclaredFrameSizes());
    // Lets the decoders that find_stream_info runs on the first frames refuse oversized ones
    // before allocating them, for containers that declare no size (image2, MPEG-TS). A refused
    // stream's size reads 0x0 afterwards; GetBuffer then names it when decoding reaches it.
    std::vector<AVDictionary*> stream_options(fmt_->nb_streams, nullptr);
    for (AVDictionary*& d : stream_options) {
      av_dict_set_int(&d, "max_pixels", std::min<int64_t>(options_.max_frame_pixels, INT_MAX), 0);
    }
    int r = avformat_find_stream_info(fmt_.get(), stream_options.data());
    for (AVDictionary*& d : stream_options) av_dict_free(&d);
    FP_RETURN_IF_ERROR(StopStatus());
    if (r < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": cannot read the stream parameters (", ff::ErrorString(r), ")"));
    }

    const AVCodec* decoder = nullptr;
    int best = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
    if (best >= 0 && (fmt_->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0) {
      best = AVERROR_STREAM_NOT_FOUND;
      for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
        const AVStream* s = fmt_->streams[i];
        if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
            (s->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0) {
          continue;
        }
        decoder = avcodec_find_decoder(s->codecpar->codec_id);
        best = decoder != nullptr ? static_cast<int>(i) : AVERROR_DECODER_NOT_FOUND;
        if (decoder != nullptr) break;
      }
    }
    if (best == AVERROR_DECODER_NOT_FOUND) {
      std::string codec = "unknown";
      for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
        if (fmt_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
          codec = avcodec_get_name(fmt_->streams[i]->codecpar->codec_id);
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(path_, ": no decoder for its video codec '",
                                                     codec, "' in this FFmpeg build"));
    }
    if (best < 0) {
      bool audio = false;
      for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
        audio |= fmt_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
      }
      return absl::InvalidArgumentError(
          absl::StrCat(path_, audio ? ": audio only, no video stream" : ": no video stream"));
    }
    stream_index_ = best;
    stream_ = fmt_->streams[best];
    FP_RETURN_IF_ERROR(CheckFrameSize(stream_->codecpar->width, stream_->codecpar->height));
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      if (static_cast<int>(i) != best) fmt_->streams[i]->discard = AVDISCARD_ALL;
    }

    codec_.reset(avcodec_alloc_context3(decoder));
    if (!codec_) return absl::ResourceExhaustedError("avcodec_alloc_context3 failed");
    r = avcodec_parameters_to_context(codec_.get(), stream_->codecpar);
    if (r < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": bad codec parameters (", ff::ErrorString(r), ")"));
    }
    codec_->thread_count = options_.threads;
    codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    codec_->pkt_timebase = stream_->time_base;
    codec_->opaque = this;
    codec_->get_buffer2 = &GetBuffer;
    ff::MarkCallbacksThreadSafe(codec_.get());
    refused_size_.store(0);
    r = avcodec_open2(codec_.get(), decoder, nullptr);
    if (r < 0) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": cannot open the ", decoder->name,
                                                     " decoder (", ff::ErrorString(r), ")"));
    }
    if (!packet_) packet_.reset(av_packet_alloc());
    if (!frame_) frame_.reset(av_frame_alloc());
    if (!packet_ || !frame_) return absl::ResourceExhaustedError("av_*_alloc failed");
    flushing_ = false;
    pending_packet_ = false;
    consecutive_read_errors_ = 0;
    have_current_ = false;
    index_known_ = true;
    next_index_ = 0;
    FillInfo();
    return absl::OkStatus();
  }

  void FillInfo() {
    const AVCodecParameters* par = stream_->codecpar;
    info_.path = path_;
    info_.container = fmt_->iformat->name;
    info_.codec = avcodec_get_name(par->codec_id);
    const auto pix = static_cast<AVPixelFormat>(par->format);
    const char* pix_name = av_get_pix_fmt_name(pix);
    info_.pixel_format = pix_name != nullptr ? pix_name : "unknown";
    ColorChoice color = ChooseColor(pix, OverrideSpace(par->color_space, options_.colour),
                                    OverrideRange(par->color_range, options_.colour));
    info_.color_matrix = color.name;
    info_.full_range = color.full_range;
    info_.width = par->width;
    info_.height = par->height;
    info_.time_base_num = stream_->time_base.num;
    info_.time_base_den = stream_->time_base.den;
    const AVRational rate = stream_->avg_frame_rate;
    info_.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
    info_.frame_count_estimate = 0;
    if (stream_->nb_frames > 0) {
      info_.frame_count_estimate = stream_->nb_frames;
    } else if (info_.fps > 0 && stream_->duration != AV_NOPTS_VALUE) {
      info_.frame_count_estimate = std::llround(static_cast<double>(stream_->duration) *
                                                av_q2d(stream_->time_base) * info_.fps);
    } else if (info_.fps > 0 && fmt_->duration != AV_NOPTS_VALUE) {
      info_.frame_count_estimate =
          std::llround(static_cast<double>(fmt_->duration) / AV_TIME_BASE * info_.fps);
    }
    // What the container declares, with room for rounding and variable frame rates, is held
    // against what the stream delivers (Next). A duration FFmpeg guessed (from the bitrate, or
    // from the first and last timestamps, which a concatenated MPEG-TS restarts) promises
    // nothing, and neither does an unknown one.
    frame_limit_ = std::numeric_limits<int64_t>::max();
    const bool promised =
        stream_->nb_frames > 0 || fmt_->duration_estimation_method == AVFMT_DURATION_FROM_STREAM;
    if (promised && info_.frame_count_estimate > 0 &&
        info_.frame_count_estimate < std::numeric_limits<int64_t>::max() / 2) {
      frame_limit_ = info_.frame_count_estimate + info_.frame_count_estimate / 2 + kExtraFrames;
    }
  }

  absl::Status TooManyFramesError() const {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": the stream goes on past ", frame_limit_, " frames although its duration and ",
        "frame rate promise about ", info_.frame_count_estimate,
        "; its timestamps or index do not match its content, so decoding stopped"));
  }

  // Sends packets until the decoder has output or input is exhausted.
  absl::Status FeedPacket() {
    while (true) {
      if (!pending_packet_) {
        int r = av_read_frame(fmt_.get(), packet_.get());
        if (r < 0) FP_RETURN_IF_ERROR(StopStatus());
        if (r == AVERROR_EOF || (r < 0 && fmt_->pb != nullptr && avio_feof(fmt_->pb))) {
          avcodec_send_packet(codec_.get(), nullptr);
          flushing_ = true;
          return absl::OkStatus();
        }
        if (r < 0) {
          ++counters_.read_errors;
          if (++consecutive_read_errors_ < kMaxConsecutiveErrors &&
              (r == AVERROR_INVALIDDATA || r == AVERROR(EAGAIN))) {
            continue;
          }
          if (r == AVERROR_INVALIDDATA) {
            // Damaged beyond recovery from here on: keep what decoded so far.
            avcodec_send_packet(codec_.get(), nullptr);
            flushing_ = true;
            return absl::OkStatus();
          }
          return absl::UnavailableError(
              absl::StrCat(path_, ": read error (", ff::ErrorString(r), ")"));
        }
        consecutive_read_errors_ = 0;
        if (packet_->stream_index != stream_index_) {
          av_packet_unref(packet_.get());
          continue;
        }
        ++counters_.packets_read;
      }
      int r = avcodec_send_packet(codec_.get(), packet_.get());
      if (r == AVERROR(EAGAIN)) {
        // The decoder wants its output read first; keep the packet for the next call.
        pending_packet_ = true;
        return absl::OkStatus();
      }
      pending_packet_ = false;
      av_packet_unref(packet_.get());
      if (r < 0 && r != AVERROR_EOF) ++counters_.corrupt_frames;
      return absl::OkStatus();
    }
  }

  // Decodes the next intact frame into frame_. False at the end of the stream.
  absl::StatusOr<bool> ReceiveFrame() {
    have_current_ = false;
    av_frame_unref(frame_.get());
    int errors = 0;
    while (true) {
      int r = avcodec_receive_frame(codec_.get(), frame_.get());
      if (r >= 0) {
        ++counters_.frames_decoded;
        // Decoders that hand out their input's buffers (rawvideo) bypass GetBuffer.
        FP_RETURN_IF_ERROR(CheckFrameSize(frame_->width, frame_->height));
        frame_->colorspace = OverrideSpace(frame_->colorspace, options_.colour);
        frame_->color_range = OverrideRange(frame_->color_range, options_.colour);
        if (ff::IsCorrupt(frame_.get())) {
          ++counters_.corrupt_frames;
          av_frame_unref(frame_.get());
          continue;
        }
        return true;
      }
      FP_RETURN_IF_ERROR(RefusedFrameError());
      if (r == AVERROR_EOF) return false;
      if (r != AVERROR(EAGAIN)) {
        ++counters_.corrupt_frames;
        if (++errors > kMaxConsecutiveErrors) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": the decoder keeps failing (", ff::ErrorString(r), ")"));
        }
        continue;
      }
      if (flushing_) return false;
      FP_RETURN_IF_ERROR(FeedPacket());
    }
  }

  void Publish(int64_t index) {
    current_.index = index;
    current_.pts =
        frame_->best_effort_timestamp != AV_NOPTS_VALUE ? frame_->best_effort_timestamp : index;
    current_.keyframe = ff::IsKeyFrame(frame_.get());
    current_.frame = frame_.get();
    current_.scratch = &scratch_;
    have_current_ = true;
  }

  void BuildPtsMap(const std::vector<FramePosition>& positions) {
    if (map_source_ == &positions && map_size_ == positions.size()) return;
    pts_to_index_.clear();
    pts_to_index_.reserve(positions.size());
    for (size_t i = 0; i < positions.size(); ++i) {
      auto [it, inserted] = pts_to_index_.emplace(positions[i].pts, static_cast<int64_t>(i));
      if (!inserted) it->second = -1;  // ambiguous: cannot identify a frame by this pts
    }
    map_source_ = &positions;
    map_size_ = positions.size();
  }

  int64_t IndexForPts(int64_t pts) const {
    auto it = pts_to_index_.find(pts);
    return it == pts_to_index_.end() ? -1 : it->second;
  }

  // Decodes forward from the current position until frame `index`. False if the stream
  // disagrees with the table (a frame's pts belongs to another index) or ends first; the
  // position is then unknown.
  absl::StatusOr<bool> DecodeForwardTo(int64_t index, bool verify) {
    while (next_index_ <= index) {
      FP_ASSIGN_OR_RETURN(bool got, ReceiveFrame());
      if (!got) {
        index_known_ = false;
        return false;
      }
      if (verify && frame_->best_effort_timestamp != AV_NOPTS_VALUE) {
        int64_t expected = IndexForPts(frame_->best_effort_timestamp);
        if (expected >= 0 && expected != next_index_) {
          index_known_ = false;
          return false;
        }
      }
      Publish(next_index_++);
    }
    return current_.index == index;
  }

  // Seeks to the keyframe `keyframe` (or before it) and decodes until a frame can be
  // identified by its pts. Returns its index, or -1 if that failed.
  absl::StatusOr<int64_t> SeekAndIdentify(int64_t keyframe,
                                          const std::vector<FramePosition>& positions) {
    ++counters_.seeks;
    index_known_ = false;
    have_current_ = false;
    // image2 timestamps are frame numbers; seeking by the index is exact there.
    const int64_t target = image2_ ? keyframe : positions[keyframe].pts;
    int r = av_seek_frame(fmt_.get(), stream_index_, target, AVSEEK_FLAG_BACKWARD);
    avcodec_flush_buffers(codec_.get());
    av_packet_unref(packet_.get());
    pending_packet_ = false;
    flushing_ = false;
    consecutive_read_errors_ = 0;
    if (r < 0) return -1;
    for (int n = 0; n < kMaxUnidentifiedAfterSeek; ++n) {
      FP_ASSIGN_OR_RETURN(bool got, ReceiveFrame());
      if (!got) return -1;
      if (frame_->best_effort_timestamp == AV_NOPTS_VALUE) continue;
      int64_t index = IndexForPts(frame_->best_effort_timestamp);
      if (index < 0) continue;
      Publish(index);
      next_index_ = index + 1;
      index_known_ = true;
      return index;
    }
    return -1;
  }

  // Last resort: what a straight decode produces is the definition of the frame index.
  absl::StatusOr<const DecodedFrame*> ReopenAndDecodeTo(
      int64_t index, const std::vector<FramePosition>& positions) {
    ++counters_.reopens;
    FP_RETURN_IF_ERROR(OpenInput());
    FP_ASSIGN_OR_RETURN(bool ok, DecodeForwardTo(index, /*verify=*/false));
    if (!ok) {
      return absl::DataLossError(
          absl::StrCat(path_, ": frame ", index, " of ", positions.size(),
                       " cannot be decoded (the stream ends at frame ", next_index_,
                       "); the file changed since it was ingested or is damaged there"));
    }
    return &current_;
  }

  std::string path_;
  DecoderOptions options_;
  bool image2_ = false;
  int64_t frame_limit_ = std::numeric_limits<int64_t>::max();  // see FillInfo
  std::atomic<int64_t> refused_size_{0};  // width << 32 | height of a frame GetBuffer refused
  ff::FormatContextPtr fmt_;
  ff::CodecContextPtr codec_;
  ff::PacketPtr packet_;
  ff::FramePtr frame_;
  int stream_index_ = -1;
  AVStream* stream_ = nullptr;
  bool flushing_ = false;        // the end-of-stream (null) packet has been sent
  bool pending_packet_ = false;  // packet_ holds a packet the decoder refused (EAGAIN)
  int consecutive_read_errors_ = 0;

  bool index_known_ = true;  // next_index_ is valid (false after a failed seek)
  int64_t next_index_ = 0;   // index of the next frame the decoder will output
  bool have_current_ = false;
  DecodedFrame current_;
  DecodeCounters counters_;
  LumaScratch scratch_;

  const std::vector<FramePosition>* map_source_ = nullptr;
  size_t map_size_ = 0;
  std::unordered_map<int64_t, int64_t> pts_to_index_;  // -1 = pts shared by several frames
};

}  // namespace

const VideoInfo& VideoDecoder::info() const { return info_; }

absl::StatusOr<std::unique_ptr<VideoDecoder>> VideoDecoder::Open(const std::string& path,
                                                                 const DecoderOptions& options) {
  FP_ASSIGN_OR_RETURN(std::unique_ptr<FfmpegDecoder> d, FfmpegDecoder::Create(path, options));
  return std::unique_ptr<VideoDecoder>(std::move(d));
}

void SetFfmpegLogQuiet(bool quiet) { av_log_set_level(quiet ? AV_LOG_ERROR : AV_LOG_INFO); }

absl::Status ValidateColourOverride(const ColourOverride& colour, const std::string& flag_prefix) {
  if (!colour.matrix.empty() && colour.matrix != "bt601" && colour.matrix != "bt709" &&
      colour.matrix != "bt2020") {
    return absl::InvalidArgumentError(
        absl::StrCat(flag_prefix, "-matrix must be bt601, bt709 or bt2020"));
  }
  if (!colour.range.empty() && colour.range != "full" && colour.range != "limited") {
    return absl::InvalidArgumentError(absl::StrCat(flag_prefix, "-range must be full or limited"));
  }
  return absl::OkStatus();
}

int64_t DecodedFrameBytes(const VideoInfo& info) {
  const int64_t pixels = std::max<int64_t>(0, static_cast<int64_t>(info.width) * info.height);
  const AVPixelFormat format = av_get_pix_fmt(info.pixel_format.c_str());
  const int bytes =
      format == AV_PIX_FMT_NONE ? -1 : av_image_get_buffer_size(format, info.width, info.height, 1);
  return bytes > 0 ? bytes : 8 * pixels;
}

absl::StatusOr<VideoInfo> ProbeVideo(const std::string& path, const DecoderOptions& decoder) {
  DecoderOptions options = decoder;
  options.threads = 1;  // no frames are decoded; do not start a thread pool
  FP_ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> d, VideoDecoder::Open(path, options));
  return d->info();
}

// ---------------------------------------------------------------------------------------

// Flags of RgbConverter::ToRgb: same size, so the scaler only upsamples chroma; bit-exact,
// accurately rounded C code keeps the output identical across CPUs and runs (the shards must
// be reproducible).
constexpr int kToRgbFlags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT;

namespace {

// A YuvToRgb for what ToRgb converts with `ctx`, or null where it does not apply or does not
// reproduce this libswscale byte for byte on a synthetic frame of the same layout (noise with
// the extremes that make the bicubic filter overshoot). One check per size and format.
std::unique_ptr<YuvToRgb> MakeCheckedYuvToRgb(SwsContext* ctx, const ColorChoice& color, int width,
                                              int height) {
  if (!color.yuv || !HasNativePlanes(color.format)) return nullptr;
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(color.format);
  if (d == nullptr || d->nb_components != 3 || (d->flags & AV_PIX_FMT_FLAG_PLANAR) == 0) {
    return nullptr;
  }
  YuvToRgbSpec spec;
  spec.width = width;
  spec.height = height;
  spec.log2_chroma_w = d->log2_chroma_w;
  spec.log2_chroma_h = d->log2_chroma_h;
  std::memcpy(spec.inv_table, sws_getCoefficients(color.sws_matrix), sizeof(spec.inv_table));
  spec.full_range = color.full_range;
  std::unique_ptr<YuvToRgb> fast = YuvToRgb::Create(spec);
  if (!fast) return nullptr;

  std::vector<uint8_t> planes[3];
  const uint8_t* src[4] = {};
  int src_stride[4] = {};
  uint32_t state = 0x9e3779b9u;
  for (int k = 0; k < 3; ++k) {
    const int w = k == 0 ? width : AV_CEIL_RSHIFT(width, spec.log2_chroma_w);
    const int h = k == 0 ? height : AV_CEIL_RSHIFT(height, spec.log2_chroma_h);
    planes[k].resize(static_cast<size_t>(w) * h);
    for (uint8_t& v : planes[k]) {
      state = state * 1664525u + 1013904223u;
      const uint32_t r = state >> 24;
      v = static_cast<uint8_t>(r < 32 ? 0 : r < 64 ? 255 : r);  // a quarter at the extremes
    }
    src[k] = planes[k].data();
    src_stride[k] = w;
  }
  const int row_bytes = width * 3;
  const int stride = AlignedStride(row_bytes);
  std::vector<uint8_t> reference(static_cast<size_t>(stride) * height + 32);
  uint8_t* dst[4] = {reference.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {stride, 0, 0, 0};
  if (sws_scale(ctx, src, src_stride, 0, height, dst, dst_stride) != height) return nullptr;
  std::vector<uint8_t> mine(static_cast<size_t>(row_bytes) * height);
  fast->Convert(src, src_stride, mine.data(), row_bytes);
  for (int y = 0; y < height; ++y) {
    if (std::memcmp(mine.data() + static_cast<size_t>(y) * row_bytes,
                    reference.data() + static_cast<size_t>(y) * stride, row_bytes) != 0) {
      return nullptr;
    }
  }
  return fast;
}

}  // namespace

struct RgbConverter::Impl {
  using Key = std::tuple<int, int, int, int, int, int, bool, int>;
  struct Converter {
    ff::SwsContextPtr sws;
    std::unique_ptr<YuvToRgb> fast;  // ToRgb only, when it matches sws byte for byte
  };
  std::map<Key, Converter> contexts;
  std::vector<uint8_t> scratch;
  int64_t fast_conversions = 0;

  absl::Status Convert(const AVFrame* frame, int width, int height, int flags, RgbImage* out) {
    if (frame == nullptr || frame->width <= 0 || frame->height <= 0) {
      return absl::InvalidArgumentError("RgbConverter: no frame data");
    }
    if (width <= 0 || height <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("RgbConverter: bad output size ", width, "x", height));
    }
    ColorChoice color = ChooseColor(static_cast<AVPixelFormat>(frame->format), frame->colorspace,
                                    frame->color_range);
    Key key{color.format, frame->width,     frame->height,    width,
            height,       color.sws_matrix, color.full_range, flags};
    auto it = contexts.find(key);
    if (it == contexts.end()) {
      ff::SwsContextPtr ctx(sws_getContext(frame->width, frame->height, color.format, width, height,
                                           AV_PIX_FMT_RGB24, flags, nullptr, nullptr, nullptr));
      if (!ctx) {
        const char* name = av_get_pix_fmt_name(color.format);
        return absl::InvalidArgumentError(absl::StrCat(
            "RgbConverter: swscale cannot convert ", name != nullptr ? name : "unknown", " ",
            frame->width, "x", frame->height, " to RGB24 ", width, "x", height));
      }
      if (color.yuv || !color.full_range) {
        const int* coefficients = sws_getCoefficients(color.sws_matrix);
        sws_setColorspaceDetails(ctx.get(), coefficients, color.full_range ? 1 : 0,
                                 sws_getCoefficients(SWS_CS_DEFAULT), /*dstRange=*/1,
                                 /*brightness=*/0, /*contrast=*/1 << 16,
                                 /*saturation=*/1 << 16);
      }
      Converter converter;
      if (flags == kToRgbFlags && width == frame->width && height == frame->height) {
        converter.fast = MakeCheckedYuvToRgb(ctx.get(), color, width, height);
      }
      converter.sws = std::move(ctx);
      it = contexts.emplace(key, std::move(converter)).first;
    }
    out->width = width;
    out->height = height;
    out->pixels.resize(out->stride() * height);
    if (it->second.fast) {
      it->second.fast->Convert(frame->data, frame->linesize, out->pixels.data(),
                               static_cast<ptrdiff_t>(out->stride()));
      ++fast_conversions;
      return absl::OkStatus();
    }
    const int row_bytes = static_cast<int>(out->stride());
    const bool aligned =
        row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(out->pixels.data()) % 16 == 0;
    const int dst_stride_bytes = aligned ? row_bytes : AlignedStride(row_bytes);
    uint8_t* dst_data = out->pixels.data();
    if (!aligned) {
      scratch.resize(static_cast<size_t>(dst_stride_bytes) * height + 32);
      dst_data = scratch.data();
    }
    uint8_t* dst[4] = {dst_data, nullptr, nullptr, nullptr};
    int dst_stride[4] = {dst_stride_bytes, 0, 0, 0};
    int rows = sws_scale(it->second.sws.get(), frame->data, frame->linesize, 0, frame->height, dst,
                         dst_stride);
    if (rows != height) {
      return absl::InternalError(
          absl::StrCat("RgbConverter: swscale produced ", rows, " rows instead of ", height));
    }
    if (!aligned) {
      for (int y = 0; y < height; ++y) {
        std::memcpy(out->row(y), dst_data + static_cast<size_t>(y) * dst_stride_bytes, row_bytes);
      }
    }
    return absl::OkStatus();
  }
};

RgbConverter::RgbConverter() : impl_(std::make_unique<Impl>()) {}
int64_t RgbConverter::fast_conversions() const { return impl_->fast_conversions; }
RgbConverter::~RgbConverter() = default;

absl::Status RgbConverter::ToRgb(const AVFrame* frame, RgbImage* out) {
  if (frame == nullptr) return absl::InvalidArgumentError("RgbConverter: null frame");
  return impl_->Convert(frame, frame->width, frame->height, kToRgbFlags, out);
}

absl::Status RgbConverter::Thumbnail(const AVFrame* frame, int width, int height, RgbImage* out) {
  // Area averaging makes thumbnails of the same picture at different resolutions agree.
  constexpr int kFlags = SWS_AREA | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT;
  return impl_->Convert(frame, width, height, kFlags, out);
}

}  // namespace framepair
