#include "dedup/dedup.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace framepair {
namespace {

// SAD of a bw x bh tile (bw, bh <= 8), for the partial tiles along the edges.
int TileSad(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride, int bw, int bh) {
  int sad = 0;
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) sad += std::abs(int{a[x]} - int{b[x]});
    a += a_stride;
    b += b_stride;
  }
  return sad;
}

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

DuplicateDetector::DuplicateDetector(const DedupOptions& options) : options_(options) {}

DupKind DuplicateDetector::Classify(const PlaneView& luma, uint64_t content_hash,
                                    std::span<const uint8_t> thumb) {
  const bool comparable =
      have_kept_ && luma.width == width_ && luma.height == height_ && luma.data != nullptr;
  if (comparable) {
    if (content_hash == kept_hash_) {
      bool equal = true;
      for (int y = 0; y < height_ && equal; ++y) {
        equal = std::memcmp(luma.data + static_cast<size_t>(y) * luma.stride,
                            kept_.data() + static_cast<size_t>(y) * width_, width_) == 0;
      }
      if (equal) return DupKind::kExact;
    }
    if (!IsDistinct(luma) && !ColourDiffers(thumb)) return DupKind::kNoise;
  }
  Keep(luma, content_hash, thumb);
  return DupKind::kKept;
}

bool DuplicateDetector::IsDistinct(const PlaneView& luma) {
  const int cols = (width_ + 7) / 8;
  const int rows = (height_ + 7) / 8;
  // "More than frac of the blocks": with an integer count, count > floor(frac * total).
  const int64_t max_over_lo =
      static_cast<int64_t>(options_.frac * static_cast<double>(cols) * rows);
  const int64_t hi = options_.hi;
  const int64_t lo = options_.lo;
  int64_t over_lo = 0;
  for (int by = 0; by < rows; ++by) {
    const int bh = std::min(8, height_ - by * 8);
    const uint8_t* a = luma.data + static_cast<size_t>(by) * 8 * luma.stride;
    const uint8_t* b = kept_.data() + static_cast<size_t>(by) * 8 * width_;
    for (int bx = 0; bx < cols; ++bx) {
      const int bw = std::min(8, width_ - bx * 8);
      const int64_t sad = bw == 8 && bh == 8
                              ? BlockSad8x8(a + bx * 8, luma.stride, b + bx * 8, width_)
                              : TileSad(a + bx * 8, luma.stride, b + bx * 8, width_, bw, bh);
      ++blocks_compared_;
      // Thresholds are per 64 pixels; a partial tile of n pixels gets them scaled by n/64.
      const int64_t n = int64_t{bw} * bh;
      if (sad * 64 > hi * n) return true;
      if (sad * 64 > lo * n && ++over_lo > max_over_lo) return true;
    }
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

void DuplicateDetector::Keep(const PlaneView& luma, uint64_t content_hash,
                             std::span<const uint8_t> thumb) {
  kept_thumb_.assign(thumb.begin(), thumb.end());
  have_kept_ = luma.data != nullptr && luma.width > 0 && luma.height > 0;
  if (!have_kept_) return;
  width_ = luma.width;
  height_ = luma.height;
  kept_.resize(static_cast<size_t>(width_) * height_);
  for (int y = 0; y < height_; ++y) {
    std::memcpy(kept_.data() + static_cast<size_t>(y) * width_,
                luma.data + static_cast<size_t>(y) * luma.stride, width_);
  }
  kept_hash_ = content_hash;
}

}  // namespace framepair
