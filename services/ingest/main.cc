#include "services/ingest/ingest_service.h"
#include "services/worker/worker_main.h"

int main(int argc, char** argv) {
  framepair::IngestWorkerOptions ingest;
  return framepair::WorkerMain(
      argc, argv, "framepair-ingest",
      "framepair-ingest: decodes footage from the storage root and writes its frame table\n"
      "(positions, duplicates, analysis thumbnails) for the coordinator's jobs.",
      [&ingest](framepair::StorageRoot storage, framepair::TaskRunner* runner) {
        return std::make_unique<framepair::IngestService>(std::move(storage), ingest, runner);
      },
      framepair::MemoryBudget::kFlag,
      [&ingest](boost::program_options::options_description& flags) {
        framepair::AddMaxFramePixelsFlag(flags, &ingest.max_frame_pixels);
      });
}
