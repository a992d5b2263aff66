// framepair-align: pipeline step 2 as a service. Reads both frame tables, writes the aligned
// pairs (artifacts.h) into the attempt's work directory.
#pragma once

#include "framepair/v1/workers.grpc.pb.h"
#include "services/worker/task_runner.h"
#include "storage/storage.h"

namespace framepair {

absl::StatusOr<framepair::v1::TaskResult> RunAlignTask(const StorageRoot& storage,
                                                       const framepair::v1::AlignRequest& request,
                                                       TaskContext& context);

class AlignService final : public framepair::v1::Align::CallbackService {
 public:
  AlignService(StorageRoot storage, TaskRunner* runner)
      : storage_(std::move(storage)), runner_(runner) {}

  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Align(
      grpc::CallbackServerContext* context, const framepair::v1::AlignRequest* request) override;

 private:
  StorageRoot storage_;
  TaskRunner* runner_;
};

}  // namespace framepair
