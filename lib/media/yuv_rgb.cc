#include "media/yuv_rgb.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace framepair {
namespace {

// libswscale's SWS_MAX_REDUCE_CUTOFF and SWS_PARAM_DEFAULT bicubic parameters (B = 0, C = 0.6).
constexpr double kMaxReduceCutoff = 0.002;
constexpr int64_t kBicubicB = 0;
constexpr int64_t kBicubicC = static_cast<int64_t>(0.6 * (1 << 24));

int Log2(unsigned v) {
  int n = 0;
  while (v >>= 1) ++n;
  return n;
}

int64_t RoundedDiv(int64_t a, int64_t b) { return (a >= 0 ? a + (b >> 1) : a - (b >> 1)) / b; }

// libswscale's get_local_pos() with the default chroma position (-513).
int LocalPos(int chroma_subsample) {
  int pos = (128 << chroma_subsample) - 128;
  pos += 128;
  return pos >> chroma_subsample;
}

// libswscale's initFilter() for SWS_BICUBIC | SWS_BITEXACT, no source or destination filter,
// x86 CPU flags (MMX present).
YuvToRgb::Filter InitFilter(int x_inc, int src_w, int dst_w, int filter_align, int one, int src_pos,
                            int dst_pos) {
  const int64_t fone = int64_t{1} << (54 - std::min(Log2(src_w / dst_w), 8));
  std::vector<int32_t> filter_pos(dst_w + 3);
  std::vector<int64_t> filter;
  int filter_size = 0;
  if (std::abs(x_inc - 0x10000) < 10 && src_pos == dst_pos) {
    filter_size = 1;
    filter.assign(dst_w, fone);
    for (int i = 0; i < dst_w; ++i) filter_pos[i] = i;
  } else {
    constexpr int kSizeFactor = 4;
    filter_size =
        x_inc <= 1 << 16 ? 1 + kSizeFactor : 1 + (kSizeFactor * src_w + dst_w - 1) / dst_w;
    filter_size = std::max(std::min(filter_size, src_w - 2), 1);
    filter.assign(static_cast<size_t>(dst_w) * filter_size, 0);
    int64_t x_dst_in_src = ((dst_pos * int64_t{x_inc}) >> 7) - ((src_pos * 0x10000LL) >> 7);
    for (int i = 0; i < dst_w; ++i) {
      int xx = static_cast<int>((x_dst_in_src - (filter_size - 2) * (1LL << 16)) / (1 << 17));
      filter_pos[i] = xx;
      for (int j = 0; j < filter_size; ++j) {
        int64_t d = std::abs(int64_t{xx} * (1 << 17) - x_dst_in_src) << 13;
        if (x_inc > 1 << 16) d = d * dst_w / src_w;
        int64_t coeff = 0;
        if (d < 1LL << 31) {
          const int64_t dd = (d * d) >> 30;
          const int64_t ddd = (dd * d) >> 30;
          const int64_t B = kBicubicB, C = kBicubicC;
          if (d < 1LL << 30) {
            coeff = (12 * (1 << 24) - 9 * B - 6 * C) * ddd +
                    (-18 * (1 << 24) + 12 * B + 6 * C) * dd + (6 * (1 << 24) - 2 * B) * (1 << 30);
          } else {
            coeff = (-B - 6 * C) * ddd + (6 * B + 30 * C) * dd + (-12 * B - 48 * C) * d +
                    (8 * B + 24 * C) * (1 << 30);
          }
        }
        coeff /= (1LL << 54) / fone;
        filter[static_cast<size_t>(i) * filter_size + j] = coeff;
        ++xx;
      }
      x_dst_in_src += 2LL * x_inc;
    }
  }

  // No source/destination filter: filter2 is filter.
  const int filter2_size = filter_size;
  std::vector<int64_t> filter2 = filter;
  auto f2 = [&](int i, int j) -> int64_t& {
    return filter2[static_cast<size_t>(i) * filter2_size + j];
  };

  // Step 1: trim near-zero taps, left by shifting, right by counting.
  int min_filter_size = 0;
  for (int i = dst_w - 1; i >= 0; --i) {
    int min = filter2_size;
    int64_t cut_off = 0;
    for (int j = 0; j < filter2_size; ++j) {
      cut_off += std::abs(f2(i, 0));
      if (static_cast<double>(cut_off) > kMaxReduceCutoff * static_cast<double>(fone)) break;
      if (i < dst_w - 1 && filter_pos[i] >= filter_pos[i + 1]) break;
      int k = 1;
      for (; k < filter2_size; ++k) f2(i, k - 1) = f2(i, k);
      f2(i, k - 1) = 0;
      ++filter_pos[i];
    }
    cut_off = 0;
    for (int j = filter2_size - 1; j > 0; --j) {
      cut_off += std::abs(f2(i, j));
      if (static_cast<double>(cut_off) > kMaxReduceCutoff * static_cast<double>(fone)) break;
      --min;
    }
    min_filter_size = std::max(min_filter_size, min);
  }
  if (min_filter_size == 1 && filter_align == 2) filter_align = 1;  // MMX unscaled vertical
  filter_size = (min_filter_size + (filter_align - 1)) & ~(filter_align - 1);

  // Step 2: copy, zeroing taps past the minimum (SWS_BITEXACT).
  filter.assign(static_cast<size_t>(dst_w) * filter_size, 0);
  auto f = [&](int i, int j) -> int64_t& {
    return filter[static_cast<size_t>(i) * filter_size + j];
  };
  for (int i = 0; i < dst_w; ++i) {
    for (int j = 0; j < filter_size; ++j) {
      f(i, j) = j >= filter2_size ? 0 : f2(i, j);
      if (j >= min_filter_size) f(i, j) = 0;
    }
  }

  // Fold taps outside the source into its first and last samples.
  for (int i = 0; i < dst_w; ++i) {
    if (filter_pos[i] < 0) {
      for (int j = 1; j < filter_size; ++j) {
        const int left = std::max(j + filter_pos[i], 0);
        f(i, left) += f(i, j);
        f(i, j) = 0;
      }
      filter_pos[i] = 0;
    }
    if (filter_pos[i] + filter_size > src_w) {
      const int shift = filter_pos[i] + std::min(filter_size - src_w, 0);
      int64_t acc = 0;
      for (int j = filter_size - 1; j >= 0; --j) {
        if (filter_pos[i] + j >= src_w) {
          acc += f(i, j);
          f(i, j) = 0;
        }
      }
      for (int j = filter_size - 1; j >= 0; --j) {
        f(i, j) = j < shift ? 0 : f(i, j - shift);
      }
      filter_pos[i] -= shift;
      f(i, src_w - 1 - filter_pos[i]) += acc;
    }
  }

  // Normalise to `one` with the rounding error carried to the next tap.
  YuvToRgb::Filter out;
  out.size = filter_size;
  out.pos.assign(filter_pos.begin(), filter_pos.begin() + dst_w);
  out.coef.assign(static_cast<size_t>(dst_w) * filter_size, 0);
  for (int i = 0; i < dst_w; ++i) {
    int64_t sum = 0;
    for (int j = 0; j < filter_size; ++j) sum += f(i, j);
    sum = (sum + one / 2) / one;
    if (sum == 0) sum = 1;
    int64_t error = 0;
    for (int j = 0; j < filter_size; ++j) {
      const int64_t v = f(i, j) + error;
      const int int_v = static_cast<int>(RoundedDiv(v, sum));
      out.coef[static_cast<size_t>(i) * filter_size + j] = static_cast<int16_t>(int_v);
      error = v - int64_t{int_v} * sum;
    }
  }
  return out;
}

// libswscale's roundToInt16() followed by the int16_t cast.
int RoundToInt16(int64_t f) {
  const int r = static_cast<int>((f + (1 << 15)) >> 16);
  if (r < -0x7FFF) return -0x8000;
  if (r > 0x7FFF) return 0x7FFF;
  return r;
}

// AVX2 and baseline clones of the templates below, picked at run time. GCC clones templates;
// clang 14 (the fuzz build's compiler, scripts/fuzz.sh) refuses target_clones on them, so
// there they are built for the baseline only: the same bytes, only slower.
#if defined(__clang__)
#define FP_TEMPLATE_CLONES
#else
#define FP_TEMPLATE_CLONES __attribute__((target_clones("avx2", "default")))
#endif

// hScale8To15: dst[i] = min(sum(src * coef) >> 7, 32767).
__attribute__((target_clones("avx2", "default"))) void HScaleRow(const uint8_t* src, int16_t* dst,
                                                                 int dst_w, const int32_t* pos,
                                                                 const int16_t* coef, int size) {
  for (int i = 0; i < dst_w; ++i) {
    const uint8_t* s = src + pos[i];
    const int16_t* c = coef + static_cast<size_t>(i) * size;
    int val = 0;
    for (int j = 0; j < size; ++j) val += s[j] * c[j];
    dst[i] = static_cast<int16_t>(std::min(val >> 7, (1 << 15) - 1));
  }
}

// hScale8To15 over a run where the filter repeats every two outputs, one source sample on
// (2x chroma upsampling away from the borders): out[2k + p] = filter p at src[pos_p + k].
template <int kTaps>
FP_TEMPLATE_CLONES void HScalePairs(const uint8_t* src0, const uint8_t* src1, const int16_t* c0,
                                    const int16_t* c1, int16_t* dst, int pairs) {
  for (int k = 0; k < pairs; ++k) {
    int a = 0, b = 0;
    for (int j = 0; j < kTaps; ++j) {
      a += src0[k + j] * c0[j];
      b += src1[k + j] * c1[j];
    }
    dst[2 * k] = static_cast<int16_t>(std::min(a >> 7, (1 << 15) - 1));
    dst[2 * k + 1] = static_cast<int16_t>(std::min(b >> 7, (1 << 15) - 1));
  }
}

__attribute__((target_clones("avx2", "default"))) void WidenRow(const uint8_t* src, int16_t* dst,
                                                                int w) {
  for (int i = 0; i < w; ++i) dst[i] = static_cast<int16_t>(src[i] << 7);
}

struct RowCoeffs {
  int y_offset, y_coeff, v2r, v2g, u2g, u2b;
};

// The vertical chroma filter of yuv2rgb_full_X_c and yuv2rgb_write_full for one output row.
template <int kTaps>
FP_TEMPLATE_CLONES void VerticalRgbRow(const uint8_t* luma, const int16_t* const* u_rows,
                                       const int16_t* const* v_rows, const int16_t* vcoef, int taps,
                                       const RowCoeffs& k, uint8_t* dst, int w) {
  const int n = kTaps > 0 ? kTaps : taps;
  int16_t c[8] = {};
  const int16_t* ur[8] = {};
  const int16_t* vr[8] = {};
  for (int j = 0; j < n; ++j) {
    c[j] = vcoef[j];
    ur[j] = u_rows[j];
    vr[j] = v_rows[j];
  }
  for (int x = 0; x < w; ++x) {
    int u = (1 << 9) - (128 << 19);
    int v = (1 << 9) - (128 << 19);
    for (int j = 0; j < n; ++j) {
      u += ur[j][x] * c[j];
      v += vr[j][x] * c[j];
    }
    u >>= 10;
    v >>= 10;
    int y = luma[x] << 9;
    y -= k.y_offset;
    y *= k.y_coeff;
    y += 1 << 21;
    // swscale adds in unsigned 32-bit arithmetic: wrap exactly as it does.
    int r = static_cast<int>(static_cast<unsigned>(y) +
                             static_cast<unsigned>(v) * static_cast<unsigned>(k.v2r));
    int g = static_cast<int>(static_cast<unsigned>(y) +
                             static_cast<unsigned>(v) * static_cast<unsigned>(k.v2g) +
                             static_cast<unsigned>(u) * static_cast<unsigned>(k.u2g));
    int b = static_cast<int>(static_cast<unsigned>(y) +
                             static_cast<unsigned>(u) * static_cast<unsigned>(k.u2b));
    r = std::clamp(r, 0, (1 << 30) - 1);
    g = std::clamp(g, 0, (1 << 30) - 1);
    b = std::clamp(b, 0, (1 << 30) - 1);
    dst[3 * x + 0] = static_cast<uint8_t>(r >> 22);
    dst[3 * x + 1] = static_cast<uint8_t>(g >> 22);
    dst[3 * x + 2] = static_cast<uint8_t>(b >> 22);
  }
}

}  // namespace

