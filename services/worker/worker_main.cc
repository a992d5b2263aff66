#include "services/worker/worker_main.h"

#include <cctype>
#include <limits>

#include "absl/strings/str_cat.h"
#include "pipeline/memory_model.h"
#include "services/common/server_main.h"
#include "spdlog/spdlog.h"
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

namespace {

// "1843Mi", "2Gi", "4G", "1000000" -> bytes (Kubernetes quantity suffixes); -1 if malformed.
int64_t ParseBytes(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 15) return -1;
  const int64_t number = std::stoll(text.substr(0, digits));
  const std::string suffix = text.substr(digits);
  int64_t unit = 0;
  if (suffix.empty()) unit = 1;
  if (suffix == "Ki") unit = int64_t{1} << 10;
  if (suffix == "Mi") unit = int64_t{1} << 20;
  if (suffix == "Gi") unit = int64_t{1} << 30;
  if (suffix == "Ti") unit = int64_t{1} << 40;
  if (suffix == "k") unit = 1000;
  if (suffix == "M") unit = 1000 * 1000;
  if (suffix == "G") unit = 1000 * 1000 * 1000;
  if (unit == 0 || number > std::numeric_limits<int64_t>::max() / unit) return -1;
  return number * unit;
}

// The share of the container's memory limit that --memory-budget defaults to.
constexpr int64_t kDefaultBudgetPercent = 90;

}  // namespace

int WorkerMain(int argc, char** argv, std::string_view binary_name, std::string_view description,
               const WorkerServiceFactory& make_service, MemoryBudget memory_budget_flag,
               const std::function<void(boost::program_options::options_description&)>& add_flags) {
  namespace po = boost::program_options;
  KeepLargeBlocksInHeap();
  WorkerOptions worker;
  int64_t heartbeat_ms = worker.heartbeat_interval.count();
  std::string memory_budget;
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
    if (memory_budget_flag == MemoryBudget::kFlag) {
      flags.add_options()(
          "memory-budget", po::value(&memory_budget)->value_name("BYTES"),
          "memory this worker may use, in bytes or with a suffix (1843Mi, 4Gi): each task "
          "reserves its worst case for its frame size before decoding, and a task that does not "
          "fit beside the running ones is refused (RESOURCE_EXHAUSTED) like a busy worker; 0 = no "
          "budget. Default: 90% of the container's memory limit (cgroup), none without one");
    }
    if (add_flags) add_flags(flags);
  };
  factory.create = [&](const ServerOptions& options) -> absl::StatusOr<ServiceSet> {
    if (options.storage_root.empty()) {
      return absl::InvalidArgumentError(
          "--storage-root is required: the directory or bucket (s3://BUCKET/PREFIX) shared with "
          "the "
          "coordinator");
    }
    if (worker.max_tasks < 1) return absl::InvalidArgumentError("--max-tasks must be >= 1");
    if (heartbeat_ms < 10) return absl::InvalidArgumentError("--heartbeat-ms must be >= 10");
    worker.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
    if (memory_budget_flag == MemoryBudget::kNone) {
      worker.memory_budget = 0;  // its tasks reserve nothing
    } else if (!memory_budget.empty()) {
      worker.memory_budget = ParseBytes(memory_budget);
      if (worker.memory_budget < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--memory-budget must be bytes, optionally with a suffix (Mi, Gi), like 1843Mi"));
      }
    } else {
      worker.memory_budget = CgroupMemoryLimitBytes() * kDefaultBudgetPercent / 100;
    }
    worker.base_memory = kWorkerBaseBytes;
    if (worker.memory_budget > 0 && worker.memory_budget <= worker.base_memory) {
      return absl::InvalidArgumentError(absl::StrCat("--memory-budget must be above ",
                                                     kWorkerBaseBytes >> 20,
                                                     "Mi, what the idle worker takes"));
    }
    if (worker.memory_budget > 0) {
      spdlog::info("memory budget {} MiB ({} MiB of it for tasks)", worker.memory_budget >> 20,
                   (worker.memory_budget - worker.base_memory) >> 20);
    } else if (memory_budget_flag == MemoryBudget::kFlag) {
      spdlog::info("no memory budget: tasks are limited by --max-tasks only");
    }
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
