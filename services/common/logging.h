// Process logging: spdlog's default logger writing to stderr, in a format for people ("text")
// or for log collectors ("json", one object per line). gRPC's own log lines are routed
// through the same logger (name "grpc") so a JSON deployment never sees a non-JSON line.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace spdlog {
class formatter;
}

namespace framepair {

// Replaces spdlog's default logger with one named `binary_name` at `level` (trace, debug,
// info, warn, error, critical, off) in `format` ("text" or "json"); INVALID_ARGUMENT
// otherwise. Call from main before starting threads that log; calling again (tests)
// replaces the previous configuration.
absl::Status InitLogging(std::string_view format, std::string_view level,
                         std::string_view binary_name);

// The "json" formatter, exposed for tests and for sinks other than stderr. Each record is
//   {"ts":"2024-05-01T12:34:56.789Z","level":"info","logger":"name","msg":"..."}\n
// with ts in UTC at millisecond precision, and logger and msg escaped per RFC 8259 (quotes,
// backslashes, control characters; invalid UTF-8 bytes become U+FFFD) so that any message
// yields exactly one valid JSON line.
std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter();

}  // namespace framepair
