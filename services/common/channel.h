// Client channels to framepair servers (used by the CLI and the coordinator), configured the
// same way everywhere: TLS when a CA is given, the bearer token on every call, round-robin
// over all addresses for dns:/// targets, keepalive and message bounds.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace framepair {

struct ChannelOptions {
  // PEM CA bundle that signed the server certificate. Set = TLS; "" = plaintext (default).
  std::string tls_ca_file;
  // Client certificate chain and key (PEM) for servers that require mutual TLS. Both or
  // neither; need tls_ca_file. Default: none.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Name to check in the server certificate instead of the target's host (e.g. when
  // connecting by IP to a certificate issued for a DNS name). "" = the target host (default).
  std::string tls_server_name;
  // Shared secret sent as "authorization: Bearer <token>" on every call; "" = none (default).
  // Over plaintext the token travels unencrypted: use TLS outside trusted networks.
  std::string auth_token;
  // Largest response accepted; larger ones fail with RESOURCE_EXHAUSTED. Default 4 MiB,
  // matching the server's default.
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // Largest request sent; -1 = unlimited (default; the server enforces its own bound).
  int max_send_message_bytes = -1;
  // Ping the server after this long without activity during calls, and drop the connection
  // if no ack arrives within keepalive_timeout_ms, so a dead server is noticed mid-stream.
  // Defaults 60 s / 20 s (the server allows client pings every 10 s or more).
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 20'000;
};

// Creates a channel to `target`. "dns:///host:port" resolves to all addresses of host and
// balances calls round-robin across them (one connection per address: a headless k8s
// Service gives one per pod); any other target ("host:port", "unix:...") is used as given.
// The channel connects lazily; errors here are only about reading the TLS files (NOT_FOUND
// etc. naming the file) or inconsistent options (INVALID_ARGUMENT).
//
// The token reaches the server on both kinds of channel: TLS channels carry it as call
// credentials; gRPC refuses call credentials on plaintext channels, so those get a client
// interceptor that adds the same metadata.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelOptions& options);

// Adds "authorization: Bearer <token>" to one call. Only needed for channels not made by
// MakeChannel (e.g. a test's raw channel to a server with --auth-token-file).
void AttachToken(grpc::ClientContext* context, std::string_view token);

}  // namespace framepair
