#include "services/common/server_main.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "services/common/logging.h"
#include "services/common/server_runner.h"
#include "services/common/signals.h"
#include "util/version.h"

namespace framepair {
namespace po = boost::program_options;

int ServerMain(int argc, char** argv, std::string_view binary_name, std::string_view description,
               const ServiceFactory& factory) {
  // Before anything can start a thread (see signals.h).
  BlockTerminationSignals();
  const std::string name(binary_name);

  ServerOptions options;
  po::options_description flags("Flags", /*line_length=*/100, /*min_description_length=*/50);
  flags.add_options()("help,h", "Print this help and exit.")(
      "version", "Print the framepair version and exit.");
  AddServerFlags(flags, &options);
  if (factory.add_flags) factory.add_flags(flags);

  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, flags), vm);
    if (vm.count("help") > 0) {
      std::cout << "Usage: " << name << " [flags]\n\n" << description << "\n\n" << flags;
      return 0;
    }
    if (vm.count("version") > 0) {
      std::cout << name << " " << kFramepairVersion << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << name << ": " << e.what() << "\nRun '" << name
              << " --help' for the list of flags.\n";
    return 2;
  }
  if (absl::Status status = ValidateServerOptions(options); !status.ok()) {
    std::cerr << name << ": " << status.message() << "\n";
    return 2;
  }
  if (absl::Status status = InitLogging(options.log_format, options.log_level, name);
      !status.ok()) {
    std::cerr << name << ": " << status.message() << "\n";
    return 2;
  }

  absl::StatusOr<ServiceSet> services = factory.create(options);
  if (!services.ok()) {
    spdlog::error("cannot create services: {}", std::string(services.status().message()));
    return absl::IsInvalidArgument(services.status()) ? 2 : 1;
  }
  std::vector<grpc::Service*> raw;
  for (const auto& service : services->services) raw.push_back(service.get());
  absl::StatusOr<std::unique_ptr<ServerRunner>> runner =
      ServerRunner::Start(options, std::move(raw), services->on_drain);
  if (!runner.ok()) {
    spdlog::error("cannot start: {}", std::string(runner.status().message()));
    return absl::IsInvalidArgument(runner.status()) ? 2 : 1;
  }

  const int signal = WaitForTerminationSignal();
  spdlog::info("received {}, shutting down", strsignal(signal));
  // A second signal while draining means "stop now" (an impatient Ctrl-C, or an
  // orchestrator that does not wait); the drain itself is bounded by drain_grace_seconds.
  std::atomic<bool> drained{false};
  std::thread impatience([&drained] {
    while (!drained.load()) {
      if (std::optional<int> again = WaitForTerminationSignalFor(std::chrono::milliseconds(100))) {
        spdlog::warn("received {} again, exiting without finishing the drain", strsignal(*again));
        spdlog::default_logger()->flush();
        std::_Exit(128 + *again);
      }
    }
  });
  (*runner)->BeginDrain();
  (*runner)->Wait();
  drained.store(true);
  impatience.join();
  runner->reset();
  services->services.clear();
  return 0;
}

}  // namespace framepair
