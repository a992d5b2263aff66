// ServerRunner: the one way framepair servers are started and stopped.
//
// Start() builds a gRPC server from ServerOptions with: the standard health service
// (grpc.health.v1.Health, overall and per-service status SERVING once started), reflection,
// TLS or plaintext, optional bearer-token auth, message-size / stream / connection-age /
// keepalive bounds, a ResourceQuota, the metrics interceptor, the /metrics endpoint, and
// optionally a second, plaintext, health-only port of the same server (--health-listen).
//
// Stopping is a drain, in this order (BeginDrain):
//   1. health -> NOT_SERVING for every service (load balancers and probes stop routing here);
//      the service's on_drain hook runs (e.g. stop taking background work);
//   2. wait not_serving_delay_ms while still accepting RPCs;
//   3. grpc::Server::Shutdown(now + drain_grace_seconds): new RPCs are refused, running ones
//      may finish until the deadline and are then cancelled (handlers see IsCancelled() /
//      OnCancel(); clients get UNAVAILABLE, which they may retry on another replica);
//   4. the metrics endpoint stops (scrapes work during the drain).
//
// Thread-safety: all methods may be called from any thread. The services must outlive the
// runner (they are handed in as raw pointers and used until the destructor returns).
#pragma once

#include <grpcpp/server.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/server_options.h"

namespace framepair {

class MetricsHttpServer;

class ServerRunner {
 public:
  // Validates `options`, reads the TLS and token files, binds and starts serving.
  // `on_drain` (optional) runs once at the start of the drain, after health turned
  // NOT_SERVING, on the drain thread; it must not block for long.
  // Errors: INVALID_ARGUMENT (options), NOT_FOUND / PERMISSION_DENIED (files, naming them),
  // UNAVAILABLE (address could not be bound).
  static absl::StatusOr<std::unique_ptr<ServerRunner>> Start(
      const ServerOptions& options, std::vector<grpc::Service*> services,
      std::function<void()> on_drain = nullptr);

  // Drains (BeginDrain) if that has not happened, then waits for it.
  ~ServerRunner();
  ServerRunner(const ServerRunner&) = delete;
  ServerRunner& operator=(const ServerRunner&) = delete;

  // The bound gRPC port (the real one when options.listen had port 0).
  int port() const { return port_; }
  // The bound metrics port; 0 when metrics_listen is empty.
  int metrics_port() const;
  // The bound health-only port; 0 when health_listen is empty.
  int health_port() const { return health_port_; }
  // Full names of the registered application services, e.g. "framepair.v1.Dedup" (health
  // and reflection excluded).
  const std::vector<std::string>& service_names() const { return service_names_; }
  // The underlying server, e.g. for InProcessChannel in tests. Owned by the runner.
  grpc::Server* server() { return server_.get(); }

  // Starts the drain described above on a background thread and returns at once.
  // Idempotent.
  void BeginDrain();
  // Blocks until the drain has finished and the server is stopped (only returns after some
  // thread called BeginDrain).
  void Wait();

 private:
  ServerRunner() = default;
  void Drain();

  ServerOptions options_;
  std::function<void()> on_drain_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> metrics_;
  std::vector<std::string> service_names_;
  int port_ = 0;
  int health_port_ = 0;
  std::string address_;  // for logs

  std::mutex mu_;
  std::condition_variable stopped_cv_;
  bool drain_started_ = false;
  bool stopped_ = false;
  std::thread drain_thread_;
};

}  // namespace framepair
