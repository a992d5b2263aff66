// ServerOptions: every knob the shared server runner has, with its default. main() fills it
// from flags (AddServerFlags); libraries and services never read flags or the environment.
// Defaults suit a developer machine; deploy/ overrides the ones k8s needs (listen on all
// interfaces, not_serving_delay_ms, max_connection_age_ms, TLS, auth).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace boost::program_options {
class options_description;
}

namespace framepair {

struct ServerOptions {
  // gRPC listen address, HOST:PORT. Port 0 picks a free port (tests read it back from the
  // runner). "0.0.0.0:PORT" or "[::]:PORT" listens on all interfaces.
  std::string listen = "127.0.0.1:50051";
  // Directory under which the service reads and writes its files. "" = not set; services
  // that need it fail at startup with a message naming the flag.
  std::string storage_root;

  // TLS. tls_cert_file (PEM chain) and tls_key_file (PEM key) go together; both empty =
  // plaintext. tls_client_ca_file (PEM bundle) set = mutual TLS: clients must present a
  // certificate signed by it or the handshake fails. Default: all empty (plaintext).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;

  // Token file: `NAME TOKEN [admin]` lines, or one bare token (services/common/token_auth.h).
  // "" = no auth (default). Set = every RPC except grpc.health.v1.Health/* and
  // grpc.reflection.*/* must carry the metadata "authorization: Bearer <token>", otherwise it
  // fails with UNAUTHENTICATED before the handler runs. Health stays open so k8s probes need
  // no secret.
  std::string auth_token_file;
  // Tokens over plaintext on an address beyond loopback travel in clear: ServerRunner::Start
  // refuses that combination unless this is set (a network the operator trusts, e.g. a
  // NetworkPolicy-fenced pod network). Default false.
  bool allow_insecure = false;

  // Prometheus text endpoint (GET /metrics), HOST:PORT. "" = off (default).
  std::string metrics_listen;
  // A second, plaintext gRPC port of the same server that answers grpc.health.v1 only (every
  // other call fails with PERMISSION_DENIED), HOST:PORT. For probes that cannot speak TLS or
  // present a client certificate (the kubelet's gRPC probe): they see the statuses of the
  // server that does the work, and no secret or API call crosses it. "" = off (default).
  std::string health_listen;

  // Log output on stderr: "text" (human-readable, default) or "json" (one object per line).
  std::string log_format = "text";
  // trace, debug, info (default), warn, error, critical or off.
  std::string log_level = "info";

  // Largest message the server accepts / sends; bigger ones fail with RESOURCE_EXHAUSTED.
  // Default 4 MiB (gRPC's own default for receiving).
  int max_receive_message_bytes = 4 * 1024 * 1024;
  int max_send_message_bytes = 4 * 1024 * 1024;
  // Concurrent RPCs per client connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); further
  // calls queue on the client. Default 64.
  int max_concurrent_streams = 64;
  // A connection is asked to go away (GOAWAY) after this long, so clients re-resolve and new
  // pods behind a k8s Service get traffic. 0 = unlimited (default).
  int max_connection_age_ms = 0;
  // After GOAWAY, how long RPCs on the old connection may still run before it is closed.
  // 0 = unlimited (default), so long streaming RPCs are never cut by connection aging.
  int max_connection_age_grace_ms = 0;
  // The server pings an idle connection after this long to notice dead clients, and drops
  // it if no ack arrives within keepalive_timeout_ms. Defaults 60 s / 20 s.
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 20'000;
  // Clients may ping this often (client keepalive); faster pingers get GOAWAY
  // ("too_many_pings"). Default 10 s, below the 60 s MakeChannel uses.
  int min_client_ping_interval_ms = 10'000;

  // gRPC ResourceQuota: memory the server may use for connections and in-flight messages.
  // Under pressure new work is refused instead of the pod being OOM-killed. Default 256 MiB.
  int64_t memory_quota_bytes = 256LL * 1024 * 1024;
  // ResourceQuota thread limit. Bounds the threads of synchronous services (callback
  // services run on gRPC's event engine and are not counted). Default 64.
  int max_threads = 64;

  // After SIGTERM/SIGINT: how long in-flight RPCs may run before they are cancelled. New
  // RPCs are refused as soon as draining reaches the shutdown step. Default 20 s (k8s gives
  // 30 s between SIGTERM and SIGKILL by default).
  double drain_grace_seconds = 20.0;
  // After SIGTERM: how long health reports NOT_SERVING while the server still accepts RPCs,
  // so load balancers and readiness probes stop sending traffic first. Default 0 (local);
  // deploy/ sets a few seconds (more than the readiness probe period).
  int not_serving_delay_ms = 0;
};

// Registers the shared flags (--listen, --storage-root, --tls-cert, --tls-key,
// --tls-client-ca, --auth-token-file, --allow-insecure, --metrics-listen, --health-listen,
// --log-format, --log-level,
// --max-message-bytes, --max-concurrent-streams, --max-connection-age-ms,
// --max-connection-age-grace-ms, --keepalive-time-ms, --memory-quota-bytes, --max-threads,
// --drain-grace-seconds, --not-serving-delay-ms). Each flag's default is the current value
// in *options, which must outlive parsing; values are stored on
// boost::program_options::notify().
void AddServerFlags(boost::program_options::options_description& flags, ServerOptions* options);

// Checks the options without touching the filesystem or network (files are read, and ports
// bound, by ServerRunner::Start). INVALID_ARGUMENT naming the flag and what to do.
absl::Status ValidateServerOptions(const ServerOptions& options);

// An address as HOST:PORT. IPv6 hosts are bracketed ("[::1]:50051"); host is stored without
// brackets. Port must be 0..65535.
struct HostPort {
  std::string host;
  int port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(std::string_view address);
// Whether `host` (as ParseHostPort leaves it) only reaches this machine: "localhost",
// 127.0.0.0/8 or ::1. Wildcards (0.0.0.0, ::) and every other name are beyond loopback.
bool IsLoopbackHost(std::string_view host);
// Inverse of ParseHostPort (adds brackets to IPv6 hosts).
std::string FormatHostPort(std::string_view host, int port);

}  // namespace framepair
