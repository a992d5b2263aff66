#include "services/common/token_auth.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include <optional>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace framepair {
namespace {

constexpr std::string_view kAuthorization = "authorization";
constexpr std::string_view kBearer = "bearer ";

bool IsIdentityName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '@') {
      return false;
    }
  }
  return true;
}

// Health must stay reachable for k8s probes and load balancers, which carry no secret;
// reflection only describes the API.
bool IsHealth(std::string_view path) { return path.starts_with("/grpc.health.v1.Health/"); }
bool IsExempt(std::string_view path) {
  return IsHealth(path) || path.starts_with("/grpc.reflection.");
}

// Compares without an early exit, so response time does not reveal how much of a guessed
// token was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }
std::string_view View(const grpc_slice& s) {
  return std::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)),
                          GRPC_SLICE_LENGTH(s));
}

std::string_view PathOf(const grpc::AuthMetadataProcessor::InputMetadata& metadata) {
  auto it = metadata.find(":path");
  return it == metadata.end() ? std::string_view() : View(it->second);
}

// The token of an "authorization: Bearer <token>" value (scheme case-insensitive).
std::optional<std::string_view> BearerToken(std::string_view value) {
  if (value.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(value.data(), kBearer.size()),
                              absl::string_view(kBearer.data(), kBearer.size()))) {
    return std::nullopt;
  }
  return value.substr(kBearer.size());
}

// Adapts a processor of token_auth.h to the C processor interface of grpc_server_credentials.
void ProcessC(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md, size_t num_md,
              grpc_process_auth_metadata_done_cb done, void* user_data) {
  auto& processor = *static_cast<std::shared_ptr<grpc::AuthMetadataProcessor>*>(state);
  grpc::AuthMetadataProcessor::InputMetadata input;
  for (size_t i = 0; i < num_md; ++i) {
    std::string_view key = View(md[i].key);
    std::string_view value = View(md[i].value);
    input.emplace(grpc::string_ref(key.data(), key.size()),
                  grpc::string_ref(value.data(), value.size()));
  }
  grpc::AuthMetadataProcessor::OutputMetadata consumed;
  grpc::AuthMetadataProcessor::OutputMetadata response;
  grpc::Status status = processor->Process(input, nullptr, &consumed, &response);
  // The auth filter removes consumed entries (matched by content) before `done` returns, so
  // slices borrowing from `consumed` suffice -- gRPC's own C++ processor wrapper does the same.
  std::vector<grpc_metadata> consumed_md;
  for (const auto& [key, value] : consumed) {
    grpc_metadata m{};
    m.key = grpc_slice_from_static_buffer(key.data(), key.size());
    m.value = grpc_slice_from_static_buffer(value.data(), value.size());
    consumed_md.push_back(m);
  }
  done(user_data, consumed_md.data(), consumed_md.size(), nullptr, 0,
       static_cast<grpc_status_code>(status.error_code()),
       status.ok() ? nullptr : status.error_message().c_str());
}

void DestroyC(void* state) {
  delete static_cast<std::shared_ptr<grpc::AuthMetadataProcessor>*>(state);
}

class InsecureWithAuth final : public grpc::ServerCredentials {
 public:
  explicit InsecureWithAuth(std::shared_ptr<grpc::AuthMetadataProcessor> processor)
      : processor_(std::move(processor)) {}

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    // The processor is fixed at construction; nothing else may replace it.
  }

 private:
  // Called by grpc::Server when the port is added. The C credentials live as long as the
  // listener needs them (gRPC refcounts them, not this object), so they own a reference to
  // the processor, dropped by DestroyC.
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    grpc_server_credentials_set_auth_metadata_processor(
        creds,
        grpc_auth_metadata_processor{ProcessC, DestroyC,
                                     new std::shared_ptr<grpc::AuthMetadataProcessor>(processor_)});
    int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  std::shared_ptr<grpc::AuthMetadataProcessor> processor_;
};

}  // namespace

