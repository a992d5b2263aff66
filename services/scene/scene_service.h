// framepair-scene: pipeline steps 3 and 4a as a service. Detects scenes on the aligned
// sequence and samples the windows of every shard; writes the window plan (artifacts.h).
#pragma once

#include "framepair/v1/workers.grpc.pb.h"
#include "services/worker/task_runner.h"
#include "storage/storage.h"

namespace framepair {

absl::StatusOr<framepair::v1::TaskResult> RunSceneTask(const StorageRoot& storage,
                                                       const framepair::v1::SceneRequest& request,
                                                       TaskContext& context);

class SceneService final : public framepair::v1::Scene::CallbackService {
 public:
  SceneService(StorageRoot storage, TaskRunner* runner)
      : storage_(std::move(storage)), runner_(runner) {}

  grpc::ServerWriteReactor<framepair::v1::TaskUpdate>* Scene(
      grpc::CallbackServerContext* context, const framepair::v1::SceneRequest* request) override;

 private:
  StorageRoot storage_;
  TaskRunner* runner_;
};

}  // namespace framepair
