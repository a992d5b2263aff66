#include "dedup/dedup.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FRAMEPAIR_DEDUP_AVX2 1
#endif

namespace framepair {
namespace {

// SAD of a bw x bh tile, for what the SIMD paths leave over.
int TileSad(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride, int bw, int bh) {
  int sad = 0;
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) sad += std::abs(int{a[x]} - int{b[x]});
    a += a_stride;
    b += b_stride;
  }
  return sad;
}

// Thresholds are compared as SAD * 64 > threshold * pixels in 32 bits; no block of at most 64
// pixels has a SAD above 64 * 255, so clamping keeps every decision and rules out overflow.
int ClampThreshold(int t) { return std::clamp(t, -1, 64 * 255); }

#if defined(FRAMEPAIR_DEDUP_AVX2)
// CellRowSad's SIMD part with AVX2 (32 columns = 8 cells at a time), for CPUs that have it;
// the same sums as the SSE2 path. Returns the first column it did not handle.
__attribute__((target("avx2"))) int CellRowSadAvx2(const uint8_t* a, int a_stride, const uint8_t* b,
                                                   int b_stride, int width, int rows,
                                                   int32_t* out) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i first_of_quarter = _mm256_set_epi32(0, -1, 0, -1, 0, -1, 0, -1);
  int x = 0;
  for (; x + 32 <= width; x += 32) {
    __m256i all = zero;
    __m256i first = zero;
    for (int y = 0; y < rows; ++y) {
      const __m256i ra = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + y * a_stride + x));
      const __m256i rb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + y * b_stride + x));
      const __m256i diff = _mm256_or_si256(_mm256_subs_epu8(ra, rb), _mm256_subs_epu8(rb, ra));
      all = _mm256_add_epi32(all, _mm256_sad_epu8(diff, zero));
      first =
          _mm256_add_epi32(first, _mm256_sad_epu8(_mm256_and_si256(diff, first_of_quarter), zero));
    }
    // Per 128-bit lane as in the SSE2 path; the unpacks keep lanes apart, so cells stay in
    // order: [s0 s1 s2 s3 | s4 s5 s6 s7].
    const __m256i second = _mm256_sub_epi32(all, first);
    const __m256i lo = _mm256_unpacklo_epi32(first, second);
    const __m256i hi = _mm256_unpackhi_epi32(first, second);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + x / 4), _mm256_unpacklo_epi64(lo, hi));
  }
  return x;
}

const bool kHasAvx2 = __builtin_cpu_supports("avx2");
#endif

}  // namespace

int BlockSad8x8(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride) {
#if defined(__SSE2__)
  // Two 8-byte rows per register; _mm_sad_epu8 leaves one partial sum per 64-bit half.
  __m128i acc = _mm_setzero_si128();
  for (int y = 0; y < 8; y += 2) {
    const __m128i ra = _mm_unpacklo_epi64(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + y * a_stride)),
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + (y + 1) * a_stride)));
    const __m128i rb = _mm_unpacklo_epi64(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + y * b_stride)),
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + (y + 1) * b_stride)));
    acc = _mm_add_epi64(acc, _mm_sad_epu8(ra, rb));
  }
  return _mm_cvtsi128_si32(acc) + _mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
#else
  return TileSad(a, a_stride, b, b_stride, 8, 8);
#endif
}

