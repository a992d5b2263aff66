// Same-size 8-bit planar YUV -> RGB24, byte-identical to libswscale 6 (FFmpeg 5.1) with
// SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT on x86-64, only faster.
//
// swscale's bit-exact C output path (yuv2rgb_full_X_c) costs most of a pack. This re-does the
// same integer arithmetic in loops the compiler vectorises: the bicubic chroma filters are built
// exactly as libswscale's initFilter builds them (fixed-point kernel, left/right trimming,
// alignment to the x86 SIMD filter width, border folding, error-diffused normalisation), the
// horizontal pass truncates to 15 bits as hScale8To15 does, the vertical pass and the matrix
// round, wrap and clip as yuv2rgb_write_full does. RgbConverter still checks the result against
// swscale once per size and format before relying on it (video.cc), so a different libswscale
// falls back to swscale instead of changing pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace framepair {

struct YuvToRgbSpec {
  int width = 0;
  int height = 0;
  int log2_chroma_w = 0;  // 0 or 1 (4:4:4, 4:2:2, 4:4:0, 4:2:0)
  int log2_chroma_h = 0;
  int inv_table[4] = {};  // sws_getCoefficients(matrix): crv, cbu, cgu, cgv
  bool full_range = false;
};

class YuvToRgb {
 public:
  // Null when the spec is outside what this reproduces exactly (other subsampling, tiny
  // images whose vertical chroma filter has two taps, non-x86 filter alignment).
  static std::unique_ptr<YuvToRgb> Create(const YuvToRgbSpec& spec);

  // planes: Y, U, V of spec.width x spec.height (chroma subsampled as in the spec).
  void Convert(const uint8_t* const planes[3], const int strides[3], uint8_t* dst,
               ptrdiff_t dst_stride);

  // One initFilter result: size taps per output sample, starting at pos[i].
  struct Filter {
    int size = 0;
    std::vector<int32_t> pos;
    std::vector<int16_t> coef;
  };

 private:
  YuvToRgb() = default;

  YuvToRgbSpec spec_;
  int chroma_w_ = 0;  // source chroma plane size
  int chroma_h_ = 0;
  Filter h_;  // chroma_w_ -> width (identity for 4:4:4 / 4:4:0)
  Filter v_;  // chroma_h_ -> height
  bool h_identity_ = false;
  // Outputs [run_begin_, run_begin_ + 2 * run_pairs_) where h_ repeats every two outputs with
  // a four-tap filter, one source sample on (HScalePairs); zero pairs: none.
  int run_begin_ = 0;
  int run_pairs_ = 0;
  int y_offset_ = 0, y_coeff_ = 0, v2r_ = 0, v2g_ = 0, u2g_ = 0, u2b_ = 0;
  std::vector<int16_t> hu_, hv_;  // chroma after the horizontal pass, chroma_h_ rows of width
};

}  // namespace framepair
