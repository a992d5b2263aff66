// What the remote commands share: the connection to framepair-coordinator, the argument
// parsing (--server and -o also after the command name) and the way a server's refusal
// becomes a message and an exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/commands.h"
#include "framepair/v1/coordinator.grpc.pb.h"

namespace framepair::cli {

struct Remote {
  explicit Remote(const RemoteOptions& o);
  // A context with a deadline (0 = none); the channel adds the token.
  std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds deadline) const;

  absl::Status error;  // a TLS file could not be read
  RemoteOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<framepair::v1::Coordinator::Stub> stub;
};

// Says what the server answered (with a hint for the usual causes) and returns the exit code.
int Fail(const std::string& command, const RemoteOptions& o, const grpc::Status& s);
// A channel that could not be made (a TLS file).
int ChannelError(const std::string& command, const absl::Status& s);

// Parses command flags plus --server / -o, which may also come after the command. Returns
// false when the command should end with *exit_code (after --help, or a usage error).
bool Parse(const std::string& command, const std::vector<std::string>& args,
           boost::program_options::options_description& desc,
           boost::program_options::positional_options_description* positional,
           RemoteOptions* remote, int* exit_code);

// Commands that take one JOB argument.
int JobCommand(const std::string& command, const std::string& help,
               const std::vector<std::string>& args, RemoteOptions remote_options,
               const std::function<int(Remote&, const std::string&)>& body);

// Downloads one file of a published dataset (ReadDatasetFile) to `path`, atomically and
// resumably (util/file.h AtomicFile::Resume: a partial download is continued), and checks it
// against `sha256` when given. `resumed` (optional) receives the bytes that were already
// there, `downloaded` the bytes fetched now. With `length` >= 0 only the `length` bytes from
// `offset` of the remote file are written (one job's part of validate.tfrecord); DATA_LOSS
// when the remote file is shorter.
absl::Status DownloadDatasetFile(Remote& remote, const std::string& dataset,
                                 const std::string& file, const std::string& path,
                                 const std::string& sha256, int64_t* resumed, int64_t* downloaded,
                                 int64_t offset = 0, int64_t length = -1);

}  // namespace framepair::cli
