#include "services/common/logging.h"

#include <grpc/support/log.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "absl/strings/str_cat.h"

namespace framepair {
namespace {

constexpr char kTextPattern[] = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";
constexpr char kGrpcLoggerName[] = "grpc";

void Append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF are rejected, as RFC 3629 says).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// Appends `s` as the contents of a JSON string (without the surrounding quotes).
void AppendJsonEscaped(spdlog::memory_buf_t& dest, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        Append(dest, "\\ufffd");
        ++i;
      } else {
        Append(dest, s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        Append(dest, "\\\"");
        break;
      case '\\':
        Append(dest, "\\\\");
        break;
      case '\n':
        Append(dest, "\\n");
        break;
      case '\r':
        Append(dest, "\\r");
        break;
      case '\t':
        Append(dest, "\\t");
        break;
      default:
        if (c < 0x20) {
          const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          Append(dest, std::string_view(escaped, sizeof(escaped)));
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    const auto since_epoch = duration_cast<milliseconds>(msg.time.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
    const int millis = static_cast<int>(since_epoch.count() % 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char ts[64];
    std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  millis < 0 ? 0 : millis);

    Append(dest, "{\"ts\":\"");
    Append(dest, ts);
    Append(dest, "\",\"level\":\"");
    const auto level = spdlog::level::to_string_view(msg.level);
    Append(dest, std::string_view(level.data(), level.size()));
    Append(dest, "\",\"logger\":\"");
    AppendJsonEscaped(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    Append(dest, "\",\"msg\":\"");
    AppendJsonEscaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    Append(dest, "\"}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// gRPC logs through gpr_log; forward to our "grpc" logger. gRPC filters by its own
// verbosity (GRPC_VERBOSITY, default ERROR) before calling this.
void ForwardGrpcLog(gpr_log_func_args* args) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get(kGrpcLoggerName);
  if (!logger) logger = spdlog::default_logger();
  spdlog::level::level_enum level = spdlog::level::info;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = spdlog::level::debug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = spdlog::level::err;
  logger->log(level, "{} ({}:{})", args->message, args->file, args->line);
}

}  // namespace

std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter() {
  return std::make_unique<JsonFormatter>();
}

absl::Status InitLogging(std::string_view format, std::string_view level,
                         std::string_view binary_name) {
  // spdlog::level::from_str maps unknown names to "off"; check explicitly so a typo does not
  // silence the process.
  spdlog::level::level_enum lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level '", std::string(level),
                     "'; use trace, debug, info, warn, error, critical or off"));
  }
  spdlog::sink_ptr sink;
  if (format == "text") {
    // Colors only when stderr is a terminal (the sink checks).
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_pattern(kTextPattern);
  } else if (format == "json") {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(MakeJsonLogFormatter());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format '", std::string(format), "'; use text or json"));
  }

  auto logger = std::make_shared<spdlog::logger>(std::string(binary_name), sink);
  logger->set_level(lvl);
  // Warnings and errors reach the collector at once even if stderr is buffered.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);

  auto grpc_logger = std::make_shared<spdlog::logger>(kGrpcLoggerName, sink);
  grpc_logger->set_level(lvl);
  grpc_logger->flush_on(spdlog::level::warn);
  spdlog::drop(kGrpcLoggerName);
  spdlog::register_logger(grpc_logger);
  gpr_set_log_function(ForwardGrpcLog);
  return absl::OkStatus();
}

}  // namespace framepair