void CellRowSad(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride, int width, int rows,
                int32_t* out) {
  int x = 0;
#if defined(FRAMEPAIR_DEDUP_AVX2)
  if (kHasAvx2) x = CellRowSadAvx2(a, a_stride, b, b_stride, width, rows, out);
#endif
#if defined(__SSE2__)
  // 16 columns = 4 cells at a time. _mm_sad_epu8 sums 8-byte halves; the same sum over the
  // absolute differences with bytes 4-7 and 12-15 masked off gives the first cell of each
  // half, and the difference the second.
  const __m128i zero = _mm_setzero_si128();
  const __m128i first_of_half = _mm_set_epi32(0, -1, 0, -1);
  for (; x + 16 <= width; x += 16) {
    __m128i all = zero;
    __m128i first = zero;
    for (int y = 0; y < rows; ++y) {
      const __m128i ra = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + y * a_stride + x));
      const __m128i rb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + y * b_stride + x));
      const __m128i diff = _mm_or_si128(_mm_subs_epu8(ra, rb), _mm_subs_epu8(rb, ra));
      all = _mm_add_epi32(all, _mm_sad_epu8(diff, zero));
      first = _mm_add_epi32(first, _mm_sad_epu8(_mm_and_si128(diff, first_of_half), zero));
    }
    // 32-bit lanes: all = [s01, 0, s23, 0], first = [s0, 0, s2, 0].
    const __m128i second = _mm_sub_epi32(all, first);
    const __m128i lo = _mm_unpacklo_epi32(first, second);  // [s0, s1, 0, 0]
    const __m128i hi = _mm_unpackhi_epi32(first, second);  // [s2, s3, 0, 0]
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x / 4), _mm_unpacklo_epi64(lo, hi));
  }
#endif
  for (; x < width; x += 4) {
    out[x / 4] = TileSad(a + x, a_stride, b + x, b_stride, std::min(4, width - x), rows);
  }
}

DuplicateDetector::DuplicateDetector(const DedupOptions& options, std::vector<PixelRect> ignore)
    : options_(options), ignore_(std::move(ignore)) {
  options_.hi = ClampThreshold(options_.hi);
  options_.lo = ClampThreshold(options_.lo);
}

DupKind DuplicateDetector::Classify(const PlaneView& luma, uint64_t content_hash,
                                    std::span<const uint8_t> thumb) {
  YuvView frame;
  frame.planes[0] = luma;
  frame.count = 1;
  return Classify(frame, content_hash, thumb);
}

DupKind DuplicateDetector::Classify(const YuvView& frame, uint64_t content_hash,
                                    std::span<const uint8_t> thumb) {
  if (have_kept_ && SameLayout(frame)) {
    if (content_hash == kept_hash_) {
      bool equal = true;
      for (int k = 0; k < count_ && equal; ++k) {
        const PlaneView& v = frame.planes[k];
        const Plane& p = planes_[k];
        for (int y = 0; y < p.height && equal; ++y) {
          equal = std::memcmp(v.data + static_cast<size_t>(y) * v.stride,
                              p.kept.data() + static_cast<size_t>(y) * p.width, p.width) == 0;
        }
      }
      if (equal) return DupKind::kExact;
    }
    if (!IsDistinct(frame) && !ColourDiffers(thumb)) return DupKind::kNoise;
  }
  Keep(frame, content_hash, thumb);
  return DupKind::kKept;
}

bool DuplicateDetector::SameLayout(const YuvView& frame) const {
  if (frame.count != count_ || frame.log2_chroma_w != log2_chroma_w_ ||
      frame.log2_chroma_h != log2_chroma_h_) {
    return false;
  }
  for (int k = 0; k < count_; ++k) {
    const PlaneView& v = frame.planes[k];
    if (v.data == nullptr || v.width != planes_[k].width || v.height != planes_[k].height) {
      return false;
    }
  }
  return true;
}

bool DuplicateDetector::IsDistinct(const YuvView& frame) {
  for (int k = 0; k < count_; ++k) {
    if (PlaneDiffers(frame.planes[k], planes_[k])) return true;
  }
  return false;
}

