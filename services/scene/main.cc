#include "services/scene/scene_service.h"
#include "services/worker/worker_main.h"

int main(int argc, char** argv) {
  return framepair::WorkerMain(
      argc, argv, "framepair-scene",
      "framepair-scene: detects scenes on an aligned footage pair and samples the training\n"
      "windows of every shard for the coordinator's jobs.",
      [](framepair::StorageRoot storage, framepair::TaskRunner* runner) {
        return std::make_unique<framepair::SceneService>(std::move(storage), runner);
      },
      framepair::MemoryBudget::kNone);
}
