#include "services/common/server_runner.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/metrics.h"
#include "services/common/metrics_http.h"
#include "services/common/server_interceptors.h"
#include "services/common/token_auth.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

// Reads a file named by a flag; the error names both.
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat("--", flag, ": ", contents.status().message()));
  }
  return contents;
}

struct Credentials {
  std::shared_ptr<grpc::ServerCredentials> creds;
  std::shared_ptr<BearerTokenAuthProcessor> auth;  // null without --auth-token-file
};

absl::StatusOr<Credentials> MakeCredentials(const ServerOptions& options) {
  Credentials result;
  if (!options.auth_token_file.empty()) {
    FP_ASSIGN_OR_RETURN(std::string contents,
                        ReadFlagFile("auth-token-file", options.auth_token_file));
    absl::StatusOr<std::vector<TokenIdentity>> identities = ParseTokenFile(contents);
    if (!identities.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--auth-token-file: ", options.auth_token_file,
                                                     ": ", identities.status().message()));
    }
    result.auth = std::make_shared<BearerTokenAuthProcessor>(
        std::make_shared<const TokenIdentities>(*std::move(identities)),
        GrpcServerMetrics::Register(DefaultMetricsRegistry()));
  }

  if (options.tls_cert_file.empty()) {
    result.creds = result.auth ? InsecureServerCredentialsWithAuth(result.auth)
                               : grpc::InsecureServerCredentials();
    return result;
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  FP_ASSIGN_OR_RETURN(pair.cert_chain, ReadFlagFile("tls-cert", options.tls_cert_file));
  FP_ASSIGN_OR_RETURN(pair.private_key, ReadFlagFile("tls-key", options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) {
    FP_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                        ReadFlagFile("tls-client-ca", options.tls_client_ca_file));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  result.creds = grpc::SslServerCredentials(ssl);
  if (result.auth) result.creds->SetAuthMetadataProcessor(result.auth);
  return result;
}

// A server reachable beyond this machine should say who may call (a token) and protect what
// travels (TLS). Missing either is a warning; a token sent in clear over such an address is
// refused unless the operator says the network is trusted (--allow-insecure).
absl::Status CheckExposure(const ServerOptions& options) {
  absl::StatusOr<HostPort> address = ParseHostPort(options.listen);
  if (!address.ok() || IsLoopbackHost(address->host)) return absl::OkStatus();
  const bool tls = !options.tls_cert_file.empty();
  const bool token = !options.auth_token_file.empty();
  if (token && !tls && !options.allow_insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen ", options.listen,
        " is reachable beyond this machine and tokens would "
        "travel in clear over plaintext; give --tls-cert/--tls-key, listen on 127.0.0.1, or "
        "pass --allow-insecure if the network is trusted"));
  }
  if (!tls) {
    spdlog::warn("listening on {} beyond loopback without TLS: calls travel in clear",
                 options.listen);
  }
  if (!token) {
    spdlog::warn(
        "listening on {} beyond loopback without --auth-token-file: anyone who "
        "reaches the port may call every RPC",
        options.listen);
  }
  return absl::OkStatus();
}

// Process-wide gRPC switches; they affect every ServerBuilder created afterwards.
void InitGrpcOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
}

