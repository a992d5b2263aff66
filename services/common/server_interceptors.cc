#include "services/common/server_interceptors.h"

#include <google/protobuf/descriptor.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"

namespace framepair {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(const GrpcServerMetrics& metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        method_(MethodLabel(info->method())),
        start_(std::chrono::steady_clock::now()) {}

  ~MetricsInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    metrics_.Record(method_, code, elapsed.count());
  }

  const GrpcServerMetrics& metrics_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;  // hooks of one RPC never run concurrently
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(MetricsRegistry& registry)
      : metrics_(GrpcServerMetrics::Register(registry)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info);
  }

 private:
  const GrpcServerMetrics metrics_;
};

}  // namespace

std::string MethodLabel(std::string_view path) {
  // gRPC implements the health service without protobuf-generated code, so it is not in the
  // descriptor pool.
  if (path == "/grpc.health.v1.Health/Check" || path == "/grpc.health.v1.Health/Watch") {
    return std::string(path);
  }
  // "/package.Service/Method" -> "package.Service.Method".
  if (path.size() < 4 || path.front() != '/') return "unknown";
  std::string full_name(path.substr(1));
  const size_t slash = full_name.find('/');
  if (slash == std::string::npos || full_name.find('/', slash + 1) != std::string::npos) {
    return "unknown";
  }
  full_name[slash] = '.';
  if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name) == nullptr) {
    return "unknown";
  }
  return std::string(path);
}

GrpcServerMetrics GrpcServerMetrics::Register(MetricsRegistry& registry) {
  GrpcServerMetrics metrics;
  metrics.handled = &registry.AddCounter("framepair_grpc_server_handled_total",
                                         "RPCs finished by the server, by method and status "
                                         "code.",
                                         {"method", "code"});
  metrics.handling_seconds =
      &registry.AddHistogram("framepair_grpc_server_handling_seconds",
                             "Time from RPC arrival to its status being sent, by method.",
                             {"method"}, LatencySecondsBuckets());
  return metrics;
}

void GrpcServerMetrics::Record(std::string_view method, grpc::StatusCode code,
                               double seconds) const {
  // absl and gRPC share code numbers; absl knows the canonical names.
  const std::string code_name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  handled->Increment({std::string(method), code_name});
  if (seconds >= 0) handling_seconds->Observe({std::string(method)}, seconds);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeMetricsInterceptorFactory(MetricsRegistry& registry) {
  return std::make_unique<MetricsInterceptorFactory>(registry);
}

}  // namespace framepair
