// main() of a worker binary: the shared server flags plus --max-tasks (and --memory-budget for
// the workers that decode video), a TaskRunner, and the binary's one service over the storage
// root.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string_view>

#include "boost/program_options.hpp"
#include "services/worker/task_runner.h"
#include "storage/storage.h"

namespace framepair {

using WorkerServiceFactory =
    std::function<std::unique_ptr<grpc::Service>(StorageRoot storage, TaskRunner* runner)>;

// --max-frame-pixels, for the workers that decode video (ingest, packer): frames with more
// pixels are refused. The default is the current *max_frame_pixels; values below 1 are a flag
// error.
void AddMaxFramePixelsFlag(boost::program_options::options_description& flags,
                           int64_t* max_frame_pixels);

// Whether the worker's tasks reserve memory before they decode (TaskContext::ReserveMemory:
// ingest and the packer). Only those take --memory-budget; the others run without a budget.
enum class MemoryBudget { kNone, kFlag };

int WorkerMain(
    int argc, char** argv, std::string_view binary_name, std::string_view description,
    const WorkerServiceFactory& make_service, MemoryBudget memory_budget,
    const std::function<void(boost::program_options::options_description&)>& add_flags = nullptr);

}  // namespace framepair