// `listen` (validated HOST:PORT) with the port actually bound, for logs.
std::string WithPort(const std::string& listen, int port) {
  absl::StatusOr<HostPort> address = ParseHostPort(listen);
  return address.ok() ? FormatHostPort(address->host, port) : listen;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerRunner>> ServerRunner::Start(
    const ServerOptions& options, std::vector<grpc::Service*> services,
    std::function<void()> on_drain) {
  FP_RETURN_IF_ERROR(ValidateServerOptions(options));
  FP_RETURN_IF_ERROR(CheckExposure(options));
  FP_ASSIGN_OR_RETURN(Credentials credentials, MakeCredentials(options));
  InitGrpcOnce();

  std::unique_ptr<ServerRunner> runner(new ServerRunner());
  runner->options_ = options;
  runner->on_drain_ = std::move(on_drain);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials.creds, &runner->port_);
  if (!options.health_listen.empty()) {
    // The same server, so a probe here sees the statuses (and the liveness) of the server
    // that does the work; its auth processor lets nothing but health checks through.
    builder.AddListeningPort(
        options.health_listen,
        InsecureServerCredentialsWithAuth(std::make_shared<HealthOnlyAuthProcessor>(
            GrpcServerMetrics::Register(DefaultMetricsRegistry()))),
        &runner->health_port_);
  }
  for (grpc::Service* service : services) builder.RegisterService(service);

  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  if (options.max_connection_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, options.max_connection_age_ms);
  }
  if (options.max_connection_age_grace_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               options.max_connection_age_grace_ms);
  }
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             options.min_client_ping_interval_ms);
  // Idle connections are pinged too, and client pings on them are not counted as abuse.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default on Linux, so a second server on a busy port would
  // start "successfully" and steal half the connections. Fail loudly instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);

  grpc::ResourceQuota quota("framepair-server");
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);

  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeMetricsInterceptorFactory(DefaultMetricsRegistry()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  runner->server_ = builder.BuildAndStart();
  if (runner->server_ == nullptr || runner->port_ == 0 ||
      (!options.health_listen.empty() && runner->health_port_ == 0)) {
    // BuildAndStart returns null if any port failed to bind; gRPC logged the reason.
    const bool health = runner->port_ != 0;
    runner->server_.reset();
    return absl::UnavailableError(absl::StrCat(
        health ? "--health-listen" : "--listen", ": cannot listen on ",
        health ? options.health_listen : options.listen,
        "; the port may be in use by another process or the host is not a local address "
        "(see the gRPC error logged above)"));
  }

  // grpc::Server has no public list of its services; ServerInitializer (the interface gRPC
  // gives server plugins such as reflection) exposes the names parsed at registration.
  grpc::ServerInitializer initializer(runner->server_.get());
  for (const std::string& name : *initializer.GetServiceList()) {
    if (!absl::StartsWith(name, "grpc.")) runner->service_names_.push_back(name);
  }
  // Never null: InitGrpcOnce enabled the default health service.
  grpc::HealthCheckServiceInterface* health = runner->server_->GetHealthCheckService();
  for (const std::string& name : runner->service_names_) health->SetServingStatus(name, true);
  health->SetServingStatus(true);  // overall ("") and all of the above

  runner->address_ = WithPort(options.listen, runner->port_);
  std::string metrics_note;
  if (!options.metrics_listen.empty()) {
    runner->metrics_ = std::make_unique<MetricsHttpServer>(&DefaultMetricsRegistry());
    if (absl::Status status = runner->metrics_->Start(options.metrics_listen); !status.ok()) {
      runner->metrics_.reset();
      runner->server_->Shutdown(std::chrono::system_clock::now());
      runner->server_->Wait();
      runner->server_.reset();  // nothing left to drain
      return status;
    }
    metrics_note =
        absl::StrCat("; metrics on http://",
                     WithPort(options.metrics_listen, runner->metrics_->port()), "/metrics");
  }

  if (runner->health_port_ != 0) {
    metrics_note = absl::StrCat(metrics_note, "; health checks only, plaintext, on ",
                                WithPort(options.health_listen, runner->health_port_));
  }
  const char* security = options.tls_cert_file.empty()        ? "plaintext"
                         : options.tls_client_ca_file.empty() ? "TLS"
                                                              : "mutual TLS";
  spdlog::info(
      "serving on {} ({}{}; services: {}){}", runner->address_, security,
      credentials.auth ? ", token auth" : "",
      runner->service_names_.empty() ? "none" : absl::StrJoin(runner->service_names_, ", "),
      metrics_note);
  return runner;
}

ServerRunner::~ServerRunner() {
  if (server_ == nullptr) return;  // Start failed half-way
  BeginDrain();
  Wait();
  if (drain_thread_.joinable()) drain_thread_.join();
}

int ServerRunner::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

void ServerRunner::BeginDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  if (drain_started_) return;
  drain_started_ = true;
  drain_thread_ = std::thread([this] { Drain(); });
}

void ServerRunner::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  stopped_cv_.wait(lock, [this] { return stopped_; });
}

void ServerRunner::Drain() {
  spdlog::info(
      "draining {}: health NOT_SERVING, accepting RPCs for {} ms more, then {} s for running "
      "RPCs to finish",
      address_, options_.not_serving_delay_ms, options_.drain_grace_seconds);
  // Shutdown() (rather than SetServingStatus(false)) also freezes the statuses, so nothing
  // can flip them back to SERVING while draining; Watch streams get NOT_SERVING.
  server_->GetHealthCheckService()->Shutdown();
  if (on_drain_) on_drain_();
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.not_serving_delay_ms));

  const auto grace = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(options_.drain_grace_seconds));
  const auto started = std::chrono::steady_clock::now();
  // Returns when every RPC has finished; at the deadline gRPC cancels the rest.
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  if (metrics_) metrics_->Stop();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  spdlog::info("stopped {} ({:.3f} s after refusing new RPCs)", address_, took.count());

  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  stopped_cv_.notify_all();
}

}  // namespace framepair
