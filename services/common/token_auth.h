// Shared-secret bearer-token authentication for servers.
//
// Why not an interceptor: in gRPC 1.51 a server interceptor cannot refuse a call before its
// handler runs (it can only cancel, and the handler still executes with CANCELLED sent to the
// client). An AuthMetadataProcessor runs in the transport's auth filter, before the call
// reaches the application, and fails it with the status we choose. gRPC attaches processors
// only to secure credentials (InsecureServerCredentials()->SetAuthMetadataProcessor aborts),
// so plaintext servers get InsecureServerCredentialsWithTokenAuth below, which installs the
// same processor through gRPC's public C API.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <string_view>

#include "services/common/server_interceptors.h"

namespace framepair {

// Accepts a call iff it is exempt (grpc.health.v1.Health/*, grpc.reflection.*) or carries
// the metadata "authorization: Bearer <token>" (scheme case-insensitive, token compared in
// constant time). Otherwise UNAUTHENTICATED, counted into `metrics` with code
// UNAUTHENTICATED. The authorization entry is consumed, so handlers never see the secret.
// Non-blocking: runs inline on gRPC's thread. Thread-safe.
class BearerTokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  BearerTokenAuthProcessor(std::string token, GrpcServerMetrics metrics);

  bool IsBlocking() const override { return false; }
  // `context` is unused and may be null.
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const std::string token_;
  const GrpcServerMetrics metrics_;
};

// Plaintext server credentials whose every call first passes `processor`.
std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithTokenAuth(
    std::shared_ptr<BearerTokenAuthProcessor> processor);

}  // namespace framepair
