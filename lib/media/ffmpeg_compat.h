// The one place that knows about FFmpeg headers, version differences and handle ownership.
// Every libav* handle is held in one of the unique_ptr aliases below from the moment it is
// created, so no error path can leak it.
#pragma once

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace framepair::ffmpeg {

struct FormatContextDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsContextDeleter {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct DictionaryDeleter {
  void operator()(AVDictionary* p) const { av_dict_free(&p); }
};
struct IoContextDeleter {
  void operator()(AVIOContext* p) const { avio_closep(&p); }
};

using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;
using IoContextPtr = std::unique_ptr<AVIOContext, IoContextDeleter>;

inline std::string ErrorString(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

// FFmpeg 6.1 moved the key-frame bit into AVFrame::flags and deprecated AVFrame::key_frame.
inline bool IsKeyFrame(const AVFrame* f) {
#if defined(AV_FRAME_FLAG_KEY)
  return (f->flags & AV_FRAME_FLAG_KEY) != 0;
#else
  return f->key_frame != 0;
#endif
}

// Before FFmpeg 6, a custom get_buffer2 with frame threading warns unless flagged thread-safe
// (it is called from the decoder's threads either way).
inline void MarkCallbacksThreadSafe([[maybe_unused]] AVCodecContext* c) {
#if FF_API_THREAD_SAFE_CALLBACKS
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  c->thread_safe_callbacks = 1;
#pragma GCC diagnostic pop
#endif
}

inline bool IsCorrupt(const AVFrame* f) {
  return (f->flags & AV_FRAME_FLAG_CORRUPT) != 0 || f->decode_error_flags != 0;
}

}  // namespace framepair::ffmpeg
