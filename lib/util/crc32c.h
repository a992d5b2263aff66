// CRC-32C (Castagnoli), as used by TFRecord framing. Uses the SSE4.2 crc32 instruction when
// the CPU has it (checked once at run time) and a table-driven fallback otherwise.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace framepair {

// Extends `crc` (the value returned by a previous call, or 0 to start) over data[0..n).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }
inline uint32_t Crc32c(std::string_view s) { return Crc32c(s.data(), s.size()); }

// TFRecord's masked CRC: ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32).
inline uint32_t MaskCrc32c(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

// True when the hardware path is in use (exposed for tests and benchmarks).
bool Crc32cUsesHardware();

// Both implementations, so tests can cross-check them. ExtendHardware may only be called when
// HardwareAvailable() is true.
namespace crc32c_internal {
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();
}  // namespace crc32c_internal

}  // namespace framepair
