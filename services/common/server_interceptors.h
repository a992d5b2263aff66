// Per-RPC metrics for every server built by ServerRunner:
//   framepair_grpc_server_handled_total{method,code}   RPCs finished, by final status code
//   framepair_grpc_server_handling_seconds{method}     time from arrival to status sent
// `method` is the full gRPC path ("/framepair.v1.Dedup/Run") -- or "unknown" for paths
// that name no method (see MethodLabel) -- and `code` the status code name ("OK",
// "UNAUTHENTICATED"). Calls refused by token auth never reach interceptors; the auth
// processor counts them into the same counter (see token_auth.h).
#pragma once

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string_view>

#include "services/common/metrics.h"

namespace framepair {

// Handles to the two families above in a registry (registering them on first use).
struct GrpcServerMetrics {
  static GrpcServerMetrics Register(MetricsRegistry& registry);
  // Counts one finished RPC; a negative `seconds` records the count only (no latency known).
  void Record(std::string_view method, grpc::StatusCode code, double seconds) const;

  Counter* handled = nullptr;
  Histogram* handling_seconds = nullptr;
};

// The `method` label for a request path: the path itself if it names a method of a protobuf
// service linked into this binary, or of the health service; "unknown" otherwise. Clients
// choose paths freely, and labelling made-up ones would let any caller grow the metrics
// without bound.
std::string MethodLabel(std::string_view path);

// Interceptor factory recording GrpcServerMetrics for every RPC (unary and streaming, sync
// and callback services). RPCs whose status is never sent (client gone, cancelled at
// shutdown) count as CANCELLED. `registry` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeMetricsInterceptorFactory(MetricsRegistry& registry);

}  // namespace framepair
