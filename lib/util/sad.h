// Sum of absolute differences of two byte arrays: the distance that alignment, duplicate
// detection and scene scoring are built on. SIMD (AVX2 or SSE2, chosen at run time).
#pragma once

#include <cstddef>
#include <cstdint>

namespace framepair {

uint64_t SumAbsDiff(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace framepair