absl::StatusOr<std::vector<TokenIdentity>> ParseTokenFile(std::string_view contents) {
  std::vector<TokenIdentity> identities;
  std::vector<std::string_view> lines;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(contents.data(), contents.size()), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    lines.push_back(std::string_view(line.data(), line.size()));
  }
  std::set<std::string> names, tokens;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(lines[i].data(), lines[i].size()), absl::ByAnyChar(" \t"),
                       absl::SkipEmpty());
    if (fields.size() == 1 && lines.size() == 1) {
      // The single-token form of earlier versions.
      identities.push_back(TokenIdentity{"shared", std::string(fields[0]), true});
      break;
    }
    const std::string where = absl::StrCat("token file entry ", i + 1);
    if (fields.size() < 2 || fields.size() > 3 || (fields.size() == 3 && fields[2] != "admin")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " is not `NAME TOKEN` or `NAME TOKEN admin`"));
    }
    TokenIdentity id{std::string(fields[0]), std::string(fields[1]), fields.size() == 3};
    if (!IsIdentityName(id.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a name is 1 to 64 of [A-Za-z0-9._@-]"));
    }
    if (!names.insert(std::string(fields[0])).second ||
        !tokens.insert(std::string(fields[1])).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " repeats the name or the token of an earlier entry"));
    }
    identities.push_back(std::move(id));
  }
  if (identities.empty()) {
    return absl::InvalidArgumentError(
        "the token file holds no token; put `NAME TOKEN` lines in it");
  }
  return identities;
}

TokenIdentities::TokenIdentities(std::vector<TokenIdentity> identities)
    : identities_(std::move(identities)),
      named_(
          !(identities_.size() == 1 && identities_[0].name == "shared" && identities_[0].admin)) {}

const TokenIdentity* TokenIdentities::Find(std::string_view token) const {
  const TokenIdentity* match = nullptr;
  for (const TokenIdentity& id : identities_) {
    if (ConstantTimeEquals(token, id.token)) match = &id;
  }
  return match;
}

Caller TokenIdentities::CallerOf(const grpc::ServerContextBase& context) const {
  if (!named_) return Caller{identities_[0].name, true};
  auto [begin, end] = context.client_metadata().equal_range(
      grpc::string_ref(kAuthorization.data(), kAuthorization.size()));
  for (auto it = begin; it != end; ++it) {
    if (std::optional<std::string_view> token = BearerToken(View(it->second))) {
      if (const TokenIdentity* id = Find(*token)) return Caller{id->name, id->admin};
    }
  }
  return Caller{"", false};
}

Caller CallerOf(const TokenIdentities* identities, const grpc::ServerContextBase& context) {
  return identities == nullptr ? Caller{} : identities->CallerOf(context);
}

BearerTokenAuthProcessor::BearerTokenAuthProcessor(
    std::shared_ptr<const TokenIdentities> identities, GrpcServerMetrics metrics)
    : identities_(std::move(identities)), metrics_(metrics) {}

grpc::Status BearerTokenAuthProcessor::Process(const InputMetadata& auth_metadata,
                                               grpc::AuthContext* /*context*/,
                                               OutputMetadata* consumed_auth_metadata,
                                               OutputMetadata* /*response_metadata*/) {
  const std::string_view path = PathOf(auth_metadata);
  if (IsExempt(path)) return grpc::Status::OK;

  bool present = false;
  auto [begin, end] =
      auth_metadata.equal_range(grpc::string_ref(kAuthorization.data(), kAuthorization.size()));
  for (auto it = begin; it != end; ++it) {
    const std::string_view value = View(it->second);
    present = true;
    std::optional<std::string_view> token = BearerToken(value);
    if (token && identities_->Find(*token) != nullptr) {
      if (!identities_->named()) {
        consumed_auth_metadata->emplace(std::string(kAuthorization), std::string(value));
      }
      return grpc::Status::OK;
    }
  }
  metrics_.Record(MethodLabel(path), grpc::StatusCode::UNAUTHENTICATED, -1);
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      present ? "invalid bearer token in 'authorization' metadata"
                              : "missing 'authorization: Bearer <token>' metadata; this server "
                                "requires a token from its --auth-token-file");
}

grpc::Status HealthOnlyAuthProcessor::Process(const InputMetadata& auth_metadata,
                                              grpc::AuthContext* /*context*/,
                                              OutputMetadata* /*consumed_auth_metadata*/,
                                              OutputMetadata* /*response_metadata*/) {
  const std::string_view path = PathOf(auth_metadata);
  if (IsHealth(path)) return grpc::Status::OK;
  metrics_.Record(MethodLabel(path), grpc::StatusCode::PERMISSION_DENIED, -1);
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "this port (--health-listen) answers health checks only; call the API on "
                      "the server's --listen address");
}

std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithAuth(
    std::shared_ptr<grpc::AuthMetadataProcessor> processor) {
  return std::make_shared<InsecureWithAuth>(std::move(processor));
}

}  // namespace framepair
