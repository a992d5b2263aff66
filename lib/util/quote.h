// Text that arrived from outside (a path in an RPC, a name in a manifest) inside an error
// message: quoted, control characters and NUL escaped so logs stay readable, and cut to a
// bounded length so a hostile input cannot flood the logs or the job's error field.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace framepair {

// "'<escaped text>'", or "'<escaped first max_chars bytes>'... (N bytes)" when longer.
std::string QuoteUserText(absl::string_view text, size_t max_chars = 120);

}  // namespace framepair
