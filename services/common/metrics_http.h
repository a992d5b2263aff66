// MetricsHttpServer: a minimal HTTP/1.1 endpoint (Boost.Beast) for Prometheus scrapes.
// GET /metrics answers 200 with the registry rendered in text format 0.0.4; any other path
// is 404, any other method on /metrics 405. Requests are bounded (8 KiB of headers, 1 KiB of
// body, 10 s to arrive) so a misbehaving client cannot exhaust memory. Keep-alive is
// supported. One background thread serves all connections; rendering is cheap.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "services/common/metrics.h"

namespace framepair {

class MetricsHttpServer {
 public:
  // `registry` must outlive this server.
  explicit MetricsHttpServer(const MetricsRegistry* registry = &DefaultMetricsRegistry());
  ~MetricsHttpServer();  // Stop()s.
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `listen` (HOST:PORT; port 0 picks a free port) and starts serving. Once per
  // object. INVALID_ARGUMENT for a malformed address, UNAVAILABLE if it cannot be bound.
  absl::Status Start(std::string_view listen);
  // The bound port (useful after listening on port 0); 0 before Start.
  int port() const;
  // Stops accepting, drops open connections and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace framepair