std::unique_ptr<YuvToRgb> YuvToRgb::Create(const YuvToRgbSpec& spec) {
#if !defined(__x86_64__)
  return nullptr;  // the filter alignment below is x86's
#endif
  if (spec.width <= 0 || spec.height <= 0) return nullptr;
  if (spec.log2_chroma_w < 0 || spec.log2_chroma_w > 1 || spec.log2_chroma_h < 0 ||
      spec.log2_chroma_h > 1) {
    return nullptr;
  }
  std::unique_ptr<YuvToRgb> c(new YuvToRgb());
  c->spec_ = spec;
  const int w = spec.width, h = spec.height;
  c->chroma_w_ = (w + (1 << spec.log2_chroma_w) - 1) >> spec.log2_chroma_w;
  c->chroma_h_ = (h + (1 << spec.log2_chroma_h) - 1) >> spec.log2_chroma_h;
  const int x_inc = static_cast<int>(((int64_t{c->chroma_w_} << 16) + (w >> 1)) / w);
  const int y_inc = static_cast<int>(((int64_t{c->chroma_h_} << 16) + (h >> 1)) / h);
  if (x_inc < 10 || y_inc < 10) return nullptr;
  // x86: horizontal filters align to 4 taps, vertical ones to 2.
  c->h_ = InitFilter(x_inc, c->chroma_w_, w, 4, 1 << 14, LocalPos(spec.log2_chroma_w), LocalPos(0));
  c->v_ = InitFilter(y_inc, c->chroma_h_, h, 2, 1 << 12, LocalPos(spec.log2_chroma_h), LocalPos(0));
  // Two vertical taps take swscale's yuv2packed1 shortcut, which rounds differently; filters
  // wider than the plane only occur for images a few pixels across.
  if (c->v_.size == 2 || c->v_.size > 8 || c->v_.size > c->chroma_h_ || c->h_.size > c->chroma_w_) {
    return nullptr;
  }
  c->h_identity_ = spec.log2_chroma_w == 0;
  if (!c->h_identity_ && c->h_.size == 4) {
    // The longest stretch where output x uses output x-2's taps one source sample on.
    const Filter& f = c->h_;
    auto repeats = [&](int x) {
      return f.pos[x] == f.pos[x - 2] + 1 &&
             std::equal(f.coef.begin() + x * 4, f.coef.begin() + x * 4 + 4,
                        f.coef.begin() + (x - 2) * 4);
    };
    int best_begin = 0, best_end = 0;
    for (int x = 2; x < w;) {
      if (!repeats(x)) {
        ++x;
        continue;
      }
      int end = x;
      while (end < w && repeats(end)) ++end;
      if (end - (x - 2) > best_end - best_begin) {
        best_begin = x - 2;
        best_end = end;
      }
      x = end;
    }
    c->run_begin_ = best_begin;
    c->run_pairs_ = (best_end - best_begin) / 2;
  }

  int64_t crv = spec.inv_table[0];
  int64_t cbu = spec.inv_table[1];
  int64_t cgu = -spec.inv_table[2];
  int64_t cgv = -spec.inv_table[3];
  int64_t cy = 1 << 16;
  int64_t oy = 0;
  if (!spec.full_range) {
    cy = (cy * 255) / 219;
    oy = 16 << 16;
  } else {
    crv = (crv * 224) / 255;
    cbu = (cbu * 224) / 255;
    cgu = (cgu * 224) / 255;
    cgv = (cgv * 224) / 255;
  }
  // contrast = saturation = 1 << 16, brightness = 0.
  constexpr int64_t kContrast = 1 << 16, kSaturation = 1 << 16;
  cy = (cy * kContrast) >> 16;
  crv = (crv * kContrast * kSaturation) >> 32;
  cbu = (cbu * kContrast * kSaturation) >> 32;
  cgu = (cgu * kContrast * kSaturation) >> 32;
  cgv = (cgv * kContrast * kSaturation) >> 32;
  c->y_coeff_ = RoundToInt16(cy * (1 << 13));
  c->y_offset_ = RoundToInt16(oy * (1 << 9));
  c->v2r_ = RoundToInt16(crv * (1 << 13));
  c->v2g_ = RoundToInt16(cgv * (1 << 13));
  c->u2g_ = RoundToInt16(cgu * (1 << 13));
  c->u2b_ = RoundToInt16(cbu * (1 << 13));

  c->hu_.resize(static_cast<size_t>(c->chroma_h_) * w);
  c->hv_.resize(static_cast<size_t>(c->chroma_h_) * w);
  return c;
}

