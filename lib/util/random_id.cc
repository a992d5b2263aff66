#include "util/random_id.h"

#include <cstdint>
#include <random>

namespace framepair {

std::string RandomHex(int bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  out.reserve(static_cast<size_t>(bytes) * 2);
  for (int i = 0; i < bytes; i += 4) {
    uint32_t word = device();
    for (int j = 0; j < 8; ++j, word >>= 4) out.push_back(kHex[word & 0xf]);
  }
  out.resize(static_cast<size_t>(bytes) * 2);
  return out;
}

}  // namespace framepair
