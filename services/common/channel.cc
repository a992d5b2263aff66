#include "services/common/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace framepair {
namespace {

std::string BearerValue(std::string_view token) { return "Bearer " + std::string(token); }

// TLS channels: the token as call credentials (sent only over the secure connection).
class TokenCredentialsPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit TokenCredentialsPlugin(std::string token) : value_(BearerValue(token)) {}
  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "framepair-bearer-token"; }
  grpc::Status GetMetadata(grpc::string_ref /*service_url*/, grpc::string_ref /*method_name*/,
                           const grpc::AuthContext& /*channel_auth_context*/,
                           std::multimap<std::string, std::string>* metadata) override {
    metadata->emplace("authorization", value_);
    return grpc::Status::OK;
  }

 private:
  const std::string value_;
};

// Plaintext channels: gRPC drops call credentials there (they require a secure transport),
// so the token is added to each call's initial metadata instead.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* value) : value_(value) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *value_);
    }
    methods->Proceed();
  }

 private:
  const std::string* value_;
};

class TokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(std::string token) : value_(BearerValue(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new TokenInterceptor(&value_);  // the channel owns the factory, outliving calls
  }

 private:
  const std::string value_;
};

absl::StatusOr<std::string> ReadOptionFile(absl::string_view what, const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat(what, ": ", contents.status().message()));
  }
  return contents;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "client TLS certificate and key go together; give both or neither");
  }
  if (!options.tls_cert_file.empty() && options.tls_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs TLS; also give the CA that signed the server certificate");
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  args.SetMaxSendMessageSize(options.max_send_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms);
  if (absl::StartsWith(target, "dns:///")) {
    // The default (pick_first) would send every call to the first address.
    args.SetServiceConfigJSON(R"({"loadBalancingConfig":[{"round_robin":{}}]})");
  }

  if (options.tls_ca_file.empty()) {
    if (options.auth_token.empty()) {
      return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    }
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(std::make_unique<TokenInterceptorFactory>(options.auth_token));
    return grpc::experimental::CreateCustomChannelWithInterceptors(
        target, grpc::InsecureChannelCredentials(), args, std::move(interceptors));
  }

  grpc::SslCredentialsOptions ssl;
  FP_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadOptionFile("TLS CA", options.tls_ca_file));
  if (!options.tls_cert_file.empty()) {
    FP_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                        ReadOptionFile("client TLS certificate", options.tls_cert_file));
    FP_ASSIGN_OR_RETURN(ssl.pem_private_key,
                        ReadOptionFile("client TLS key", options.tls_key_file));
  }
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (!options.auth_token.empty()) {
    creds = grpc::CompositeChannelCredentials(
        creds, grpc::MetadataCredentialsFromPlugin(
                   std::make_unique<TokenCredentialsPlugin>(options.auth_token)));
  }
  return grpc::CreateCustomChannel(target, creds, args);
}

void AttachToken(grpc::ClientContext* context, std::string_view token) {
  context->AddMetadata("authorization", BearerValue(token));
}

}  // namespace framepair
