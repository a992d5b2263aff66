// ServerMain: the whole main() of a framepair server binary, so each binary only says which
// flags and services it adds:
//
//   int main(int argc, char** argv) {
//     std::string index_path;  // a service-specific flag
//     framepair::ServiceFactory factory;
//     factory.add_flags = [&](boost::program_options::options_description& flags) {
//       flags.add_options()("index", po::value(&index_path), "Dedup index file.");
//     };
//     factory.create = [&](const framepair::ServerOptions& options)
//         -> absl::StatusOr<framepair::ServiceSet> {
//       framepair::ServiceSet set;
//       set.services.push_back(std::make_unique<DedupService>(options.storage_root, ...));
//       return set;
//     };
//     return framepair::ServerMain(argc, argv, "framepair-dedup",
//                                  "Finds duplicate frames in footage.", factory);
//   }
//
// Sequence: block SIGTERM/SIGINT; parse flags (--help prints the description and every flag,
// exit 0; a bad flag prints why and exits 2); validate; init logging; create the services;
// start the ServerRunner; wait for SIGTERM/SIGINT; drain (a second signal during the drain
// exits at once with 128+signal); destroy the services.
//
// Exit codes: 0 after a clean drain, --help or --version (prints "<binary> <version>"); 2 for bad flags (including INVALID_ARGUMENT
// from ServiceFactory::create); 1 when starting fails otherwise (files, ports).
#pragma once

#include <grpcpp/impl/service_type.h>

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/server_options.h"

namespace boost::program_options {
class options_description;
}

namespace framepair {

// What a binary serves. Services are destroyed after the server has stopped.
struct ServiceSet {
  std::vector<std::unique_ptr<grpc::Service>> services;
  // Optional; runs once when draining starts (health already NOT_SERVING, RPCs still
  // running), e.g. to stop accepting background work. Must not block for long.
  std::function<void()> on_drain;
};

struct ServiceFactory {
  // Optional; adds the binary's own flags. Bind them to variables the binary owns (they are
  // set once parsing is done, before `create` runs).
  std::function<void(boost::program_options::options_description& flags)> add_flags;
  // Required; builds the services from the validated options and the binary's flags.
  // Errors are logged; INVALID_ARGUMENT exits 2 (a flag problem), others exit 1.
  std::function<absl::StatusOr<ServiceSet>(const ServerOptions& options)> create;
};

int ServerMain(int argc, char** argv, std::string_view binary_name, std::string_view description,
               const ServiceFactory& factory);

}  // namespace framepair
