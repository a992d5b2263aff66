#include "services/common/server_options.h"

#include <algorithm>
#include <boost/program_options.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace framepair {
namespace po = boost::program_options;

void AddServerFlags(po::options_description& flags, ServerOptions* options) {
  ServerOptions* o = options;
  // One flag sets both directions: a service that accepts N-byte requests should be able to
  // send N-byte responses, and two flags would only invite mismatches.
  auto set_message_bytes = [o](int bytes) {
    o->max_receive_message_bytes = bytes;
    o->max_send_message_bytes = bytes;
  };
  // clang-format off
  flags.add_options()
    ("listen", po::value(&o->listen)->default_value(o->listen)->value_name("HOST:PORT"),
     "gRPC listen address. Port 0 picks a free port; use 0.0.0.0:PORT to accept "
     "connections from other machines.")
    ("storage-root", po::value(&o->storage_root)->value_name("DIR|URL"),
     "Directory under which this service reads and writes its files, or a bucket "
     "(s3://BUCKET/PREFIX, gs://BUCKET/PREFIX; credentials from AWS_ACCESS_KEY_ID, "
     "AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL), with local files in a scratch "
     "directory under TMPDIR.")
    ("tls-cert", po::value(&o->tls_cert_file)->value_name("FILE"),
     "Server certificate chain (PEM). Needs --tls-key. Without it the server speaks "
     "plaintext.")
    ("tls-key", po::value(&o->tls_key_file)->value_name("FILE"),
     "Private key (PEM) for --tls-cert.")
    ("tls-client-ca", po::value(&o->tls_client_ca_file)->value_name("FILE"),
     "CA bundle (PEM). When set, clients must present a certificate signed by it "
     "(mutual TLS). Needs --tls-cert.")
    ("auth-token-file", po::value(&o->auth_token_file)->value_name("FILE"),
     "Token file: one `NAME TOKEN` line per client (add ` admin` for a client that may see "
     "and cancel every job), or one bare token. When set, every RPC except health checks "
     "and reflection must send the metadata 'authorization: Bearer <token>' or fails with "
     "UNAUTHENTICATED.")
    ("allow-insecure", po::bool_switch(&o->allow_insecure),
     "Accept tokens over plaintext on an address beyond loopback (they travel in clear). "
     "Without it such a server refuses to start; give --tls-cert/--tls-key instead.")
    ("metrics-listen", po::value(&o->metrics_listen)->value_name("HOST:PORT"),
     "Serve Prometheus metrics at http://HOST:PORT/metrics. Off when empty.")
    ("health-listen", po::value(&o->health_listen)->value_name("HOST:PORT"),
     "Also listen here, in plaintext, for gRPC health checks only (grpc.health.v1; every "
     "other call is refused): for probes that cannot speak TLS, such as the kubelet's gRPC "
     "probe. Off when empty.")
    ("log-format", po::value(&o->log_format)->default_value(o->log_format)
         ->value_name("text|json"),
     "Log format on stderr: 'text' for people, 'json' (one object per line) for log "
     "collectors.")
    ("log-level", po::value(&o->log_level)->default_value(o->log_level)->value_name("LEVEL"),
     "Least severe level logged: trace, debug, info, warn, error, critical or off.")
    ("max-message-bytes",
     po::value<int>()->default_value(o->max_receive_message_bytes)->value_name("N")
         ->notifier(set_message_bytes),
     "Largest request or response message in bytes; larger ones fail with "
     "RESOURCE_EXHAUSTED.")
    ("max-concurrent-streams",
     po::value(&o->max_concurrent_streams)->default_value(o->max_concurrent_streams)
         ->value_name("N"),
     "Concurrent RPCs per client connection; further calls wait on the client.")
    ("max-connection-age-ms",
     po::value(&o->max_connection_age_ms)->default_value(o->max_connection_age_ms)
         ->value_name("MS"),
     "Ask clients to reconnect after this long so that traffic spreads to new replicas "
     "(set it behind a k8s Service). 0 = never.")
    ("max-connection-age-grace-ms",
     po::value(&o->max_connection_age_grace_ms)->default_value(o->max_connection_age_grace_ms)
         ->value_name("MS"),
     "After asking a client to reconnect, how long its running RPCs may continue on the old "
     "connection. 0 = until they finish.")
    ("keepalive-time-ms",
     po::value(&o->keepalive_time_ms)->default_value(o->keepalive_time_ms)->value_name("MS"),
     "Ping idle clients after this long to detect dead connections.")
    ("memory-quota-bytes",
     po::value(&o->memory_quota_bytes)->default_value(o->memory_quota_bytes)->value_name("N"),
     "Memory gRPC may use for connections and in-flight messages; beyond it new work is "
     "refused rather than the process running out of memory.")
    ("max-threads",
     po::value(&o->max_threads)->default_value(o->max_threads)->value_name("N"),
     "Upper bound on gRPC's threads for synchronous handlers.")
    ("drain-grace-seconds",
     po::value(&o->drain_grace_seconds)->default_value(o->drain_grace_seconds)
         ->value_name("S"),
     "On SIGTERM/SIGINT, how long running RPCs may finish before they are cancelled. Keep "
     "it below the orchestrator's kill timeout (k8s: terminationGracePeriodSeconds).")
    ("not-serving-delay-ms",
     po::value(&o->not_serving_delay_ms)->default_value(o->not_serving_delay_ms)
         ->value_name("MS"),
     "On SIGTERM/SIGINT, report NOT_SERVING on health checks for this long while still "
     "accepting RPCs, so load balancers stop routing here before the server stops "
     "listening.");
  // clang-format on
}

namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

absl::Status CheckAddress(absl::string_view flag, const std::string& address) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok()) return Invalid(flag, parsed.status().message());
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateServerOptions(const ServerOptions& o) {
  if (absl::Status s = CheckAddress("listen", o.listen); !s.ok()) return s;
  if (!o.metrics_listen.empty()) {
    if (absl::Status s = CheckAddress("metrics-listen", o.metrics_listen); !s.ok()) return s;
  }
  if (!o.health_listen.empty()) {
    if (absl::Status s = CheckAddress("health-listen", o.health_listen); !s.ok()) return s;
    if (o.health_listen == o.listen && !o.listen.ends_with(":0")) {
      return Invalid("health-listen", "must differ from --listen (it is a second port)");
    }
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return Invalid(o.tls_cert_file.empty() ? "tls-cert" : "tls-key",
                   "--tls-cert and --tls-key go together; give both (TLS) or neither "
                   "(plaintext)");
  }
  if (!o.tls_client_ca_file.empty() && o.tls_cert_file.empty()) {
    return Invalid("tls-client-ca",
                   "verifying client certificates needs TLS; also give --tls-cert and "
                   "--tls-key");
  }
  if (o.log_format != "text" && o.log_format != "json") {
    return Invalid("log-format", absl::StrCat("got '", o.log_format, "'; use text or json"));
  }
  static constexpr const char* kLevels[] = {"trace", "debug",    "info", "warn",
                                            "error", "critical", "off"};
  bool level_ok = false;
  for (const char* level : kLevels) level_ok |= (o.log_level == level);
  if (!level_ok) {
    return Invalid("log-level", absl::StrCat("got '", o.log_level, "'; use one of ",
                                             absl::StrJoin(kLevels, ", ")));
  }
  if (o.max_receive_message_bytes <= 0 || o.max_send_message_bytes <= 0) {
    return Invalid("max-message-bytes", "must be positive (bytes, at most 2147483647)");
  }
  if (o.max_concurrent_streams <= 0) {
    return Invalid("max-concurrent-streams", "must be at least 1");
  }
  if (o.max_connection_age_ms < 0) return Invalid("max-connection-age-ms", "must be >= 0");
  if (o.max_connection_age_grace_ms < 0) {
    return Invalid("max-connection-age-grace-ms", "must be >= 0");
  }
  if (o.keepalive_time_ms <= 0 || o.keepalive_timeout_ms <= 0) {
    return Invalid("keepalive-time-ms", "must be positive (milliseconds)");
  }
  if (o.min_client_ping_interval_ms < 0) {
    return absl::InvalidArgumentError("min_client_ping_interval_ms must be >= 0");
  }
  // Below ~1 MiB gRPC cannot even hold a few connections' buffers.
  if (o.memory_quota_bytes < (1 << 20)) {
    return Invalid("memory-quota-bytes", "must be at least 1048576 (1 MiB)");
  }
  // A synchronous server needs a polling thread plus at least one handler thread.
  if (o.max_threads < 2) return Invalid("max-threads", "must be at least 2");
  if (!(o.drain_grace_seconds >= 0) || o.drain_grace_seconds > 24 * 3600) {
    return Invalid("drain-grace-seconds", "must be between 0 and 86400");
  }
  if (o.not_serving_delay_ms < 0) return Invalid("not-serving-delay-ms", "must be >= 0");
  return absl::OkStatus();
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view address) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(address),
                                                   "' is not HOST:PORT (", why,
                                                   "), e.g. 127.0.0.1:50051 or [::]:50051"));
  };
  HostPort result;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    result.host = std::string(address.substr(1, close - 1));
    if (close + 1 >= address.size() || address[close + 1] != ':') return bad("missing :PORT");
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return bad("missing :PORT");
    result.host = std::string(address.substr(0, colon));
    if (result.host.find(':') != std::string::npos) return bad("put IPv6 hosts in brackets");
    port = address.substr(colon + 1);
  }
  if (result.host.empty()) return bad("empty host; 0.0.0.0 listens on all interfaces");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(std::string(port), &result.port) || result.port > 65535) {
    return bad("port must be a number 0..65535");
  }
  return result;
}

std::string FormatHostPort(std::string_view host, int port) {
  const std::string h(host);
  if (h.find(':') != std::string::npos) return absl::StrCat("[", h, "]:", port);
  return absl::StrCat(h, ":", port);
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace framepair
