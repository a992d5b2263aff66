// MetricsHttpServer: a minimal HTTP/1.1 endpoint (Boost.Beast) for Prometheus scrapes.
// GET /metrics answers 200 with the registry rendered in text format 0.0.4; any other path
// is 404, any other method on /metrics 405. Requests are bounded (8 KiB of headers, 1 KiB of
// body, 10 s to arrive) so a misbehaving client cannot exhaust memory. Keep-alive is
// supported; a connection idle for io_timeout is closed, and beyond max_connections open
// ones a new connection is closed at once (a scraper needs one or two), so idle or slow
// clients cannot pile up file descriptors. One background thread serves all connections;
// rendering is cheap.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "services/common/metrics.h"

namespace framepair {

struct MetricsHttpOptions {
  int max_connections = 32;
  // A request must arrive completely within this (and an idle keep-alive connection is
  // closed after it).
  std::chrono::milliseconds io_timeout{10000};
};

class MetricsHttpServer {
 public:
  // `registry` must outlive this server.
  explicit MetricsHttpServer(const MetricsRegistry* registry = &DefaultMetricsRegistry(),
                             MetricsHttpOptions options = {});
  ~MetricsHttpServer();  // Stop()s.
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `listen` (HOST:PORT; port 0 picks a free port) and starts serving. Once per
  // object. INVALID_ARGUMENT for a malformed address, UNAVAILABLE if it cannot be bound.
  absl::Status Start(std::string_view listen);
  // The bound port (useful after listening on port 0); 0 before Start.
  int port() const;
  // Connections open now (for tests).
  int connections() const;
  // Stops accepting, drops open connections and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace framepair