void YuvToRgb::Convert(const uint8_t* const planes[3], const int strides[3], uint8_t* dst,
                       ptrdiff_t dst_stride) {
  const int w = spec_.width, h = spec_.height;
  for (int r = 0; r < chroma_h_; ++r) {
    const uint8_t* su = planes[1] + static_cast<ptrdiff_t>(r) * strides[1];
    const uint8_t* sv = planes[2] + static_cast<ptrdiff_t>(r) * strides[2];
    int16_t* du = hu_.data() + static_cast<size_t>(r) * w;
    int16_t* dv = hv_.data() + static_cast<size_t>(r) * w;
    if (h_identity_) {
      WidenRow(su, du, w);
      WidenRow(sv, dv, w);
    } else if (run_pairs_ > 0) {
      const int a = run_begin_, b = run_begin_ + 2 * run_pairs_;
      const int16_t* c0 = h_.coef.data() + a * 4;
      const int16_t* c1 = c0 + 4;
      for (auto [s, d] : {std::pair{su, du}, std::pair{sv, dv}}) {
        HScaleRow(s, d, a, h_.pos.data(), h_.coef.data(), 4);
        HScalePairs<4>(s + h_.pos[a], s + h_.pos[a + 1], c0, c1, d + a, run_pairs_);
        HScaleRow(s, d + b, w - b, h_.pos.data() + b, h_.coef.data() + b * 4, 4);
      }
    } else {
      HScaleRow(su, du, w, h_.pos.data(), h_.coef.data(), h_.size);
      HScaleRow(sv, dv, w, h_.pos.data(), h_.coef.data(), h_.size);
    }
  }
  const RowCoeffs k{y_offset_, y_coeff_, v2r_, v2g_, u2g_, u2b_};
  const int taps = v_.size;
  const int16_t* u_rows[8];
  const int16_t* v_rows[8];
  for (int y = 0; y < h; ++y) {
    const int first = v_.pos[y];
    for (int j = 0; j < taps; ++j) {
      u_rows[j] = hu_.data() + static_cast<size_t>(first + j) * w;
      v_rows[j] = hv_.data() + static_cast<size_t>(first + j) * w;
    }
    const uint8_t* luma = planes[0] + static_cast<ptrdiff_t>(y) * strides[0];
    const int16_t* vc = v_.coef.data() + static_cast<size_t>(y) * taps;
    uint8_t* out = dst + static_cast<ptrdiff_t>(y) * dst_stride;
    switch (taps) {
      case 1:
        VerticalRgbRow<1>(luma, u_rows, v_rows, vc, taps, k, out, w);
        break;
      case 4:
        VerticalRgbRow<4>(luma, u_rows, v_rows, vc, taps, k, out, w);
        break;
      default:
        VerticalRgbRow<0>(luma, u_rows, v_rows, vc, taps, k, out, w);
        break;
    }
  }
}

}  // namespace framepair