bool DuplicateDetector::PlaneDiffers(const PlaneView& cur, const Plane& p) {
  const int cols = p.cols;
  const size_t row_cells = static_cast<size_t>(cols) + 1;
  for (auto& row : cell_sad_) row.assign(row_cells, 0);
  int32_t* sad0 = cell_sad_[0].data();
  int32_t* sad1 = cell_sad_[1].data();
  const bool masked = !ignore_.empty();
  auto cell_row = [&](int j, int32_t* out) {
    const int y = 4 * j;
    CellRowSad(cur.data + static_cast<size_t>(y) * cur.stride, cur.stride,
               p.kept.data() + static_cast<size_t>(y) * p.width, p.width, p.width,
               std::min(4, p.height - y), out);
    if (masked) {
      const uint8_t* size = p.cell_size.data() + j * row_cells;
      for (int i = 0; i < cols; ++i) out[i] = size[i] == 0 ? 0 : out[i];
    }
  };
  // Block (i, j) is cells i..i+1 x j..j+1: the 8x8 block at (4i, 4j), clipped to the plane.
  // The last column and row of cells only start blocks when they are the only one (their
  // blocks would lie inside the previous ones); the padding cell of each row is empty.
  const int block_cols = std::max(1, cols - 1);
  const int block_rows = std::max(1, p.rows - 1);
  const int32_t hi = options_.hi;
  const int32_t lo = options_.lo;
  int over_lo = 0;
  cell_row(0, sad0);
  for (int j = 0; j < block_rows; ++j) {
    const bool next = j + 1 < p.rows;
    if (next) {
      cell_row(j + 1, sad1);
    } else {
      std::fill(sad1, sad1 + row_cells, 0);
    }
    const uint8_t* n0 = p.cell_size.data() + j * row_cells;
    const uint8_t* n1 = next ? n0 + row_cells : nullptr;
    int over_hi = 0;
    int row_over_lo = 0;
    int i = 0;
    if (n1 != nullptr) {
      // Blocks of four whole cells (all but the edges and ignored areas) have 64 pixels, so
      // the thresholds apply unscaled: four blocks per step.
      const int whole = std::min(p.full_cells[j], p.full_cells[j + 1]) - 1;
#if defined(__SSE2__)
      const __m128i hi4 = _mm_set1_epi32(hi);
      const __m128i lo4 = _mm_set1_epi32(lo);
      __m128i hit_hi = _mm_setzero_si128();
      __m128i hits_lo = _mm_setzero_si128();
      for (; i + 4 <= whole; i += 4) {
        auto load = [](const int32_t* cells) {
          return _mm_loadu_si128(reinterpret_cast<const __m128i*>(cells));
        };
        const __m128i sad = _mm_add_epi32(_mm_add_epi32(load(sad0 + i), load(sad0 + i + 1)),
                                          _mm_add_epi32(load(sad1 + i), load(sad1 + i + 1)));
        hit_hi = _mm_or_si128(hit_hi, _mm_cmpgt_epi32(sad, hi4));
        hits_lo = _mm_sub_epi32(hits_lo, _mm_cmpgt_epi32(sad, lo4));
      }
      over_hi = _mm_movemask_epi8(hit_hi);
      alignas(16) int32_t lanes[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(lanes), hits_lo);
      row_over_lo = lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
      for (; i < whole; ++i) {
        const int32_t sad = sad0[i] + sad0[i + 1] + sad1[i] + sad1[i + 1];
        over_hi |= sad > hi;
        row_over_lo += sad > lo;
      }
      for (; i < block_cols; ++i) {
        const int32_t sad = sad0[i] + sad0[i + 1] + sad1[i] + sad1[i + 1];
        const int32_t n = n0[i] + n0[i + 1] + n1[i] + n1[i + 1];
        over_hi |= sad * 64 > hi * n;
        row_over_lo += sad * 64 > lo * n;
      }
    } else {
      for (; i < block_cols; ++i) {
        const int32_t sad = sad0[i] + sad0[i + 1];
        const int32_t n = n0[i] + n0[i + 1];
        over_hi |= sad * 64 > hi * n;
        row_over_lo += sad * 64 > lo * n;
      }
    }
    blocks_compared_ += block_cols;
    if (over_hi != 0) return true;
    over_lo += row_over_lo;
    if (over_lo > p.max_over_lo) return true;
    std::swap(sad0, sad1);
  }
  return false;
}

