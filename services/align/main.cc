#include "services/align/align_service.h"
#include "services/worker/worker_main.h"

int main(int argc, char** argv) {
  return framepair::WorkerMain(
      argc, argv, "framepair-align",
      "framepair-align: synchronises the LR and HR frame tables of a footage pair and writes\n"
      "the aligned pairs for the coordinator's jobs.",
      [](framepair::StorageRoot storage, framepair::TaskRunner* runner) {
        return std::make_unique<framepair::AlignService>(std::move(storage), runner);
      },
      framepair::MemoryBudget::kNone);
}
