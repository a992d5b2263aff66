// Unpredictable identifiers (job ids, request ids, temporary file names): the one helper.
#pragma once

#include <string>

namespace framepair {

// 2 * `bytes` lowercase hex digits from the operating system's random source (getrandom(2)
// through std::random_device): unguessable, no seeding. `bytes` >= 0.
std::string RandomHex(int bytes);

}  // namespace framepair