bool DuplicateDetector::ColourDiffers(std::span<const uint8_t> thumb) const {
  if (options_.colour_hi <= 0 || thumb.empty() || thumb.size() != kept_thumb_.size()) {
    return false;
  }
  for (size_t k = 0; k < thumb.size(); ++k) {
    if (std::abs(int{thumb[k]} - int{kept_thumb_[k]}) > options_.colour_hi) return true;
  }
  return false;
}

void DuplicateDetector::Keep(const YuvView& frame, uint64_t content_hash,
                             std::span<const uint8_t> thumb) {
  kept_thumb_.assign(thumb.begin(), thumb.end());
  have_kept_ = frame.count >= 1 && frame.count <= 3;
  for (int k = 0; k < frame.count && have_kept_; ++k) {
    const PlaneView& v = frame.planes[k];
    have_kept_ = v.data != nullptr && v.width > 0 && v.height > 0;
  }
  if (!have_kept_) return;
  const bool relayout = !SameLayout(frame);
  count_ = frame.count;
  log2_chroma_w_ = frame.log2_chroma_w;
  log2_chroma_h_ = frame.log2_chroma_h;
  kept_hash_ = content_hash;
  for (int k = 0; k < count_; ++k) {
    const PlaneView& v = frame.planes[k];
    Plane& p = planes_[k];
    p.width = v.width;
    p.height = v.height;
    p.kept.resize(static_cast<size_t>(p.width) * p.height);
    for (int y = 0; y < p.height; ++y) {
      std::memcpy(p.kept.data() + static_cast<size_t>(y) * p.width,
                  v.data + static_cast<size_t>(y) * v.stride, p.width);
    }
    if (!relayout) continue;
    // Pixels per cell, zero where a cell overlaps an ignored region (scaled to this plane,
    // rounded outwards so that it covers every chroma sample the region's luma touches).
    p.cols = (p.width + 3) / 4;
    p.rows = (p.height + 3) / 4;
    const size_t row_cells = static_cast<size_t>(p.cols) + 1;
    p.cell_size.assign(row_cells * p.rows, 0);
    int64_t visible = 0;
    for (int j = 0; j < p.rows; ++j) {
      for (int i = 0; i < p.cols; ++i) {
        const int n = std::min(4, p.width - 4 * i) * std::min(4, p.height - 4 * j);
        p.cell_size[j * row_cells + i] = static_cast<uint8_t>(n);
      }
    }
    const int sx = k == 0 ? 0 : log2_chroma_w_;
    const int sy = k == 0 ? 0 : log2_chroma_h_;
    for (const PixelRect& r : ignore_) {
      if (r.width <= 0 || r.height <= 0) continue;
      const int x0 = std::max(0, r.x >> sx);
      const int y0 = std::max(0, r.y >> sy);
      const int x1 = std::min(p.width, (r.x + r.width + (1 << sx) - 1) >> sx);
      const int y1 = std::min(p.height, (r.y + r.height + (1 << sy) - 1) >> sy);
      for (int j = y0 / 4; j < p.rows && 4 * j < y1; ++j) {
        for (int i = x0 / 4; i < p.cols && 4 * i < x1; ++i) p.cell_size[j * row_cells + i] = 0;
      }
    }
    for (uint8_t n : p.cell_size) visible += n;
    p.full_cells.assign(p.rows, 0);
    for (int j = 0; j < p.rows; ++j) {
      const uint8_t* size = p.cell_size.data() + j * row_cells;
      while (p.full_cells[j] < p.cols && size[p.full_cells[j]] == 16) ++p.full_cells[j];
    }
    // mpdecimate's t, computed as it does (int * float, truncated). With ignored regions it
    // shrinks with the visible share, so the count rule keeps meaning a share of the picture.
    const float t =
        static_cast<float>((p.width / 16) * (p.height / 16)) * static_cast<float>(options_.frac);
    const int64_t total = int64_t{p.width} * p.height;
    p.max_over_lo = visible == total
                        ? static_cast<int>(t)
                        : static_cast<int>(static_cast<double>(t) * static_cast<double>(visible) /
                                           static_cast<double>(total));
  }
}

}  // namespace framepair
