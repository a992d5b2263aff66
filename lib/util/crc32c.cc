#include "util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace framepair {
namespace crc32c_internal {
namespace {

constexpr uint32_t kPolyReflected = 0x82f63b78u;

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? kPolyReflected : 0);
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__)
namespace {

// The crc32 instruction has a latency of 3 cycles but issues every cycle, so one dependent
// chain uses a third of it. Long inputs run three independent chains over consecutive
// kStride-byte lanes and join them with a table that advances a CRC register over kStride zero
// bytes (the register update is linear over GF(2)): 3x the speed of a single chain.
constexpr size_t kStride = 2048;

// Advances a raw (not inverted) CRC register over `zeros` zero bytes, one bit at a time: only
// used to build the tables.
uint32_t AdvanceOverZeros(uint32_t reg, size_t zeros) {
  for (size_t i = 0; i < zeros * 8; ++i) reg = (reg >> 1) ^ ((reg & 1) ? kPolyReflected : 0);
  return reg;
}

struct ShiftTables {
  uint32_t byte[4][256];
  ShiftTables() {
    uint32_t column[32];
    for (int bit = 0; bit < 32; ++bit) column[bit] = AdvanceOverZeros(1u << bit, kStride);
    for (int b = 0; b < 4; ++b) {
      for (uint32_t v = 0; v < 256; ++v) {
        uint32_t r = 0;
        for (int k = 0; k < 8; ++k) {
          if (v & (1u << k)) r ^= column[8 * b + k];
        }
        byte[b][v] = r;
      }
    }
  }
  uint32_t Shift(uint32_t reg) const {
    return byte[0][reg & 0xff] ^ byte[1][(reg >> 8) & 0xff] ^ byte[2][(reg >> 16) & 0xff] ^
           byte[3][reg >> 24];
  }
};

const ShiftTables& Shifts() {
  static const ShiftTables tables;
  return tables;
}

}  // namespace

// The target attribute lets this one function use SSE4.2 while the rest of the binary stays
// baseline x86-64; callers must check HardwareAvailable() first.
__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const void* data,
                                                          size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t c = ~crc;
  auto load = [](const uint8_t* q) {
    uint64_t word;
    std::memcpy(&word, q, 8);  // unaligned load; x86 does not care
    return word;
  };
  if (n >= 3 * kStride) {
    const ShiftTables& shifts = Shifts();
    for (; n >= 3 * kStride; n -= 3 * kStride, p += 3 * kStride) {
      uint64_t c1 = 0, c2 = 0;
      for (size_t i = 0; i < kStride; i += 8) {
        c = _mm_crc32_u64(c, load(p + i));
        c1 = _mm_crc32_u64(c1, load(p + kStride + i));
        c2 = _mm_crc32_u64(c2, load(p + 2 * kStride + i));
      }
      c = shifts.Shift(shifts.Shift(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1)) ^
          static_cast<uint32_t>(c2);
    }
  }
  for (; n >= 8; n -= 8, p += 8) c = _mm_crc32_u64(c, load(p));
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}

bool HardwareAvailable() {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
}
#else
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
  return ExtendPortable(crc, data, n);
}
bool HardwareAvailable() { return false; }
#endif

}  // namespace crc32c_internal

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  return crc32c_internal::HardwareAvailable() ? crc32c_internal::ExtendHardware(crc, data, n)
                                              : crc32c_internal::ExtendPortable(crc, data, n);
}

bool Crc32cUsesHardware() { return crc32c_internal::HardwareAvailable(); }

}  // namespace framepair
