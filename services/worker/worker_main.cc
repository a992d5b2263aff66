#include "services/worker/worker_main.h"

#include "absl/strings/str_cat.h"
#include "services/common/server_main.h"
#include "util/memory.h"
#include "util/status_macros.h"

namespace framepair {

void AddMaxFramePixelsFlag(boost::program_options::options_description& flags,
                           int64_t* max_frame_pixels) {
  namespace po = boost::program_options;
  flags.add_options()(
      "max-frame-pixels",
      po::value(max_frame_pixels)->default_value(*max_frame_pixels)->notifier([](int64_t v) {
        if (v < 1) {
          throw po::validation_error(po::validation_error::invalid_option_value,
                                     "max-frame-pixels");
        }
      }),
      "refuse videos whose frames have more pixels (width x height) than this, from the header "
      "and for every frame before it is allocated; the default fits 4K (3840x2160) with 10% to "
      "spare");
}

int WorkerMain(int argc, char** argv, std::string_view binary_name, std::string_view description,
               const WorkerServiceFactory& make_service,
               const std::function<void(boost::program_options::options_description&)>& add_flags) {
  namespace po = boost::program_options;
  KeepLargeBlocksInHeap();
  WorkerOptions worker;
  int64_t heartbeat_ms = worker.heartbeat_interval.count();
  // Outlives the server: ServerMain destroys the services (and so the runner's users) first.
  std::unique_ptr<TaskRunner> runner;
  ServiceFactory factory;
  factory.add_flags = [&](po::options_description& flags) {
    flags.add_options()("max-tasks", po::value(&worker.max_tasks)->default_value(worker.max_tasks),
                        "tasks this worker runs at once; more are refused (RESOURCE_EXHAUSTED) "
                        "so the coordinator places them on another worker")(
        "heartbeat-ms", po::value(&heartbeat_ms)->default_value(heartbeat_ms),
        "while a task makes no visible progress, repeat its last progress this often, so the "
        "coordinator (--stall-timeout-ms, several heartbeats) can tell busy from dead");
    if (add_flags) add_flags(flags);
  };
  factory.create = [&](const ServerOptions& options) -> absl::StatusOr<ServiceSet> {
    if (options.storage_root.empty()) {
      return absl::InvalidArgumentError(
          "--storage-root is required: the directory shared with the coordinator");
    }
    if (worker.max_tasks < 1) return absl::InvalidArgumentError("--max-tasks must be >= 1");
    if (heartbeat_ms < 10) return absl::InvalidArgumentError("--heartbeat-ms must be >= 10");
    worker.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
    FP_ASSIGN_OR_RETURN(StorageRoot storage, StorageRoot::Open(options.storage_root));
    worker.redact = [storage](std::string_view message) { return storage.Redact(message); };
    runner = std::make_unique<TaskRunner>(worker);
    ServiceSet set;
    set.services.push_back(make_service(std::move(storage), runner.get()));
    // Running tasks finish within --drain-grace-seconds; only new ones are refused.
    set.on_drain = [r = runner.get()] { r->StopAccepting(); };
    return set;
  };
  return ServerMain(argc, argv, binary_name, description, factory);
}

}  // namespace framepair
