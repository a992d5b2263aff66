// Bearer-token authentication for servers, with named identities.
//
// A token file (--auth-token-file) holds one identity per line, `NAME TOKEN [admin]`; blank
// lines and lines starting with '#' are skipped. A file holding one bare token (the format
// before names) is one identity called "shared" with admin rights: every holder of that
// token could already see every job. A call that passes carries its identity in its
// AuthContext (CallerOf), so handlers know who calls without ever seeing the token, and logs
// name the identity only.
//
// Why not an interceptor: in gRPC 1.51 a server interceptor cannot refuse a call before its
// handler runs (it can only cancel, and the handler still executes with CANCELLED sent to the
// client). An AuthMetadataProcessor runs in the transport's auth filter, before the call
// reaches the application, and fails it with the status we choose. gRPC attaches processors
// only to secure credentials (InsecureServerCredentials()->SetAuthMetadataProcessor aborts),
// so plaintext servers get InsecureServerCredentialsWithAuth below, which installs the same
// processor through gRPC's public C API.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/server_interceptors.h"

namespace framepair {

struct TokenIdentity {
  std::string name;    // [A-Za-z0-9._@-]{1,64}: what logs and job owners say
  std::string token;   // the secret; never logged
  bool admin = false;  // sees, cancels and deletes every client's jobs
};

// Parses a token file's contents (see the top of this file). INVALID_ARGUMENT naming the line
// (never its token) for a malformed line, a repeated name or token, or no identity at all.
absl::StatusOr<std::vector<TokenIdentity>> ParseTokenFile(std::string_view contents);

// Who makes a call. Without token auth every caller is the anonymous admin (a single machine:
// whoever reaches the port may do everything, as before identities existed).
struct Caller {
  std::string name;  // "" = anonymous (no token auth)
  bool admin = true;
};

// The identities of a token file, found by the token a call carries. Why not the call's
// AuthContext: gRPC hands the auth processor the connection's AuthContext, shared by every call
// on that connection, so a property added for one caller would be seen by the next. Thread-safe
// (immutable).
class TokenIdentities {
 public:
  explicit TokenIdentities(std::vector<TokenIdentity> identities);

  // The identity whose token is `token`, or null. Every token is compared in constant time,
  // so timing does not tell which identity nearly matched.
  const TokenIdentity* Find(std::string_view token) const;
  // Named identities (not the single-token form): calls keep their authorization entry so
  // the handler can tell who calls (CallerOf); with the single shared token it is removed.
  bool named() const { return named_; }
  // The caller of a call that passed BearerTokenAuthProcessor over these identities: the
  // identity of its token; a call without one (impossible after the processor) is a nameless
  // non-admin that owns nothing.
  Caller CallerOf(const grpc::ServerContextBase& context) const;

 private:
  std::vector<TokenIdentity> identities_;
  bool named_ = false;
};

// The caller of a call on a server whose token auth is `identities` (null: no token auth, the
// anonymous admin).
Caller CallerOf(const TokenIdentities* identities, const grpc::ServerContextBase& context);

// Accepts a call iff it is exempt (grpc.health.v1.Health/*, grpc.reflection.*) or carries
// the metadata "authorization: Bearer <token>" with one of the identities' tokens (scheme
// case-insensitive). Otherwise UNAUTHENTICATED, counted into `metrics` with code
// UNAUTHENTICATED. With the single shared token the authorization entry is consumed, so
// handlers never see the secret; with named identities it stays for CallerOf, which the
// handlers use instead of reading it (logs name the identity, never the token).
// Non-blocking: runs inline on gRPC's thread. Thread-safe.
class BearerTokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  BearerTokenAuthProcessor(std::shared_ptr<const TokenIdentities> identities,
                           GrpcServerMetrics metrics);

  bool IsBlocking() const override { return false; }
  // `context` is unused and may be null.
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const std::shared_ptr<const TokenIdentities> identities_;
  const GrpcServerMetrics metrics_;
};

// The policy of a health-only port (--health-listen): grpc.health.v1.Health/* passes, every
// other call (reflection included) fails with PERMISSION_DENIED, counted into `metrics`.
// Such a port is plaintext and needs no secret, so it must not open the API.
// Non-blocking; thread-safe.
class HealthOnlyAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit HealthOnlyAuthProcessor(GrpcServerMetrics metrics) : metrics_(metrics) {}

  bool IsBlocking() const override { return false; }
  // `context` is unused and may be null.
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const GrpcServerMetrics metrics_;
};

// Plaintext server credentials whose every call first passes `processor` (one of the above:
// they never use the AuthContext, which plaintext connections do not have).
std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithAuth(
    std::shared_ptr<grpc::AuthMetadataProcessor> processor);

}  // namespace framepair
