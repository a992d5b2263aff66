// Subcommands of the `framepair` CLI. Each takes the arguments after its name and returns
// the process exit code (see kExit* below, documented in `framepair --help`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace framepair::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the job failed / verify found defects
inline constexpr int kExitBadInput = 2;     // bad arguments, input files or output directory
inline constexpr int kExitInternal = 3;     // an unexpected internal or environment error
inline constexpr int kExitUnavailable = 4;  // the coordinator could not be reached
// The coordinator refused the caller: no or a wrong token (UNAUTHENTICATED), or the token may
// not do this (PERMISSION_DENIED: another client's job, an admin-only call).
inline constexpr int kExitDenied = 5;
inline constexpr int kExitCancelled = 130;

// How the remote commands reach the coordinator. Defaults from the environment:
// FRAMEPAIR_SERVER (127.0.0.1:50051), FRAMEPAIR_TOKEN, FRAMEPAIR_TLS_CA,
// FRAMEPAIR_TLS_SERVER_NAME, FRAMEPAIR_TLS_CERT and FRAMEPAIR_TLS_KEY.
struct RemoteOptions {
  std::string server;
  std::string token;
  std::string tls_ca;           // CA bundle (PEM) = TLS; empty = plaintext
  std::string tls_server_name;  // name to check in the server certificate; "" = the host
  std::string tls_cert;  // client certificate (PEM) for servers with --tls-client-ca; needs tls_ca
  std::string tls_key;   // its private key (PEM)
  std::string output = "text";  // text or json
};
RemoteOptions DefaultRemoteOptions();

// Local commands; `output` is "text" or "json" (-o / --json, before or after the name).
int RunCommand(const std::vector<std::string>& args, const std::string& output);
int VerifyCommand(const std::vector<std::string>& args, const std::string& output);
int ReportCommand(const std::vector<std::string>& args, const std::string& output,
                  RemoteOptions remote);
int ExtractCommand(const std::vector<std::string>& args, const std::string& output);
int SubmitCommand(const std::vector<std::string>& args, RemoteOptions remote);
int WatchCommand(const std::vector<std::string>& args, RemoteOptions remote);
int StatusCommand(const std::vector<std::string>& args, RemoteOptions remote);
int ListCommand(const std::vector<std::string>& args, RemoteOptions remote);
int CancelCommand(const std::vector<std::string>& args, RemoteOptions remote);
int JobsCommand(const std::vector<std::string>& args, RemoteOptions remote);
int HealthCommand(const std::vector<std::string>& args, RemoteOptions remote);
int FetchCommand(const std::vector<std::string>& args, RemoteOptions remote);
int DatasetsCommand(const std::vector<std::string>& args, RemoteOptions remote);
// `framepair report JOB`: a job id that is not a local path names a job's report on the
// coordinator (datasets/<name>/reports/<job>.html), downloaded to `out` (default JOB.html).
bool IsRemoteReportTarget(const std::string& arg);
int RemoteReport(const std::string& job_id, const std::string& out, RemoteOptions remote);

// Maps a status to the documented exit code, through the one error classification
// (ClassifyError, services/common/grpc_status.h). `from_server`: the status is a server's
// answer, where UNAVAILABLE / DEADLINE_EXCEEDED mean "not reached" (4) and UNAUTHENTICATED /
// PERMISSION_DENIED mean "refused who you are" (5); locally PERMISSION_DENIED is an unusable
// file or directory (2).
int ExitCodeFor(const absl::Status& status, bool from_server = false);

// A message as JSON with the .proto field names (what -o json prints): indented, or on one
// line (JSON Lines, for streams such as `watch -o json`). 64-bit integers are JSON numbers
// (proto3's JSON mapping would quote them; every count framepair prints fits in 2^53).
std::string Json(const google::protobuf::Message& m, bool one_line = false);
// `s` as a JSON string literal, quotes included.
std::string JsonString(std::string_view s);

}  // namespace framepair::cli
