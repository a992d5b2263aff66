#include "util/sad.h"

#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FRAMEPAIR_SAD_X86 1
#endif

namespace framepair {
namespace {

uint64_t SadScalar(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t k = 0; k < n; ++k) sum += static_cast<uint64_t>(std::abs(a[k] - b[k]));
  return sum;
}

#ifdef FRAMEPAIR_SAD_X86
uint64_t SadSse2(const uint8_t* a, const uint8_t* b, size_t n) {
  // Two accumulators so consecutive psadbw/paddq do not serialise on one register.
  __m128i acc0 = _mm_setzero_si128();
  __m128i acc1 = _mm_setzero_si128();
  size_t k = 0;
  for (; k + 32 <= n; k += 32) {
    const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k));
    const __m128i a1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k + 16));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k + 16));
    acc0 = _mm_add_epi64(acc0, _mm_sad_epu8(a0, b0));
    acc1 = _mm_add_epi64(acc1, _mm_sad_epu8(a1, b1));
  }
  if (k + 16 <= n) {
    const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k));
    acc0 = _mm_add_epi64(acc0, _mm_sad_epu8(a0, b0));
    k += 16;
  }
  const __m128i acc = _mm_add_epi64(acc0, acc1);
  uint64_t sum = static_cast<uint64_t>(_mm_cvtsi128_si64(acc)) +
                 static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)));
  return sum + SadScalar(a + k, b + k, n - k);
}

__attribute__((target("avx2"))) uint64_t SadAvx2(const uint8_t* a, const uint8_t* b, size_t n) {
  __m256i acc0 = _mm256_setzero_si256();
  __m256i acc1 = _mm256_setzero_si256();
  size_t k = 0;
  for (; k + 64 <= n; k += 64) {
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k));
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k));
    const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k + 32));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k + 32));
    acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(a0, b0));
    acc1 = _mm256_add_epi64(acc1, _mm256_sad_epu8(a1, b1));
  }
  if (k + 32 <= n) {
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k));
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k));
    acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(a0, b0));
    k += 32;
  }
  const __m256i acc = _mm256_add_epi64(acc0, acc1);
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  if (k + 16 <= n) {
    const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k));
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k));
    s = _mm_add_epi64(s, _mm_sad_epu8(a0, b0));
    k += 16;
  }
  uint64_t sum = static_cast<uint64_t>(_mm_cvtsi128_si64(s)) +
                 static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s)));
  return sum + SadScalar(a + k, b + k, n - k);
}
#endif

using SadFn = uint64_t (*)(const uint8_t*, const uint8_t*, size_t);

SadFn ResolveSad() {
#ifdef FRAMEPAIR_SAD_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return SadAvx2;
  return SadSse2;
#else
  return SadScalar;
#endif
}

uint64_t SumAbsDiffImpl(const uint8_t* a, const uint8_t* b, size_t n) {
  static const SadFn fn = ResolveSad();
  return fn(a, b, n);
}

}  // namespace

uint64_t SumAbsDiff(const uint8_t* a, const uint8_t* b, size_t n) {
  return SumAbsDiffImpl(a, b, n);
}

}  // namespace framepair
